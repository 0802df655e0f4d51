package app

import (
	"context"
	"fmt"
	"time"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
)

// Uses are the streams and buckets ledger-service uses: it verifies them at
// start and refuses to start on a mismatch (ADR 0040). outbox-relay
// provision declares them.
func Uses(cfg config.LedgerService) []provision.Resource {
	s := provision.SettingsFrom(cfg.NATS, 0, cfg.Ledger.LeaseTTL)
	return append(provision.Streams(s), provision.Advisories(s), provision.LedgerLeases(s))
}

// AdvisoryConsumer is ledger-service's durable consumer on the advisory
// stream (deploy/nats-auth.conf lets only ledger-service use it).
const AdvisoryConsumer = "dead-letters-ledger-service"

// retryEvery is the pause between attempts to reach a server that is down
// at start-up.
const retryEvery = time.Second

// Run serves HTTP at once (/healthz answers while the rest starts), waits for
// the database, migrates it, verifies the streams, then consumes events until
// ctx ends (see service.Start).
func (a *App) Run(ctx context.Context) error {
	a.log.Info("ledger-service listening", "addr", a.Addr())
	return a.start.Run(ctx)
}

// consume holds partition leases and applies the partitions held until ctx
// ends (see holder).
func (a *App) consume(ctx context.Context) error {
	a.holder.Run(ctx)
	return nil
}

// up waits for every partition's schema and migrates it, then verifies the
// streams and buckets outbox-relay provision declares (ADR 0040); a failed
// migration, a stream or bucket that differs from the configuration or is
// still missing after provision.Wait is fatal, servers that are down are
// waited for.
func (a *App) up(ctx context.Context) error {
	for _, pt := range a.parts {
		if err := database.WaitReady(ctx, pt.db); err != nil {
			return err
		}
		if err := pt.store.Migrate(ctx, deadletter.Migrations()); err != nil {
			return fmt.Errorf("migrate partition %d: %w", pt.p, err)
		}
	}
	return provision.Verify(ctx, a.js, Uses(a.cfg), provision.Wait, a.log)
}

// retry calls fn until it succeeds, fails permanently (a refused consumer
// setting) or ctx ends, logging each failure.
func retry(ctx context.Context, a *App, what string, fn func(context.Context) error) error {
	for {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil || stream.Permanent(err) {
			return err
		}
		a.log.Warn(what+" failed, retrying", "err", err, "in", retryEvery.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}
