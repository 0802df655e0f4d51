package app

import (
	"context"
	"fmt"
	"time"

	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/stream"
)

// retryEvery is the pause between attempts to reach a server that is down
// at start-up.
const retryEvery = time.Second

// Run serves HTTP at once (/healthz answers while the rest starts), waits for
// the database, migrates it, declares the stream, then consumes events until
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

// up waits for every partition's schema and migrates it; only a failed
// migration is fatal, servers that are down are waited for. The streams
// WALLET_<p> are provisioned elsewhere (ADR 0038): a partition's consumer
// waits for its stream.
func (a *App) up(ctx context.Context) error {
	for _, pt := range a.parts {
		if err := database.WaitReady(ctx, pt.db); err != nil {
			return err
		}
		if err := pt.store.Migrate(ctx, deadletter.Migrations()); err != nil {
			return fmt.Errorf("migrate partition %d: %w", pt.p, err)
		}
	}
	return nil
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
