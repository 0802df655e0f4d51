package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/stream"
)

// The consumer, on every partition's stream (WALLET_<p>, ADR 0038), whose
// backlog says whether the ledger has seen every event.
const (
	ledgerConsumer = "ledger"
	// busyBacklog is the backlog above which the watcher polls only every
	// busyPoll: counting a large outbox every few milliseconds would slow
	// the very catching up it measures, and precision matters at the end.
	busyBacklog = 1000
	busyPoll    = 250 * time.Millisecond
)

// shardSchemaLike matches the account shards' schemas, which the watcher
// finds on the servers rather than assuming how many there are or where.
const shardSchemaLike = `wallet\_shard\_%`

// moveRetryFor bounds how long one look is tried again while a shard is
// between two servers (docs/adr/0034): during a move's pause (at most the
// mover's 5 s pause timeout) the shard has no live copy, and an old copy
// can be dropped between finding it and reading it.
const moveRetryFor = 30 * time.Second

// Watcher reads how far behind the system is: the shards' open sagas and
// outboxes, the ledger consumer's backlog and the ledger's balances of the
// run's accounts. Shards may live on several servers and move between them
// during the run, so every look finds the shard schemas again and reads
// only their live copies.
type Watcher struct {
	servers []ShardServer // no schema selected: every query names its schema
	js      jetstream.JetStream
	prefix  string // the run's account prefix
	like    string // the shard schemas' names, a LIKE pattern
	// ledgers are the ledger's balance tables: one (wallet_ledger's) until
	// the ledger is partitioned, then one per partition (ADR 0038), each
	// holding its own accounts. streams are the streams whose ledger
	// consumer's backlog is read; nil: every WALLET_<p> there is.
	ledgers []LedgerTable
	streams []string
	// retryFor bounds the retries of one look (moveRetryFor); retrying,
	// if set, hears why a look is tried again, once per look.
	retryFor time.Duration
	retrying func(error)
}

