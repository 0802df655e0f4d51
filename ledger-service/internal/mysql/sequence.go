package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/database"
)

// The ledger applies the WALLET stream strictly in sequence (ADR 0008): it
// records the last sequence applied in ledger_position with the entries,
// skips what is at or below it and sends back anything further
// (ledger.ErrEarly) until the gap is filled. A gap the stream will never
// fill (its messages deleted or dropped by a limit) is detected by the
// consumer (package gap) and passed by an operator (SkipGap, ADR 0039).

// position is the last stream sequence applied; known is false before the
// first sequenced event (a new ledger, or one upgraded from before
// positions were recorded), and then the first event sets it.
type position struct {
	seq   uint64
	known bool
}

// sequenced is a batch put in stream order against a position.
type sequenced struct {
	// kept are the indexes of the effects to apply, in order.
	kept []int
	// skipped are the indexes of the Skip effects that took their turn.
	skipped []int
	// behind are the indexes of the effects at or below the position:
	// applied or set aside before.
	behind []int
	// outcomes holds the outcome of every effect not kept: a duplicate
	// (applied before) or ErrEarly.
	outcomes []ledger.Outcome
	// pos is the position after the kept effects.
	pos position
}

// sequence decides which effects of a batch are next in the stream after
// pos. Effects without a sequence (Seq 0) are kept as they are; Skip
// effects take their turn and are not applied.
func sequence(effs []ledger.Effect, pos position) sequenced {
	out := sequenced{outcomes: make([]ledger.Outcome, len(effs)), pos: pos}
	for i, eff := range effs {
		if eff.Seq == 0 {
			if !eff.Skip {
				out.kept = append(out.kept, i)
			}
			continue
		}
		if !out.pos.known {
			out.pos = position{seq: eff.Seq - 1, known: true}
		}
		switch {
		case eff.Seq <= out.pos.seq:
			// applied before: a redelivery; Applied false says so
			out.behind = append(out.behind, i)
		case eff.Seq == out.pos.seq+1:
			out.pos.seq++
			if eff.Skip {
				out.skipped = append(out.skipped, i)
			} else {
				out.kept = append(out.kept, i)
			}
		default:
			out.outcomes[i].Err = fmt.Errorf("%w: stream message %d (%s %s) before %d", ledger.ErrEarly,
				eff.Seq, eff.EventType, eff.EventID, out.pos.seq+1)
		}
	}
	return out
}

// lockPosition reads the ledger's position, locking it: two ledger
// instances then apply batches one after the other, each in sequence.
func lockPosition(ctx context.Context, tx *sqlx.Tx) (position, error) {
	var seq sql.NullInt64
	if err := tx.GetContext(ctx, &seq, "SELECT stream_seq FROM ledger_position WHERE id = 1 FOR UPDATE"); err != nil {
		return position{}, fmt.Errorf("read ledger position: %w", err)
	}
	return position{seq: uint64(seq.Int64), known: seq.Valid}, nil
}

func savePosition(ctx context.Context, tx *sqlx.Tx, before, after position) error {
	if after == before {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE ledger_position SET stream_seq = ? WHERE id = 1", after.seq); err != nil {
		return fmt.Errorf("save ledger position: %w", err)
	}
	return nil
}

// ErrOtherStream reports a ledger whose position does not belong to the
// stream it is reading: the stream was created anew (NATS state lost,
// another cluster) or lost its tail. Consuming would skip the stream's new
// messages as applied, so the ledger refuses until an operator decides
// (see ResetPosition).
var ErrOtherStream = errors.New("the ledger's position does not belong to this stream")

// StartAt checks the ledger's position against the stream it is about to
// read, created at created and holding messages up to last. A ledger
// without a position takes seq (the durable consumer's ack floor: what was
// applied at or below it was acknowledged, what was applied above it comes
// again and the inbox recognises it). One with a position from another
// stream, or past the stream's end, gets ErrOtherStream.
func (s *Store) StartAt(ctx context.Context, seq, last uint64, created time.Time) error {
	created = created.UTC().Truncate(time.Microsecond)
	return database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var row struct {
			Seq     sql.NullInt64 `db:"stream_seq"`
			Created sql.NullTime  `db:"stream_created"`
		}
		if err := tx.GetContext(ctx, &row, "SELECT stream_seq, stream_created FROM ledger_position WHERE id = 1 FOR UPDATE"); err != nil {
			return fmt.Errorf("read ledger position: %w", err)
		}
		switch {
		case !row.Seq.Valid:
			row.Seq.Int64 = int64(seq)
		case row.Created.Valid && !row.Created.Time.Equal(created):
			return fmt.Errorf("%w: it is message %d of the WALLET stream created %s; the stream now was created %s (run ledger-service reset-position once its events are republished, or rebuild with ledger-service replay)",
				ErrOtherStream, row.Seq.Int64, row.Created.Time.Format(time.RFC3339Nano), created.Format(time.RFC3339Nano))
		case uint64(row.Seq.Int64) > last:
			return fmt.Errorf("%w: it is message %d, the stream ends at %d: the stream lost messages (republish them with outbox-relay republish, then run ledger-service reset-position, or rebuild with ledger-service replay)",
				ErrOtherStream, row.Seq.Int64, last)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE ledger_position SET stream_seq = ?, stream_created = ? WHERE id = 1", row.Seq.Int64, created); err != nil {
			return fmt.Errorf("set ledger position: %w", err)
		}
		return nil
	})
}

// ResetPosition forgets the ledger's position, so that the next start takes
// the durable consumer's ack floor on the stream it reads then. It returns
// the position it forgot. The set-aside events go with it: their sequences
// count in the old stream, and would set aside the new one's messages.
func (s *Store) ResetPosition(ctx context.Context) (seq int64, created time.Time, err error) {
	var row struct {
		Seq     sql.NullInt64 `db:"stream_seq"`
		Created sql.NullTime  `db:"stream_created"`
	}
	err = database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &row, "SELECT stream_seq, stream_created FROM ledger_position WHERE id = 1 FOR UPDATE"); err != nil {
			return fmt.Errorf("read ledger position: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE ledger_position SET stream_seq = NULL, stream_created = NULL WHERE id = 1"); err != nil {
			return fmt.Errorf("reset ledger position: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM ledger_set_aside"); err != nil {
			return fmt.Errorf("forget set-aside events: %w", err)
		}
		// A gap detected (not skipped) in the old stream is no gap of the
		// new one; the skips stay, as the record of what the journal lacks.
		if _, err := tx.ExecContext(ctx, "DELETE FROM ledger_gaps WHERE skipped_at IS NULL"); err != nil {
			return fmt.Errorf("forget detected gaps: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return row.Seq.Int64, row.Created.Time, nil
}
