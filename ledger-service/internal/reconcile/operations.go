package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The operational checks' names.
const (
	checkSagas       = "no saga pending too long"
	checkOutbox      = "no event unpublished too long"
	checkDeadLetters = "no dead letters"
)

// staleSagas reports the cross-shard transfers that have been pending on
// their source shard for longer than PendingAfter (from the summaries
// account-service gave): the saga redrives a transfer long before that, so
// one still pending is stuck.
func (r *run) staleSagas(context.Context) error {
	c := r.rep.check(checkSagas)
	for sh := range r.src.Shards {
		s := r.summaries[sh]
		for _, cur := range s.Currencies {
			c.Checked += cur.PendingCount
		}
		for _, t := range s.StaleTransfers.Listed {
			r.rep.add(checkSagas, Finding{Kind: StaleSaga, Where: r.shardName(sh), Subject: t.TransactionID,
				Detail: fmt.Sprintf("%s %s from %s to %s pending since %s (%d redrives)", t.Amount.StringFixed(4), t.Currency, t.FromAccount, t.ToAccount,
					t.UpdatedAt.Format(time.RFC3339), t.Redrives)})
		}
		r.addUnlisted(checkSagas, StaleSaga, s.StaleTransfers.Count-int64(len(s.StaleTransfers.Listed)))
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
	before := r.opts.Now().Add(-r.opts.UnpublishedAfter)
	for sh := range r.src.Shards {
		o, err := r.src.Accounts.Outbox(ctx, sh, before)
		if err != nil {
			return fmt.Errorf("%s: read outbox: %w", r.shardName(sh), err)
		}
		c.Checked += o.Unpublished
		for _, row := range o.Stale.Listed {
			detail := fmt.Sprintf("%s %s unpublished since %s", row.EventType, row.EventID, row.OccurredAt.Format(time.RFC3339))
			if row.LastError != "" {
				detail += fmt.Sprintf(" (%d failed attempts: %s)", row.Attempts, oneLine(row.LastError))
			}
			r.rep.add(checkOutbox, Finding{Kind: StaleOutbox, Where: r.shardName(sh), Subject: fmt.Sprintf("outbox %d", row.ID), Detail: detail})
		}
		r.addUnlisted(checkOutbox, StaleOutbox, o.Stale.Count-int64(len(o.Stale.Listed)))
		for _, row := range o.SetAside.Listed {
			r.rep.add(checkOutbox, Finding{Kind: SetAsideOutbox, Where: r.shardName(sh), Subject: fmt.Sprintf("outbox %d", row.ID),
				Detail: fmt.Sprintf("%s %s set aside after %d attempts: %s", row.EventType, row.EventID, row.Attempts, oneLine(row.LastError))})
		}
		r.addUnlisted(checkOutbox, SetAsideOutbox, o.SetAside.Count-int64(len(o.SetAside.Listed)))
	}
	return nil
}

// deadLetters reports every message a consumer gave up on and no operator
// has replayed or discarded yet: in each ledger partition's schema (its own
// dead_letters table) and on the shards (the saga's, as account-service
// reports them). The subject is the id "ledger-service dead-letters" takes.
func (r *run) deadLetters(ctx context.Context) error {
	c := r.rep.check(checkDeadLetters)
	type row struct {
		ID         int64     `db:"id"`
		Consumer   string    `db:"consumer"`
		Subject    string    `db:"subject"`
		Error      string    `db:"error"`
		RecordedAt time.Time `db:"recorded_at"`
	}
	report := func(where, place string, d row) {
		r.rep.add(checkDeadLetters, Finding{Kind: DeadLetter, Where: where, Subject: fmt.Sprintf("dead letter %s:%d", place, d.ID),
			Detail: fmt.Sprintf("%s gave up on %s at %s: %s", d.Consumer, d.Subject, d.RecordedAt.Format(time.RFC3339), oneLine(d.Error))})
	}
	for _, p := range r.src.Partitions {
		var n int64
		if err := p.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM dead_letters WHERE handled_at IS NULL"); err != nil {
			return fmt.Errorf("%s: count dead letters: %w", partitionName(p.N), err)
		}
		c.Checked += n
		var rows []row
		if err := p.DB.SelectContext(ctx, &rows, `SELECT id, consumer, subject, error, recorded_at FROM dead_letters
			WHERE handled_at IS NULL ORDER BY id LIMIT ?`, MaxListed+1); err != nil {
			return fmt.Errorf("%s: read dead letters: %w", partitionName(p.N), err)
		}
		place := "ledger"
		if len(r.src.Partitions) > 1 {
			place = fmt.Sprintf("ledger%d", p.N)
		}
		for _, d := range rows {
			report(partitionName(p.N), place, d)
		}
		r.addUnlisted(checkDeadLetters, DeadLetter, n-int64(len(rows)))
	}
	for sh := range r.src.Shards {
		s := r.summaries[sh].DeadLetters
		c.Checked += s.Count
		for _, d := range s.Listed {
			report(r.shardName(sh), fmt.Sprintf("shard%d", sh), row{ID: d.ID, Consumer: d.Consumer, Subject: d.Subject, Error: d.Error, RecordedAt: d.RecordedAt})
		}
		r.addUnlisted(checkDeadLetters, DeadLetter, s.Count-int64(len(s.Listed)))
	}
	return nil
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
