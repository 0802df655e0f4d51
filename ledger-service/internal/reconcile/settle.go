package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LedgerSettled returns a Sources.Settled that waits, polling every poll,
// until every ledger partition has applied every event the shards had
// committed when it was called: each shard's outbox (as account-service
// reports it) is published up to its highest id then, and each
// partition's position (ledger_position, the partition's own table) has
// reached its stream's last sequence after that (the relay marks a row
// only once JetStream stored it).
func LedgerSettled(shards ShardReader, nShards int, partitions []Partition, js jetstream.JetStream, poll time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		marks := make([]int64, nShards)
		for sh := range nShards {
			o, err := shards.Outbox(ctx, sh, time.Time{})
			if err != nil {
				return fmt.Errorf("shard %d: read outbox: %w", sh, err)
			}
			marks[sh] = o.LastID
		}
		for sh := range nShards {
			err := until(ctx, poll, func() (bool, string, error) {
				o, err := shards.Outbox(ctx, sh, time.Time{})
				if err != nil {
					return false, "", fmt.Errorf("shard %d: read outbox: %w", sh, err)
				}
				return o.FirstUnpublished == 0 || o.FirstUnpublished > marks[sh],
					fmt.Sprintf("shard %d: events of the run still unpublished from id %d", sh, o.FirstUnpublished), nil
			})
			if err != nil {
				return err
			}
		}
		for _, p := range partitions {
			s, err := js.Stream(ctx, p.Stream)
			if err != nil {
				return fmt.Errorf("%s: stream %s: %w", partitionName(p.N), p.Stream, err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				return fmt.Errorf("%s: stream %s: %w", partitionName(p.N), p.Stream, err)
			}
			last := info.State.LastSeq
			err = until(ctx, poll, func() (bool, string, error) {
				var at uint64
				if err := p.DB.GetContext(ctx, &at, "SELECT COALESCE(MAX(stream_seq), 0) FROM ledger_position"); err != nil {
					return false, "", fmt.Errorf("%s: read position: %w", partitionName(p.N), err)
				}
				return at >= last, fmt.Sprintf("%s: the ledger applied up to %d of %d", partitionName(p.N), at, last), nil
			})
			if err != nil {
				return err
			}
		}
		return nil
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
