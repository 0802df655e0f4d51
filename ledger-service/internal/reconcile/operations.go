package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/database"
)

// The operational checks' names.
const (
	checkSagas       = "no saga pending too long"
	checkOutbox      = "no event unpublished too long"
	checkDeadLetters = "no dead letters"
)

// staleSagas reports the cross-shard transfers that have been pending on
// their source shard for longer than PendingAfter: the saga redrives a
// transfer long before that, so one still pending is stuck.
func (r *run) staleSagas(ctx context.Context) error {
	c := r.rep.check(checkSagas)
	before := r.opts.Now().Add(-r.opts.PendingAfter).UTC()
	type row struct {
		TxID      string          `db:"transaction_id"`
		From      string          `db:"from_account"`
		To        string          `db:"to_account"`
		Amount    decimal.Decimal `db:"amount"`
		Currency  string          `db:"currency"`
		Redrives  int             `db:"redrives"`
		UpdatedAt time.Time       `db:"updated_at"`
	}
	for sh, db := range r.src.Shards {
		var pending int64
		if err := db.GetContext(ctx, &pending, "SELECT COUNT(*) FROM transfers WHERE status = 'pending'"); err != nil {
			return fmt.Errorf("%s: count pending transfers: %w", shardName(sh), err)
		}
		c.Checked += pending
		var rows []row
		if err := db.SelectContext(ctx, &rows, `SELECT transaction_id, from_account, to_account, amount, currency, redrives, updated_at
			FROM transfers WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT ?`, before, MaxListed+1); err != nil {
			return fmt.Errorf("%s: read pending transfers: %w", shardName(sh), err)
		}
		stale, err := countStale(ctx, db, "SELECT COUNT(*) FROM transfers WHERE status = 'pending' AND updated_at < ?", before, len(rows))
		if err != nil {
			return fmt.Errorf("%s: count stale transfers: %w", shardName(sh), err)
		}
		for _, t := range rows {
			r.rep.add(checkSagas, Finding{Kind: StaleSaga, Where: shardName(sh), Subject: t.TxID,
				Detail: fmt.Sprintf("%s %s from %s to %s pending since %s (%d redrives)", t.Amount.StringFixed(4), t.Currency, t.From, t.To,
					t.UpdatedAt.Format(time.RFC3339), t.Redrives)})
		}
		r.addUnlisted(checkSagas, StaleSaga, stale-int64(len(rows)))
	}
	return nil
}

// staleOutbox reports the outbox rows unpublished for longer than
// UnpublishedAfter: the relay publishes within milliseconds, so such a row
// is stuck (no relay holding the shard's lease, or a row still being tried).
// Rows the relay set aside as poison are reported on their own, with their
// error, whatever their age.
func (r *run) staleOutbox(ctx context.Context) error {
	c := r.rep.check(checkOutbox)
	before := r.opts.Now().Add(-r.opts.UnpublishedAfter).UTC()
	type row struct {
		ID         int64     `db:"id"`
		EventID    string    `db:"event_id"`
		EventType  string    `db:"event_type"`
		OccurredAt time.Time `db:"occurred_at"`
		Attempts   int       `db:"attempts"`
		LastError  *string   `db:"last_error"`
	}
	for sh, db := range r.src.Shards {
		var unpublished int64
		if err := db.GetContext(ctx, &unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"); err != nil {
			return fmt.Errorf("%s: count unpublished events: %w", shardName(sh), err)
		}
		c.Checked += unpublished
		var rows []row
		if err := db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, occurred_at, attempts, last_error FROM outbox
			WHERE published_at IS NULL AND set_aside_at IS NULL AND occurred_at < ? ORDER BY id LIMIT ?`, before, MaxListed+1); err != nil {
			return fmt.Errorf("%s: read unpublished events: %w", shardName(sh), err)
		}
		stale, err := countStale(ctx, db, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL AND occurred_at < ?", before, len(rows))
		if err != nil {
			return fmt.Errorf("%s: count stale events: %w", shardName(sh), err)
		}
		for _, o := range rows {
			detail := fmt.Sprintf("%s %s unpublished since %s", o.EventType, o.EventID, o.OccurredAt.Format(time.RFC3339))
			if o.LastError != nil {
				detail += fmt.Sprintf(" (%d failed attempts: %s)", o.Attempts, oneLine(*o.LastError))
			}
			r.rep.add(checkOutbox, Finding{Kind: StaleOutbox, Where: shardName(sh), Subject: fmt.Sprintf("outbox %d", o.ID), Detail: detail})
		}
		r.addUnlisted(checkOutbox, StaleOutbox, stale-int64(len(rows)))

		// Set aside: the partial scan over outbox_unpublished finds them.
		rows = rows[:0]
		if err := db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, occurred_at, attempts, last_error FROM outbox
			WHERE published_at IS NULL AND set_aside_at IS NOT NULL ORDER BY id LIMIT ?`, MaxListed+1); err != nil {
			return fmt.Errorf("%s: read set-aside events: %w", shardName(sh), err)
		}
		aside := int64(len(rows))
		if len(rows) > MaxListed {
			if err := db.GetContext(ctx, &aside, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NOT NULL"); err != nil {
				return fmt.Errorf("%s: count set-aside events: %w", shardName(sh), err)
			}
		}
		for _, o := range rows {
			reason := ""
			if o.LastError != nil {
				reason = oneLine(*o.LastError)
			}
			r.rep.add(checkOutbox, Finding{Kind: SetAsideOutbox, Where: shardName(sh), Subject: fmt.Sprintf("outbox %d", o.ID),
				Detail: fmt.Sprintf("%s %s set aside after %d attempts: %s", o.EventType, o.EventID, o.Attempts, reason)})
		}
		r.addUnlisted(checkOutbox, SetAsideOutbox, aside-int64(len(rows)))
	}
	return nil
}

