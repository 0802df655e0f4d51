package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// Stream and consumer whose backlog says whether the ledger has seen every
// event.
const (
	streamName     = "WALLET"
	ledgerConsumer = "ledger"
	pollEvery      = 250 * time.Millisecond
)

// Watcher reads how far behind the system is: the shards' open sagas and
// outboxes, the ledger consumer's backlog and the ledger's balances of the
// run's accounts.
type Watcher struct {
	db     *sql.DB // on the server, no schema: every query names its schema
	js     jetstream.JetStream
	prefix string // the run's account prefix
}

// Backlog is one look at what the system still has to do.
type Backlog struct {
	PendingTransfers  int64  `json:"pending_transfers"`
	UnpublishedOutbox int64  `json:"unpublished_outbox_rows"`
	LedgerPending     uint64 `json:"ledger_consumer_num_pending"`
	LedgerAckPending  int    `json:"ledger_consumer_num_ack_pending"`
	LedgerMismatches  int    `json:"accounts_ledger_differs"`
}

// Clear reports a system that has caught up.
func (b Backlog) Clear() bool {
	return b.PendingTransfers == 0 && b.UnpublishedOutbox == 0 && b.LedgerPending == 0 &&
		b.LedgerAckPending == 0 && b.LedgerMismatches == 0
}

func (b Backlog) String() string {
	balances := "balances not compared yet"
	if b.LedgerMismatches >= 0 {
		balances = fmt.Sprintf("%d accounts where the ledger differs", b.LedgerMismatches)
	}
	return fmt.Sprintf("%d pending transfers, %d unpublished outbox rows, ledger consumer %d pending + %d unacked, %s",
		b.PendingTransfers, b.UnpublishedOutbox, b.LedgerPending, b.LedgerAckPending, balances)
}

// Look takes one look. The balances are compared only once the queues are
// empty: before that they are bound to differ and the query is wasted load.
func (w *Watcher) Look(ctx context.Context) (Backlog, error) {
	var b Backlog
	for s := range shards {
		var pending, unpublished int64
		q := fmt.Sprintf("SELECT (SELECT COUNT(*) FROM %[1]s.transfers WHERE status = 'pending'), "+
			"(SELECT COUNT(*) FROM %[1]s.outbox WHERE published_at IS NULL)", shardSchema(s))
		if err := w.db.QueryRowContext(ctx, q).Scan(&pending, &unpublished); err != nil {
			return b, fmt.Errorf("shard %d backlog: %w", s, err)
		}
		b.PendingTransfers += pending
		b.UnpublishedOutbox += unpublished
	}
	cons, err := w.js.Consumer(ctx, streamName, ledgerConsumer)
	if err != nil {
		return b, fmt.Errorf("consumer %s on %s: %w", ledgerConsumer, streamName, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return b, fmt.Errorf("consumer %s info: %w", ledgerConsumer, err)
	}
	b.LedgerPending, b.LedgerAckPending = info.NumPending, info.NumAckPending
	if b.PendingTransfers > 0 || b.UnpublishedOutbox > 0 || b.LedgerPending > 0 || b.LedgerAckPending > 0 {
		b.LedgerMismatches = -1 // not compared yet
		return b, nil
	}
	shard, err := w.ShardBalances(ctx)
	if err != nil {
		return b, err
	}
	ledger, err := w.balances(ctx, "SELECT account_id, balance FROM "+ledgerSchema+".ledger_accounts WHERE account_id LIKE ?")
	if err != nil {
		return b, fmt.Errorf("ledger balances: %w", err)
	}
	for id, bal := range shard {
		if l, ok := ledger[id]; !ok || !l.Equal(bal) {
			b.LedgerMismatches++
		}
	}
	return b, nil
}

// WaitCaughtUp looks every pollEvery until the backlog is clear or timeout
// has passed, printing progress to log every few seconds. It returns the
// last look and when it ended: a clear look's end is a safe upper bound of
// the moment the system caught up.
func (w *Watcher) WaitCaughtUp(ctx context.Context, timeout time.Duration, log io.Writer) (Backlog, time.Time, error) {
	deadline := time.Now().Add(timeout)
	lastSaid := time.Now()
	for {
		b, err := w.Look(ctx)
		at := time.Now()
		if err != nil || b.Clear() || at.After(deadline) {
			return b, at, err
		}
		if at.Sub(lastSaid) >= 5*time.Second {
			fmt.Fprintf(log, "  settling: %s\n", b)
			lastSaid = at
		}
		select {
		case <-ctx.Done():
			return b, at, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// ShardBalances returns the shard balance of every run account.
func (w *Watcher) ShardBalances(ctx context.Context) (map[string]decimal.Decimal, error) {
	all := map[string]decimal.Decimal{}
	for s := range shards {
		m, err := w.balances(ctx, "SELECT account_id, balance FROM "+shardSchema(s)+".accounts WHERE account_id LIKE ?")
		if err != nil {
			return nil, fmt.Errorf("shard %d balances: %w", s, err)
		}
		for id, b := range m {
			all[id] = b
		}
	}
	return all, nil
}

func (w *Watcher) balances(ctx context.Context, query string) (map[string]decimal.Decimal, error) {
	rows, err := w.db.QueryContext(ctx, query, w.prefix+"%")
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
	out := map[string]int64{}
	for s := range shards {
		rows, err := w.db.QueryContext(ctx, "SELECT status, COUNT(*) FROM "+shardSchema(s)+
			".transfers WHERE from_account LIKE ? GROUP BY status", w.prefix+"%")
		if err != nil {
			return nil, fmt.Errorf("shard %d transfers: %w", s, err)
		}
		for rows.Next() {
			var status string
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[status] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
