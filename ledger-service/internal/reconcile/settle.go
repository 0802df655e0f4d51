package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/stream"
)

// LedgerSettled returns a Sources.Settled that waits, polling every poll,
// until the ledger has applied every event the shards had committed when it
// was called: each shard's outbox is published up to its highest id then,
// and the ledger's consumer has acknowledged the stream's last sequence after
// that (the relay marks a row only once JetStream stored it).
func LedgerSettled(shards []database.DB, js jetstream.JetStream, consumer string, poll time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		marks := make([]int64, len(shards))
		for i, db := range shards {
			if err := db.GetContext(ctx, &marks[i], "SELECT COALESCE(MAX(id), 0) FROM outbox"); err != nil {
				return fmt.Errorf("%s: read outbox: %w", shardName(i), err)
			}
		}
		for i, db := range shards {
			err := until(ctx, poll, func() (bool, string, error) {
				var left int64
				err := db.GetContext(ctx, &left, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL AND id <= ?", marks[i])
				return left == 0, fmt.Sprintf("%s: %d events of the run still unpublished", shardName(i), left), err
			})
			if err != nil {
				return err
			}
		}
		s, err := js.Stream(ctx, stream.Name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", stream.Name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", stream.Name, err)
		}
		last := info.State.LastSeq
		c, err := js.Consumer(ctx, stream.Name, consumer)
		if err != nil {
			return fmt.Errorf("ledger consumer %s: %w", consumer, err)
		}
		return until(ctx, poll, func() (bool, string, error) {
			ci, err := c.Info(ctx)
			if err != nil {
				return false, "", fmt.Errorf("ledger consumer %s: %w", consumer, err)
			}
			return ci.AckFloor.Stream >= last, fmt.Sprintf("the ledger acknowledged up to %d of %d", ci.AckFloor.Stream, last), nil
		})
	}
}

// until calls done every poll until it reports true, fails, or ctx ends;
// then the error carries done's last word on what it waits for.
func until(ctx context.Context, poll time.Duration, done func() (bool, string, error)) error {
	last := "starting"
	for {
		ok, state, err := done()
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%s: %w", last, ctx.Err())
		}
		if err != nil {
			return err
		}
		last = state
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", state, ctx.Err())
		case <-time.After(poll):
		}
	}
}