// deadLetters reports every message a consumer gave up on and no operator
// has replayed or discarded yet, on the shards (the saga's consumers) and
// in the ledger. The subject is the id "ledger-service dead-letters" takes.
func (r *run) deadLetters(ctx context.Context) error {
	c := r.rep.check(checkDeadLetters)
	type row struct {
		ID         int64     `db:"id"`
		Consumer   string    `db:"consumer"`
		Subject    string    `db:"subject"`
		Error      string    `db:"error"`
		RecordedAt time.Time `db:"recorded_at"`
	}
	dbs := append([]database.DB{r.src.Ledger}, r.src.Shards...)
	for i, db := range dbs {
		where, place := ledgerName, ledgerName
		if i > 0 {
			where, place = shardName(i-1), fmt.Sprintf("shard%d", i-1)
		}
		var n int64
		if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM dead_letters WHERE handled_at IS NULL"); err != nil {
			return fmt.Errorf("%s: count dead letters: %w", where, err)
		}
		c.Checked += n
		var rows []row
		if err := db.SelectContext(ctx, &rows, `SELECT id, consumer, subject, error, recorded_at FROM dead_letters
			WHERE handled_at IS NULL ORDER BY id LIMIT ?`, MaxListed+1); err != nil {
			return fmt.Errorf("%s: read dead letters: %w", where, err)
		}
		for _, d := range rows {
			r.rep.add(checkDeadLetters, Finding{Kind: DeadLetter, Where: where, Subject: fmt.Sprintf("dead letter %s:%d", place, d.ID),
				Detail: fmt.Sprintf("%s gave up on %s at %s: %s", d.Consumer, d.Subject, d.RecordedAt.Format(time.RFC3339), oneLine(d.Error))})
		}
		r.addUnlisted(checkDeadLetters, DeadLetter, n-int64(len(rows)))
	}
	return nil
}

// countStale returns the rows query (one time argument) counts, or listed
// when fewer than a full listing came back (no need to count then).
func countStale(ctx context.Context, db database.DB, query string, before time.Time, listed int) (int64, error) {
	if listed <= MaxListed {
		return int64(listed), nil
	}
	var n int64
	err := db.GetContext(ctx, &n, query, before)
	return n, err
}

// addUnlisted counts n more findings of kind that the report does not list.
func (r *run) addUnlisted(check string, kind Kind, n int64) {
	if n <= 0 {
		return
	}
	r.rep.check(check).Findings += n
	r.rep.Counts[kind] += n
}

// oneLine keeps an error message to one line of reasonable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
