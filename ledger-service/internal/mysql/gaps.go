package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/pkg/database"
)

// Gaps in the stream (ADR 0039): the consumer records the one it waits at
// (RecordGap), an operator skips it (SkipGap), and the table keeps both.

// GapRecord is a row of ledger_gaps: a gap detected, skipped, or both.
type GapRecord struct {
	ID         int64          `db:"id" json:"id"`
	Stream     string         `db:"stream_name" json:"stream"`
	Partition  int            `db:"partition_no" json:"partition"`
	First      uint64         `db:"first_seq" json:"first"`
	Last       uint64         `db:"last_seq" json:"last"`
	Cause      string         `db:"cause" json:"cause"`
	DetectedAt sql.NullTime   `db:"detected_at" json:"-"`
	SkippedAt  sql.NullTime   `db:"skipped_at" json:"-"`
	SkippedBy  sql.NullString `db:"skipped_by" json:"-"`
	Reason     sql.NullString `db:"reason" json:"-"`
	Forced     bool           `db:"forced" json:"forced"`
	Known      sql.NullString `db:"known_events" json:"-"`
}

// Skipped reports whether an operator skipped the gap.
func (r GapRecord) Skipped() bool { return r.SkippedAt.Valid }

const gapColumns = "id, stream_name, partition_no, first_seq, last_seq, cause, detected_at, skipped_at, skipped_by, reason, forced, known_events"

// Position is the last stream sequence the ledger applied; known is false
// before the first.
func (s *Store) Position(ctx context.Context) (seq uint64, known bool, err error) {
	var v sql.NullInt64
	if err := s.db.GetContext(ctx, &v, "SELECT stream_seq FROM ledger_position WHERE id = 1"); err != nil {
		return 0, false, fmt.Errorf("read ledger position: %w", err)
	}
	return uint64(v.Int64), v.Valid, nil
}

// RecordGap records g as the gap the ledger waits at: an open row (not
// skipped) of its stream starting at the same sequence is brought up to
// date (a limit still dropping messages makes it longer), any other open
// row of the stream is stale (the position moved) and goes.
func (s *Store) RecordGap(ctx context.Context, g gap.Gap) error {
	return database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE ledger_gaps SET last_seq = ?, cause = ?
			WHERE stream_name = ? AND first_seq = ? AND skipped_at IS NULL`, g.Last, g.Cause, g.Stream, g.First)
		if err != nil {
			return fmt.Errorf("record gap: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM ledger_gaps WHERE stream_name = ? AND skipped_at IS NULL", g.Stream); err != nil {
			return fmt.Errorf("record gap: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_gaps (stream_name, partition_no, first_seq, last_seq, cause, detected_at)
			VALUES (?, ?, ?, ?, ?, ?)`, g.Stream, g.Partition, g.First, g.Last, g.Cause, g.Detected.UTC().Truncate(time.Microsecond)); err != nil {
			return fmt.Errorf("record gap: %w", err)
		}
		return nil
	})
}

// Gaps returns every gap recorded, detected or skipped, oldest first.
func (s *Store) Gaps(ctx context.Context) ([]GapRecord, error) {
	var out []GapRecord
	if err := s.db.SelectContext(ctx, &out, "SELECT "+gapColumns+" FROM ledger_gaps ORDER BY id"); err != nil {
		return nil, fmt.Errorf("read gaps: %w", err)
	}
	return out, nil
}

// Skip is an operator's decision to pass a gap: the sequences First..Last
// of Stream (partition Partition) take their turn without an effect.
type Skip struct {
	Stream    string
	Partition int
	First     uint64
	Last      uint64
	Cause     string // how the stream lost them, if known
	Reason    string // the operator's
	By        string // who skipped
	Forced    bool   // skipped without the stream confirming the range missing
	Known     string // what is known of the missing events, "" for nothing
}

// ErrNotNext refuses a skip that does not start right after the ledger's
// position: skipping elsewhere would pass messages still to apply or
// repeat applied ones.
var ErrNotNext = errors.New("the skip does not start at the ledger's next sequence")

// SkipGap records k and moves the ledger's position to k.Last, in one
// transaction holding the position's lock (a running consumer's batch
// waits for it), so the ledger goes on at k.Last+1. The open row of the
// gap, if the ledger detected it, becomes the skip's record.
func (s *Store) SkipGap(ctx context.Context, k Skip) (GapRecord, error) {
	if k.Last < k.First {
		return GapRecord{}, fmt.Errorf("skip %d..%d: the range is empty", k.First, k.Last)
	}
	var rec GapRecord
	err := database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		pos, err := lockPosition(ctx, tx)
		if err != nil {
			return err
		}
		if !pos.known || pos.seq+1 != k.First {
			at := "has no position yet"
			if pos.known {
				at = fmt.Sprintf("is at %d, next %d", pos.seq, pos.seq+1)
			}
			return fmt.Errorf("%w: skip %d..%d, the ledger %s", ErrNotNext, k.First, k.Last, at)
		}
		now := s.now()
		known := sql.NullString{String: k.Known, Valid: k.Known != ""}
		res, err := tx.ExecContext(ctx, `UPDATE ledger_gaps SET last_seq = ?, skipped_at = ?, skipped_by = ?, reason = ?, forced = ?, known_events = ?
			WHERE stream_name = ? AND first_seq = ? AND skipped_at IS NULL`,
			k.Last, now, k.By, k.Reason, k.Forced, known, k.Stream, k.First)
		if err != nil {
			return fmt.Errorf("record skip: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("record skip: %w", err)
		} else if n == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_gaps (stream_name, partition_no, first_seq, last_seq, cause, skipped_at, skipped_by, reason, forced, known_events)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.Stream, k.Partition, k.First, k.Last, k.Cause, now, k.By, k.Reason, k.Forced, known); err != nil {
				return fmt.Errorf("record skip: %w", err)
			}
		}
		if err := savePosition(ctx, tx, pos, position{seq: k.Last, known: true}); err != nil {
			return err
		}
		return tx.GetContext(ctx, &rec, "SELECT "+gapColumns+" FROM ledger_gaps WHERE stream_name = ? AND first_seq = ? AND skipped_at = ? ORDER BY id DESC LIMIT 1",
			k.Stream, k.First, now)
	})
	return rec, err
}

// CopySkips writes the skips of recs into this ledger as they are: a
// replayed ledger keeps the live one's record of what it lacks.
func (s *Store) CopySkips(ctx context.Context, recs []GapRecord) error {
	return database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for _, r := range recs {
			if !r.Skipped() {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_gaps (stream_name, partition_no, first_seq, last_seq, cause, detected_at, skipped_at, skipped_by, reason, forced, known_events)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Stream, r.Partition, r.First, r.Last, r.Cause, r.DetectedAt, r.SkippedAt, r.SkippedBy, r.Reason, r.Forced, r.Known); err != nil {
				return fmt.Errorf("copy skip %d..%d: %w", r.First, r.Last, err)
			}
		}
		return nil
	})
}
