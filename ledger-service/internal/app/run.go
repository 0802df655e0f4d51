package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/inbox"
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

// consume runs the consumer, and the inbox janitor beside it, until ctx
// ends.
func (a *App) consume(ctx context.Context) error {
	var wg sync.WaitGroup
	jctx, stop := context.WithCancel(ctx) // the janitor ends with the consumer
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.janitor().Run(jctx)
	}()
	go func() {
		defer wg.Done()
		a.owners.shards.FollowWhenStored(jctx, a.js, a.log)
	}()
	err := retry(ctx, a, "start consumer", a.consumer.Run)
	stop()
	wg.Wait()
	return err
}

// janitor prunes the ledger's inbox. The ledger skips every redelivery by
// its stream position and a re-published money event by its business key,
// so these rows only make a copy a cheap duplicate; the floor keeps them
// for messages still unacknowledged all the same.
func (a *App) janitor() inbox.Janitor {
	return inbox.Janitor{DB: func() database.DB { return a.db }, Consumer: ledger.Consumer, Durable: consumer.Name,
		Retention: a.cfg.Ledger.InboxRetention, Log: a.log,
		Floor: func(ctx context.Context) (time.Time, error) { return stream.Unsettled(ctx, a.js, consumer.Name) }}
}

// up prepares the database and verifies the streams and buckets; a failed
// migration, a stream or bucket that differs from the configuration or is
// still missing after provision.Wait is fatal, servers that are down are
// waited for.
func (a *App) up(ctx context.Context) error {
	if err := database.WaitReady(ctx, a.db); err != nil {
		return err
	}
	if err := a.store.Migrate(ctx, deadletter.Migrations()); err != nil {
		return fmt.Errorf("migrate: %w", err)
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
