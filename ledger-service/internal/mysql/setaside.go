package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
)

// The consumer records an event the ledger sets aside as a dead letter after
// the batch committed, and that record can fail. The position has moved past
// the event by then, so its redelivery would be skipped as applied and
// acknowledged: the event would be gone without a record. So the batch's
// transaction also writes ledger_set_aside, and a redelivery of a set-aside
// event is answered with its conflict again, until the dead letter is
// recorded and the message terminated. Malformed events need no row: the
// consumer finds them malformed again.

// maxReason bounds a stored reason, so that recording it can never fail
// for its length (TEXT holds 64 KiB) and hold the ledger back.
const maxReason = 4000

// setAsideNow returns the reasons of the effects whose turn this batch
// passes without their effect, by index: kept effects that conflict, and
// the refused Skip effects.
func setAsideNow(effs []ledger.Effect, out []ledger.Outcome, seq sequenced, refused map[int]error) map[int]string {
	aside := map[int]string{}
	for _, i := range seq.kept {
		if effs[i].Seq != 0 && errors.Is(out[i].Err, ledger.ErrConflict) {
			aside[i] = out[i].Err.Error()
		}
	}
	for _, i := range seq.skipped {
		if err, ok := refused[i]; ok {
			aside[i] = refusedErr(err).Error()
		}
	}
	return aside
}

// setAside records the set-aside effects of a batch.
func (s *Store) setAside(ctx context.Context, tx *sqlx.Tx, effs []ledger.Effect, aside map[int]string) error {
	if len(aside) == 0 {
		return nil
	}
	now := s.now()
	var args []any
	for i, reason := range aside {
		args = append(args, effs[i].Seq, effs[i].EventID, truncate(reason, maxReason), now)
	}
	q := "INSERT INTO ledger_set_aside (stream_seq, event_id, reason, set_aside_at) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?),", len(aside)), ",")
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("record %d set-aside events: %w", len(aside), err)
	}
	return nil
}

// setAsideBefore gives the effects behind the position that were set aside
// (by an earlier batch, or earlier in this one) their conflict again.
func setAsideBefore(ctx context.Context, tx *sqlx.Tx, effs []ledger.Effect, out []ledger.Outcome, behind []int, now map[int]string) error {
	if len(behind) == 0 {
		return nil
	}
	reasons := map[uint64]string{}
	for i, r := range now {
		reasons[effs[i].Seq] = r
	}
	seqs := make([]uint64, len(behind))
	for k, i := range behind {
		seqs[k] = effs[i].Seq
	}
	q, args, err := sqlx.In("SELECT stream_seq, reason FROM ledger_set_aside WHERE stream_seq IN (?)", seqs)
	if err != nil {
		return err
	}
	var rows []struct {
		Seq    uint64 `db:"stream_seq"`
		Reason string `db:"reason"`
	}
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(q), args...); err != nil {
		return fmt.Errorf("read set-aside events: %w", err)
	}
	for _, r := range rows {
		reasons[r.Seq] = r.Reason
	}
	for _, i := range behind {
		if r, ok := reasons[effs[i].Seq]; ok {
			out[i].Err = setAsideErr(r)
		}
	}
	return nil
}

// refusedErr is the conflict of an effect whose data the database refuses.
func refusedErr(err error) error {
	return fmt.Errorf("%w: the database refuses its data: %w", ledger.ErrConflict, err)
}

// setAsideErr is the stored reason of an event set aside at its turn, given
// again for its redelivery: the same words as the first time.
type setAsideErr string

func (e setAsideErr) Error() string { return string(e) }
func (e setAsideErr) Unwrap() error { return ledger.ErrConflict }

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
