package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// Stream and consumer whose backlog says whether the ledger has seen every
// event.
const (
	streamName     = "WALLET"
	ledgerConsumer = "ledger"
	// busyBacklog is the backlog above which the watcher polls only every
	// busyPoll: counting a large outbox every few milliseconds would slow
	// the very catching up it measures, and precision matters at the end.
	busyBacklog = 1000
	busyPoll    = 250 * time.Millisecond
)

// shardSchemaLike matches the account shards' schemas, which the watcher
// finds on the server rather than assuming how many there are: 4 physical
// shards today, logical shards tomorrow.
const shardSchemaLike = `wallet\_shard\_%`

// Watcher reads how far behind the system is: the shards' open sagas and
// outboxes, the ledger consumer's backlog and the ledger's balances of the
// run's accounts.
type Watcher struct {
	db      *sql.DB // on the server, no schema: every query names its schema
	js      jetstream.JetStream
	prefix  string   // the run's account prefix
	schemas []string // the shard schemas
	ledger  string   // the ledger's schema
}

// NewWatcher finds the shard schemas matching like on db (those with the
// accounts, transfers and outbox tables) and watches prefix's accounts.
func NewWatcher(ctx context.Context, db *sql.DB, js jetstream.JetStream, prefix, like string) (*Watcher, error) {
	rows, err := db.QueryContext(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_schema LIKE ? "+
		"AND table_name IN ('accounts', 'transfers', 'outbox') GROUP BY table_schema HAVING COUNT(*) = 3 ORDER BY table_schema", like)
	if err != nil {
		return nil, fmt.Errorf("find the shard schemas: %w", err)
	}
	defer rows.Close()
	w := &Watcher{db: db, js: js, prefix: prefix, ledger: ledgerSchema}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		w.schemas = append(w.schemas, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(w.schemas) == 0 {
		return nil, fmt.Errorf("no shard schema like %q on the server", like)
	}
	return w, nil
}

// Backlog is one look at what the system still has to do.
type Backlog struct {
	PendingTransfers  int64  `json:"pending_transfers"`
	UnpublishedOutbox int64  `json:"unpublished_outbox_rows"`
	LedgerPending     uint64 `json:"ledger_consumer_num_pending"`
	LedgerAckPending  int    `json:"ledger_consumer_num_ack_pending"`
	LedgerMismatches  int    `json:"accounts_ledger_differs"`
}

// queued is what is still waiting in the queues.
func (b Backlog) queued() int64 {
	return b.PendingTransfers + b.UnpublishedOutbox + int64(b.LedgerPending) + int64(b.LedgerAckPending)
}

// Clear reports a system that has caught up.
func (b Backlog) Clear() bool { return b.queued() == 0 && b.LedgerMismatches == 0 }

func (b Backlog) String() string {
	balances := "balances not compared yet"
	if b.LedgerMismatches >= 0 {
		balances = fmt.Sprintf("%d accounts where the ledger differs", b.LedgerMismatches)
	}
	return fmt.Sprintf("%d pending transfers, %d unpublished outbox rows, ledger consumer %d pending + %d unacked, %s",
		b.PendingTransfers, b.UnpublishedOutbox, b.LedgerPending, b.LedgerAckPending, balances)
}

// queues looks at the queues in order, the database first: an event the
// relay publishes after that look is in the consumer's count, and the
// ledger acknowledges an event only once it has committed it. So empty
// queues mean the ledger has applied everything. LedgerMismatches is -1:
// not compared.
func (w *Watcher) queues(ctx context.Context) (Backlog, error) {
	b := Backlog{LedgerMismatches: -1}
	pending := make([]string, len(w.schemas))
	unpublished := make([]string, len(w.schemas))
	for i, s := range w.schemas {
		pending[i] = "(SELECT COUNT(*) FROM `" + s + "`.transfers WHERE status = 'pending')"
		unpublished[i] = "(SELECT COUNT(*) FROM `" + s + "`.outbox WHERE published_at IS NULL)"
	}
	q := "SELECT " + strings.Join(pending, " + ") + ", " + strings.Join(unpublished, " + ")
	if err := w.db.QueryRowContext(ctx, q).Scan(&b.PendingTransfers, &b.UnpublishedOutbox); err != nil {
		return b, fmt.Errorf("shard backlog: %w", err)
	}
	if w.js == nil {
		return b, errors.New("no JetStream to read the ledger consumer from")
	}
	cons, err := w.js.Consumer(ctx, streamName, ledgerConsumer)
	if err != nil {
		return b, fmt.Errorf("consumer %s on %s: %w", ledgerConsumer, streamName, err)
	}
	info := cons.CachedInfo() // Consumer has just fetched it
	b.LedgerPending, b.LedgerAckPending = info.NumPending, info.NumAckPending
	return b, nil
}

// mismatches counts the run's accounts whose ledger balance differs from
// their shard balance.
func (w *Watcher) mismatches(ctx context.Context) (int, error) {
	shard, err := w.ShardBalances(ctx)
	if err != nil {
		return 0, err
	}
	ledger, err := w.balances(ctx, []string{w.ledger + ".ledger_accounts"})
	if err != nil {
		return 0, fmt.Errorf("ledger balances: %w", err)
	}
	n := 0
	for id, bal := range shard {
		if l, ok := ledger[id]; !ok || !l.Equal(bal) {
			n++
		}
	}
	return n, nil
}

// CaughtUp brackets the moment the system caught up: after After (when a
// look last saw something left to do, or when the wait began) and before
// Before (when the queues were first seen empty).
type CaughtUp struct {
	After, Before time.Time
}

// WaitCaughtUp looks every poll (every busyPoll while the backlog is large)
// until the queues are empty and the ledger's balances equal the shards',
// or timeout has passed, printing progress to log every few seconds. since
// is when the wait's subject (the load) ended. It returns the last look and
// when the system caught up; on a timeout, Before is when it gave up.
func (w *Watcher) WaitCaughtUp(ctx context.Context, since time.Time, timeout, poll time.Duration, log io.Writer) (Backlog, CaughtUp, error) {
	deadline := time.Now().Add(timeout)
	lastSaid := time.Now()
	caught := CaughtUp{After: since}
	for {
		lookStart := time.Now()
		b, err := w.queues(ctx)
		at := time.Now()
		if err == nil && b.queued() == 0 {
			caught.Before = at
			if b.LedgerMismatches, err = w.mismatches(ctx); err == nil && b.LedgerMismatches == 0 {
				return b, caught, nil
			}
		}
		if err != nil || at.After(deadline) {
			return b, CaughtUp{After: caught.After, Before: at}, err
		}
		caught.After = lookStart
		if at.Sub(lastSaid) >= 5*time.Second {
			fmt.Fprintf(log, "  settling: %s\n", b)
			lastSaid = at
		}
		wait := poll
		if b.queued() > busyBacklog {
			wait = busyPoll
		}
		select {
		case <-ctx.Done():
			return b, CaughtUp{After: caught.After, Before: time.Now()}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// ShardBalances returns the shard balance of every run account.
func (w *Watcher) ShardBalances(ctx context.Context) (map[string]decimal.Decimal, error) {
	tables := make([]string, len(w.schemas))
	for i, s := range w.schemas {
		tables[i] = "`" + s + "`.accounts"
	}
	m, err := w.balances(ctx, tables)
	if err != nil {
		return nil, fmt.Errorf("shard balances: %w", err)
	}
	return m, nil
}

// balances reads account_id and balance of the run's accounts from tables,
// in one statement.
func (w *Watcher) balances(ctx context.Context, tables []string) (map[string]decimal.Decimal, error) {
	parts := make([]string, len(tables))
	args := make([]any, len(tables))
	for i, t := range tables {
		parts[i] = "SELECT account_id, balance FROM " + t + " WHERE account_id LIKE ?"
		args[i] = w.prefix + "%"
	}
	rows, err := w.db.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]decimal.Decimal{}
	for rows.Next() {
		var id string
		var b decimal.Decimal
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		m[id] = b
	}
	return m, rows.Err()
}

// TransfersByStatus counts the run's transfers on their source shards by
// status (completed, failed, pending, refused).
func (w *Watcher) TransfersByStatus(ctx context.Context) (map[string]int64, error) {
	parts := make([]string, len(w.schemas))
	args := make([]any, len(w.schemas))
	for i, s := range w.schemas {
		parts[i] = "SELECT status FROM `" + s + "`.transfers WHERE from_account LIKE ?"
		args[i] = w.prefix + "%"
	}
	rows, err := w.db.QueryContext(ctx, "SELECT status, COUNT(*) FROM ("+strings.Join(parts, " UNION ALL ")+") t GROUP BY status", args...)
	if err != nil {
		return nil, fmt.Errorf("transfers by status: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[status] = n
	}
	return out, rows.Err()
}
