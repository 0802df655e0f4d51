package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
)

// Republished is what Republish did on one shard.
type Republished struct {
	Sent int // rows published again
	// Duplicates are the rows the stream still held within its duplicate
	// window and dropped; the others got a new stream sequence, and the
	// consumers' inbox and business keys drop them.
	Duplicates int
}

// Republish publishes again, in id order and with their event ids as
// Nats-Msg-Id, on every subject of their route (the fact, and the saga step
// in the acting shard's partition when it is another), the shard's rows published within the last since (database
// clock) that are still kept (relay.outbox_retention). It recovers events
// the stream lost after acknowledging them (an OS crash before JetStream's
// file store synced, a store restored from a backup). Unpublished rows are
// left to the relay, and published_at is not changed. batch rows are read
// and published at a time, each batch's acks awaited within timeout.
func Republish(ctx context.Context, db database.DB, js jetstream.JetStream, route Route, since time.Duration, batch int, timeout time.Duration) (Republished, error) {
	var out Republished
	if err := route.check(); err != nil {
		return out, err
	}
	var first sql.NullInt64
	// The first row published in the window; later ids are walked on the
	// primary key. A row behind it that was published earlier (it
	// committed late) goes out again too: a harmless extra copy.
	if err := db.GetContext(ctx, &first, "SELECT MIN(id) FROM outbox WHERE published_at >= NOW(6) - INTERVAL ? MICROSECOND",
		since.Microseconds()); err != nil {
		return out, fmt.Errorf("republish: find window: %w", err)
	}
	if !first.Valid {
		return out, nil
	}
	next := uint64(first.Int64)
	for ctx.Err() == nil {
		var rows []row
		if err := db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, topic, source, subject, data, occurred_at
			FROM outbox WHERE id >= ? AND published_at IS NOT NULL ORDER BY id LIMIT ?`, next, batch); err != nil {
			return out, fmt.Errorf("republish: read outbox: %w", err)
		}
		if len(rows) == 0 {
			return out, nil
		}
		if err := republishBatch(ctx, js, route, rows, timeout, &out); err != nil {
			return out, err
		}
		next = rows[len(rows)-1].ID + 1
	}
	return out, ctx.Err()
}

// republishBatch publishes rows on their routes' subjects and waits for
// every ack. A row counts once in Sent, and in Duplicates when every
// stream it went to dropped it.
func republishBatch(ctx context.Context, js jetstream.JetStream, route Route, rows []row, timeout time.Duration, out *Republished) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	futures := make([][]jetstream.PubAckFuture, 0, len(rows))
	for _, rw := range rows {
		fs, err := publishAsync(js, route, rw)
		if err != nil {
			return fmt.Errorf("republish %s: %w", rw.EventID, err)
		}
		futures = append(futures, fs)
	}
	for i, fs := range futures {
		dup := true
		for _, f := range fs {
			select {
			case ack := <-f.Ok():
				dup = dup && ack.Duplicate
			case err := <-f.Err():
				return fmt.Errorf("republish %s: %w", rows[i].EventID, err)
			case <-ctx.Done():
				return errors.Join(fmt.Errorf("republish %s: no ack", rows[i].EventID), ctx.Err())
			}
		}
		out.Sent++
		if dup {
			out.Duplicates++
		}
	}
	return nil
}