// NewWatcher watches prefix's accounts in the shard schemas matching like
// (those with the accounts, transfers and outbox tables) on servers, and
// the ledger's balances on ledgerDB. It fails when no shard is found.
func NewWatcher(ctx context.Context, servers []ShardServer, ledgerDB *sql.DB, js jetstream.JetStream, prefix, like string) (*Watcher, error) {
	if len(servers) == 0 {
		return nil, errServers
	}
	w := &Watcher{servers: servers, js: js, prefix: prefix, like: like, retryFor: moveRetryFor,
		ledgers: []LedgerTable{{DB: ledgerDB, Table: ledgerSchema + ".ledger_accounts"}}}
	n := 0
	err := w.look(ctx, func(live [][]string) error {
		n = 0
		for _, l := range live {
			n += len(l)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("no shard schema like %q on the servers", like)
	}
	return w, nil
}

// LedgerTable is one ledger_accounts table and the server it is on.
type LedgerTable struct {
	DB    *sql.DB
	Table string // schema.ledger_accounts
}

// Partitioned makes the watcher read the ledger from tables and the ledger
// consumers' backlog from streams, for a partitioned ledger (bench -scale).
func (w *Watcher) Partitioned(tables []LedgerTable, streams []string) {
	w.ledgers, w.streams = tables, streams
}

// shardCopy is one shard schema found on one server, with what its
// shard_meta row says.
type shardCopy struct {
	server int    // index in Watcher.servers
	schema string // its name: the same on every server for one shard
	// hasMeta: shard_meta has the frozen column (a stack that can move
	// shards); hasRow: and the schema's row, which says frozen and owner,
	// the server it is the live copy on ("" before the first claim).
	hasMeta, hasRow bool
	frozen          bool
	owner           string
}

// errServers is returned by a Watcher given no server.
var errServers = errors.New("no server to find the shards on")

// errMoving marks a look that found a shard mid-move: no live copy, or
// two. It is tried again.
var errMoving = errors.New("a shard is between two servers")

// liveSchemas finds the shard schemas on every server and returns, per
// server, those holding the live copy of their shard (see pickLive).
func (w *Watcher) liveSchemas(ctx context.Context) ([][]string, error) {
	var copies []shardCopy
	names := make([]string, len(w.servers))
	for i, s := range w.servers {
		found, err := w.findCopies(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("find the shard schemas on %s: %w", w.label(i), err)
		}
		copies = append(copies, found...)
		names[i] = s.Name
	}
	return pickLive(copies, names)
}

// pickLive returns, per server (names: the servers' names, "" if not
// given), the schemas of copies that are their shard's live copy: not
// frozen by a move and, on a named server, not naming another server as
// owner (the copy a move is still building names its source until the
// switch). A copy without shard_meta's frozen column is live (a stack from
// before moves); one without its row yet only if it is its shard's only
// copy (else it is a copy still being loaded). Every shard found must have
// exactly one live copy, else errMoving.
func pickLive(copies []shardCopy, names []string) ([][]string, error) {
	perSchema := map[string]int{} // copies of each shard's schema
	for _, c := range copies {
		perSchema[c.schema]++
	}
	liveCopies := map[string]int{}
	live := make([][]string, len(names))
	for _, c := range copies {
		name := names[c.server]
		ok := true
		switch {
		case !c.hasMeta:
		case !c.hasRow:
			ok = perSchema[c.schema] == 1
		default:
			ok = !c.frozen && (name == "" || c.owner == "" || c.owner == name)
		}
		if ok {
			liveCopies[c.schema]++
			live[c.server] = append(live[c.server], c.schema)
		}
	}
	for schema := range perSchema {
		if n := liveCopies[schema]; n != 1 {
			return nil, fmt.Errorf("%w: %s has %d live copies", errMoving, schema, n)
		}
	}
	return live, nil
}

// findCopies reads which shard schemas server i holds and their shard_meta
// rows: one information_schema query, then one over the shard_meta tables.
func (w *Watcher) findCopies(ctx context.Context, i int) ([]shardCopy, error) {
	rows, err := w.servers[i].DB.QueryContext(ctx, `SELECT table_schema,
  COUNT(DISTINCT CASE WHEN table_name IN ('accounts', 'transfers', 'outbox') THEN table_name END) AS shard_tables,
  MAX(table_name = 'shard_meta' AND column_name = 'frozen') AS has_frozen,
  MAX(table_name = 'shard_meta' AND column_name = 'server') AS has_server
FROM information_schema.columns
WHERE table_schema LIKE ? AND table_name IN ('accounts', 'transfers', 'outbox', 'shard_meta')
GROUP BY table_schema HAVING shard_tables = 3 ORDER BY table_schema`, w.like)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var copies []shardCopy
	var metas []string
	var args []any
	for rows.Next() {
		var schema string
		var tables, hasFrozen, hasServer int
		if err := rows.Scan(&schema, &tables, &hasFrozen, &hasServer); err != nil {
			return nil, err
		}
		copies = append(copies, shardCopy{server: i, schema: schema, hasMeta: hasFrozen == 1})
		if hasFrozen == 1 {
			owner := "''"
			if hasServer == 1 {
				owner = "server"
			}
			metas = append(metas, "SELECT ?, "+owner+", frozen FROM `"+schema+"`.shard_meta WHERE id = 1")
			args = append(args, schema)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return copies, nil
	}
	return copies, w.readMeta(ctx, i, strings.Join(metas, " UNION ALL "), args, copies)
}

// readMeta fills in copies' shard_meta rows, which query reads on server i.
func (w *Watcher) readMeta(ctx context.Context, i int, query string, args []any, copies []shardCopy) error {
	rows, err := w.servers[i].DB.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var schema, owner string
		var frozen bool
		if err := rows.Scan(&schema, &owner, &frozen); err != nil {
			return err
		}
		for j := range copies {
			if copies[j].schema == schema {
				copies[j].hasRow, copies[j].frozen, copies[j].owner = true, frozen, owner
			}
		}
	}
	return rows.Err()
}

// label names server i in messages.
func (w *Watcher) label(i int) string {
	if w.servers[i].Name != "" {
		return w.servers[i].Name
	}
	return fmt.Sprintf("server %d of -servers", i+1)
}

// look runs read on the live shard schemas, finding them first. A look that
// found a shard mid-move, or whose schema vanished before it was read (a
// move dropped its old copy), is tried again for up to retryFor.
func (w *Watcher) look(ctx context.Context, read func(live [][]string) error) error {
	deadline := time.Now().Add(w.retryFor)
	for try := 0; ; try++ {
		live, err := w.liveSchemas(ctx)
		if err == nil {
			err = read(live)
		}
		if err == nil || !movedAway(err) || time.Now().After(deadline) {
			return err
		}
		if try == 0 && w.retrying != nil {
			w.retrying(err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// movedAway reports an error a move explains: a shard mid-move, or a schema
// or table gone since it was found (MariaDB's 1049 unknown database, 1146
// no such table).
func movedAway(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1049 || me.Number == 1146) {
		return true
	}
	return errors.Is(err, errMoving)
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
	err := w.look(ctx, func(live [][]string) error {
		b.PendingTransfers, b.UnpublishedOutbox = 0, 0
		for i, schemas := range live {
			if len(schemas) == 0 {
				continue
			}
			pending := make([]string, len(schemas))
			unpublished := make([]string, len(schemas))
			for j, s := range schemas {
				pending[j] = "(SELECT COUNT(*) FROM `" + s + "`.transfers WHERE status = 'pending')"
				unpublished[j] = "(SELECT COUNT(*) FROM `" + s + "`.outbox WHERE published_at IS NULL)"
			}
			var p, u int64
			q := "SELECT " + strings.Join(pending, " + ") + ", " + strings.Join(unpublished, " + ")
			if err := w.servers[i].DB.QueryRowContext(ctx, q).Scan(&p, &u); err != nil {
				return err
			}
			b.PendingTransfers += p
			b.UnpublishedOutbox += u
		}
		return nil
	})
	if err != nil {
		return b, fmt.Errorf("shard backlog: %w", err)
	}
	if w.js == nil {
		return b, errors.New("no JetStream to read the ledger consumer from")
	}
	// The streams set (Partitioned), or every partition's stream, WALLET_0
	// up to the first that does not exist.
	for p := 0; w.streams == nil || p < len(w.streams); p++ {
		name := stream.PartitionName(p)
		if w.streams != nil {
			name = w.streams[p]
		}
		cons, err := w.js.Consumer(ctx, name, ledgerConsumer)
		if w.streams == nil && errors.Is(err, jetstream.ErrStreamNotFound) && p > 0 {
			return b, nil
		}
		if err != nil {
			return b, fmt.Errorf("consumer %s on %s: %w", ledgerConsumer, name, err)
		}
		info := cons.CachedInfo() // Consumer has just fetched it
		b.LedgerPending += info.NumPending
		b.LedgerAckPending += info.NumAckPending
	}
	return b, nil
}

// mismatches counts the run's accounts whose ledger balance differs from
// their shard balance.
func (w *Watcher) mismatches(ctx context.Context) (int, error) {
	shard, err := w.ShardBalances(ctx)
	if err != nil {
		return 0, err
	}
	ledger := map[string]decimal.Decimal{}
	for _, t := range w.ledgers {
		m, err := w.balances(ctx, t.DB, []string{t.Table})
		if err != nil {
			return 0, fmt.Errorf("ledger balances in %s: %w", t.Table, err)
		}
		maps.Copy(ledger, m)
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

// ShardBalances returns the shard balance of every run account, from the
// live copies on every server.
func (w *Watcher) ShardBalances(ctx context.Context) (map[string]decimal.Decimal, error) {
	var all map[string]decimal.Decimal
	err := w.look(ctx, func(live [][]string) error {
		all = map[string]decimal.Decimal{}
		for i, schemas := range live {
			if len(schemas) == 0 {
				continue
			}
			tables := make([]string, len(schemas))
			for j, s := range schemas {
				tables[j] = "`" + s + "`.accounts"
			}
			m, err := w.balances(ctx, w.servers[i].DB, tables)
			if err != nil {
				return err
			}
			maps.Copy(all, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shard balances: %w", err)
	}
	return all, nil
}

// balances reads account_id and balance of the run's accounts from tables,
// on db, in one statement.
func (w *Watcher) balances(ctx context.Context, db *sql.DB, tables []string) (map[string]decimal.Decimal, error) {
	parts := make([]string, len(tables))
	args := make([]any, len(tables))
	for i, t := range tables {
		parts[i] = "SELECT account_id, balance FROM " + t + " WHERE account_id LIKE ?"
		args[i] = w.prefix + "%"
	}
	rows, err := db.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
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
	var out map[string]int64
	err := w.look(ctx, func(live [][]string) error {
		out = map[string]int64{}
		for i, schemas := range live {
			if len(schemas) == 0 {
				continue
			}
			if err := w.countByStatus(ctx, w.servers[i].DB, schemas, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transfers by status: %w", err)
	}
	return out, nil
}

// countByStatus adds the run's transfers in schemas on db to out by status.
func (w *Watcher) countByStatus(ctx context.Context, db *sql.DB, schemas []string, out map[string]int64) error {
	parts := make([]string, len(schemas))
	args := make([]any, len(schemas))
	for i, s := range schemas {
		parts[i] = "SELECT status FROM `" + s + "`.transfers WHERE from_account LIKE ?"
		args[i] = w.prefix + "%"
	}
	rows, err := db.QueryContext(ctx, "SELECT status, COUNT(*) FROM ("+strings.Join(parts, " UNION ALL ")+") t GROUP BY status", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return err
		}
		out[status] += n
	}
	return rows.Err()
}
