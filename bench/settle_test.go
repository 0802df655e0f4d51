package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// watchedStack is a stand-in for the local stack: two shard schemas and a
// third without an outbox (not a shard; it holds the ledger's balances), a
// fourth, empty schema whose name matches like (room for a copy a move
// makes), and partition 0's stream with the ledger's durable consumer.
type watchedStack struct {
	shards [2]string
	ledger string
	spare  string
	like   string
	db     *sql.DB // on the server, no schema selected
	js     jetstream.JetStream
}

func mustWatchedStack(t *testing.T) (*watchedStack, *Watcher) {
	t.Helper()
	ctx := context.Background()
	dsns := testenv.Databases(t, 4)
	var names [4]string
	for i, dsn := range dsns {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = cfg.DBName
	}
	db, err := openDB(dsns[0], "", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &watchedStack{shards: [2]string{names[0], names[1]}, ledger: names[2], spare: names[3], db: db,
		like: strings.ReplaceAll(strings.TrimSuffix(names[0], "0"), "_", `\_`) + "%"}
	for _, sh := range s.shards {
		mustShardTables(t, db, sh)
	}
	mustExec(t, db,
		"CREATE TABLE "+s.ledger+".accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)",
		"CREATE TABLE "+s.ledger+".transfers (transaction_id CHAR(36) PRIMARY KEY, from_account VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL)",
		"CREATE TABLE "+s.ledger+".ledger_accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)")
	s.js = testenv.MustJetStream(t)
	if _, err := stream.EnsurePartitions(ctx, s.js, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.CreateOrUpdateConsumer(ctx, stream.PartitionName(0), jetstream.ConsumerConfig{Durable: ledgerConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	return s, s.watcher(t, "")
}

// watcher returns a Watcher of the stack's run- accounts that sees the
// shards through one pool per name, all on the test server: two named
// pools play two servers, the shard_meta owners saying which schema is
// whose.
func (s *watchedStack) watcher(t *testing.T, names ...string) *Watcher {
	t.Helper()
	var servers []ShardServer
	for _, name := range names {
		db, err := openDB(os.Getenv(testenv.EnvMySQL), "", 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		servers = append(servers, ShardServer{Name: name, DB: db})
	}
	w, err := NewWatcher(context.Background(), servers, s.db, s.js, "run-", s.like)
	if err != nil {
		t.Fatal(err)
	}
	w.ledgers[0].Table = s.ledger + ".ledger_accounts"
	return w
}

// mustShardTables gives schema the tables the watcher reads.
func mustShardTables(t *testing.T, db *sql.DB, schema string) {
	t.Helper()
	mustExec(t, db,
		"CREATE TABLE "+schema+".accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)",
		"CREATE TABLE "+schema+".transfers (transaction_id CHAR(36) PRIMARY KEY, from_account VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL)",
		"CREATE TABLE "+schema+".outbox (id BIGINT PRIMARY KEY, published_at DATETIME(6) NULL)")
}

// mustShardMeta gives schema the shard_meta of a stack that moves shards
// (migrations 0009 and 0010) and its row.
func mustShardMeta(t *testing.T, db *sql.DB, schema string, shard int, owner string, frozen bool) {
	t.Helper()
	mustExec(t, db,
		"CREATE TABLE "+schema+".shard_meta (id TINYINT NOT NULL PRIMARY KEY, shard INT NOT NULL, server VARCHAR(64) NOT NULL DEFAULT '', frozen BOOLEAN NOT NULL DEFAULT FALSE)",
		fmt.Sprintf("INSERT INTO %s.shard_meta VALUES (1, %d, '%s', %t)", schema, shard, owner, frozen))
}

func TestWatcherFindsTheShardSchemas(t *testing.T) {
	ctx := context.Background()
	s, w := mustWatchedStack(t)
	live, err := w.liveSchemas(ctx)
	if err != nil || len(live) != 1 || !slices.Equal(live[0], s.shards[:]) {
		t.Fatalf("schemas %v, err %v; want %v (not %s, which has no outbox)", live, err, s.shards, s.ledger)
	}
	if _, err := NewWatcher(ctx, w.servers, s.db, s.js, "run-", `nothing\_like\_this%`); err == nil {
		t.Fatal("no schema matches: want an error")
	}
	if _, err := NewWatcher(ctx, nil, s.db, s.js, "run-", s.like); err == nil {
		t.Fatal("no server: want an error")
	}
}

func TestWatcherSeesEachQueueAndWaitsForTheLedger(t *testing.T) {
	ctx := context.Background()
	s, w := mustWatchedStack(t)
	a, b := s.shards[0], s.shards[1]
	mustExec(t, s.db,
		"INSERT INTO "+a+".accounts VALUES ('run-a', 5), ('other-x', 100)",
		"INSERT INTO "+b+".accounts VALUES ('run-b', 3)",
		"INSERT INTO "+a+".transfers VALUES ('t1', 'run-a', 'pending'), ('t2', 'other-x', 'completed')",
		"INSERT INTO "+b+".transfers VALUES ('t3', 'run-b', 'completed'), ('t4', 'run-b', 'refused')",
		"INSERT INTO "+b+".outbox VALUES (1, NULL), (2, NOW())",
		"INSERT INTO "+s.ledger+".ledger_accounts VALUES ('run-a', 5), ('run-b', 2)")
	if _, err := s.js.Publish(ctx, "wallet.0.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}

	q, err := w.queues(ctx)
	if err != nil || q.PendingTransfers != 1 || q.UnpublishedOutbox != 1 || q.LedgerPending != 1 || q.Clear() {
		t.Fatalf("queues %+v, err %v", q, err)
	}
	byStatus, err := w.TransfersByStatus(ctx)
	if err != nil || len(byStatus) != 3 || byStatus["pending"] != 1 || byStatus["completed"] != 1 || byStatus["refused"] != 1 {
		t.Fatalf("transfers by status %v, err %v (other-x's must not count)", byStatus, err)
	}
	balances, err := w.ShardBalances(ctx)
	if err != nil || len(balances) != 2 || balances["run-a"].String() != "5" || balances["run-b"].String() != "3" {
		t.Fatalf("shard balances %v, err %v", balances, err)
	}
	since := time.Now()
	if got, _, err := w.WaitCaughtUp(ctx, since, 0, time.Millisecond, io.Discard); err != nil || got.Clear() {
		t.Fatalf("no time to wait: %+v, err %v; want the backlog, not clear", got, err)
	}

	// The queues drain, but the ledger still has run-b wrong: not caught up.
	mustExec(t, s.db, "UPDATE "+a+".transfers SET status = 'completed'", "UPDATE "+b+".outbox SET published_at = NOW()")
	msgs, err := mustConsumer(t, s.js).Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.mismatches(ctx); err != nil || n != 1 {
		t.Fatalf("mismatches %d, err %v; want run-b", n, err)
	}
	mustExec(t, s.db, "UPDATE "+s.ledger+".ledger_accounts SET balance = 3 WHERE account_id = 'run-b'")
	got, caught, err := w.WaitCaughtUp(ctx, since, time.Minute, time.Millisecond, io.Discard)
	if err != nil || !got.Clear() {
		t.Fatalf("caught up: %+v, err %v", got, err)
	}
	if caught.After != since || caught.Before.Before(caught.After) {
		t.Fatalf("caught up between %v and %v; want after the wait began (%v)", caught.After, caught.Before, since)
	}
}

func mustConsumer(t *testing.T, js jetstream.JetStream) jetstream.Consumer {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream.PartitionName(0), ledgerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPickLiveCountsEachShardOnce(t *testing.T) {
	named := []string{"db1", "db2"}
	row := func(server int, schema, owner string, frozen bool) shardCopy {
		return shardCopy{server: server, schema: schema, hasMeta: true, hasRow: true, owner: owner, frozen: frozen}
	}
	tests := []struct {
		name   string
		names  []string
		copies []shardCopy
		want   [][]string // nil: errMoving
	}{
		{"the frozen old copy after a move is not counted", named,
			[]shardCopy{row(0, "s0", "db1", false), row(0, "s1", "db1", true), row(1, "s1", "db2", false)},
			[][]string{{"s0"}, {"s1"}}},
		{"a copy a move is building names its source: not counted", named,
			[]shardCopy{row(0, "s1", "db1", false), row(1, "s1", "db1", false)},
			[][]string{{"s1"}, nil}},
		{"a copy still loading, without its row yet, is not counted", named,
			[]shardCopy{row(0, "s1", "db1", false), {server: 1, schema: "s1", hasMeta: true}},
			[][]string{{"s1"}, nil}},
		{"a shard's only copy counts without its row", named,
			[]shardCopy{{server: 1, schema: "s1", hasMeta: true}},
			[][]string{nil, {"s1"}}},
		{"a stack from before moves: no shard_meta, every schema live", []string{""},
			[]shardCopy{{server: 0, schema: "s0"}, {server: 0, schema: "s1"}},
			[][]string{{"s0", "s1"}}},
		{"an unclaimed row names no server: live", named,
			[]shardCopy{row(1, "s0", "", false)},
			[][]string{nil, {"s0"}}},
		{"mid-switch, both copies frozen: no live copy", named,
			[]shardCopy{row(0, "s1", "db1", true), row(1, "s1", "db1", true)},
			nil},
		{"the only copy frozen", []string{""},
			[]shardCopy{row(0, "s0", "db1", false), row(0, "s1", "db1", true)},
			nil},
		{"unnamed servers cannot tell a building copy from the live one", []string{"", ""},
			[]shardCopy{row(0, "s1", "db1", false), row(1, "s1", "db1", false)},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickLive(tc.copies, tc.names)
			if tc.want == nil {
				if !errors.Is(err, errMoving) {
					t.Fatalf("got %v, err %v; want errMoving", got, err)
				}
				return
			}
			if err != nil || !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("got %v, err %v; want %v", got, err, tc.want)
			}
		})
	}
}

// Two servers, each shard's schema on both but live on the one its
// shard_meta names: every figure counts each shard once.
func TestWatcherReadsEachShardOnItsServer(t *testing.T) {
	ctx := context.Background()
	s, _ := mustWatchedStack(t)
	a, b := s.shards[0], s.shards[1]
	mustShardMeta(t, s.db, a, 0, "db1", false)
	mustShardMeta(t, s.db, b, 1, "db2", false)
	w := s.watcher(t, "db1", "db2")
	mustExec(t, s.db,
		"INSERT INTO "+a+".accounts VALUES ('run-a', 5)",
		"INSERT INTO "+b+".accounts VALUES ('run-b', 3)",
		"INSERT INTO "+a+".transfers VALUES ('t1', 'run-a', 'pending')",
		"INSERT INTO "+b+".transfers VALUES ('t2', 'run-b', 'pending'), ('t3', 'run-b', 'completed')",
		"INSERT INTO "+b+".outbox VALUES (1, NULL)")

	live, err := w.liveSchemas(ctx)
	if err != nil || !slices.EqualFunc(live, [][]string{{a}, {b}}, slices.Equal) {
		t.Fatalf("live %v, err %v; want %s on db1 and %s on db2", live, err, a, b)
	}
	q, err := w.queues(ctx)
	if err != nil || q.PendingTransfers != 2 || q.UnpublishedOutbox != 1 {
		t.Fatalf("queues %+v, err %v; want 2 pending and 1 unpublished, each shard once", q, err)
	}
	byStatus, err := w.TransfersByStatus(ctx)
	if err != nil || len(byStatus) != 2 || byStatus["pending"] != 2 || byStatus["completed"] != 1 {
		t.Fatalf("transfers by status %v, err %v", byStatus, err)
	}
	balances, err := w.ShardBalances(ctx)
	if err != nil || len(balances) != 2 || balances["run-a"].String() != "5" || balances["run-b"].String() != "3" {
		t.Fatalf("shard balances %v, err %v", balances, err)
	}
}

// A move's pause: the old copy is frozen and the new one not live yet.
// A look waits for the switch, then reads the new copy; one that may not
// wait fails.
func TestWatcherWaitsOutAMoveSwitch(t *testing.T) {
	ctx := context.Background()
	s, _ := mustWatchedStack(t)
	a, b := s.shards[0], s.shards[1]
	mustShardMeta(t, s.db, a, 0, "db1", false)
	mustShardMeta(t, s.db, b, 1, "db1", false)
	mustExec(t, s.db, "INSERT INTO "+a+".accounts VALUES ('run-a', 5)", "INSERT INTO "+b+".accounts VALUES ('run-b', 3)")
	w := s.watcher(t, "db1", "db2")
	mustExec(t, s.db, "UPDATE "+b+".shard_meta SET frozen = TRUE") // the move freezes db1's copy

	w.retryFor = 0
	if _, err := w.ShardBalances(ctx); !errors.Is(err, errMoving) {
		t.Fatalf("only a frozen copy, no time to wait: err %v, want errMoving", err)
	}
	w.retryFor = time.Minute
	var heard []error
	w.retrying = func(err error) {
		heard = append(heard, err)
		mustExec(t, s.db, "UPDATE "+b+".shard_meta SET server = 'db2', frozen = FALSE") // the switch
	}
	balances, err := w.ShardBalances(ctx)
	if err != nil || len(balances) != 2 || balances["run-b"].String() != "3" {
		t.Fatalf("after the switch: balances %v, err %v", balances, err)
	}
	if len(heard) != 1 || !errors.Is(heard[0], errMoving) {
		t.Fatalf("heard %v; want one errMoving", heard)
	}
}

// A move drops its old copy between a look's finding it and reading it:
// the look is tried again and no longer finds it. Other errors are not
// tried again.
func TestWatcherLooksAgainWhenASchemaVanishes(t *testing.T) {
	ctx := context.Background()
	s, w := mustWatchedStack(t)
	mustShardTables(t, s.db, s.spare)
	var seen [][]string
	err := w.look(ctx, func(live [][]string) error {
		seen = append(seen, live[0])
		if len(seen) == 1 {
			mustExec(t, s.db, "DROP DATABASE "+s.spare)
		}
		_, err := w.servers[0].DB.ExecContext(ctx, "SELECT COUNT(*) FROM "+live[0][len(live[0])-1]+".accounts")
		return err
	})
	if err != nil || len(seen) != 2 || !slices.Contains(seen[0], s.spare) || slices.Contains(seen[1], s.spare) {
		t.Fatalf("looks saw %v, err %v; want %s, then not", seen, err, s.spare)
	}

	boom := errors.New("boom")
	calls := 0
	if err := w.look(ctx, func([][]string) error { calls++; return boom }); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls; want boom after 1", err, calls)
	}
}
