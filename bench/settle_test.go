package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/testenv"
)

// watchedStack is a stand-in for the local stack: two shard schemas and a
// third without an outbox (not a shard; it holds the ledger's balances), a
// WALLET stream with the ledger's durable consumer.
type watchedStack struct {
	shards [2]string
	ledger string
	like   string
	js     jetstream.JetStream
}

func mustWatchedStack(t *testing.T) (*watchedStack, *Watcher) {
	t.Helper()
	ctx := context.Background()
	dsns := testenv.Databases(t, 3)
	var names [3]string
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
	s := &watchedStack{shards: [2]string{names[0], names[1]}, ledger: names[2],
		like: strings.ReplaceAll(strings.TrimSuffix(names[0], "0"), "_", `\_`) + "%"}
	for _, sh := range s.shards {
		mustExec(t, db,
			"CREATE TABLE "+sh+".accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)",
			"CREATE TABLE "+sh+".transfers (transaction_id CHAR(36) PRIMARY KEY, from_account VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL)",
			"CREATE TABLE "+sh+".outbox (id BIGINT PRIMARY KEY, published_at DATETIME(6) NULL)")
	}
	mustExec(t, db,
		"CREATE TABLE "+s.ledger+".accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)",
		"CREATE TABLE "+s.ledger+".transfers (transaction_id CHAR(36) PRIMARY KEY, from_account VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL)",
		"CREATE TABLE "+s.ledger+".ledger_accounts (account_id VARCHAR(64) PRIMARY KEY, balance DECIMAL(24,4) NOT NULL)")
	s.js = testenv.MustJetStream(t)
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{"wallet.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{Durable: ledgerConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(ctx, db, s.js, "run-", s.like)
	if err != nil {
		t.Fatal(err)
	}
	w.ledger = s.ledger
	return s, w
}

func TestWatcherFindsTheShardSchemas(t *testing.T) {
	s, w := mustWatchedStack(t)
	if len(w.schemas) != 2 || w.schemas[0] != s.shards[0] || w.schemas[1] != s.shards[1] {
		t.Fatalf("schemas %v, want %v (not %s, which has no outbox)", w.schemas, s.shards, s.ledger)
	}
	if _, err := NewWatcher(context.Background(), w.db, s.js, "run-", `nothing\_like\_this%`); err == nil {
		t.Fatal("no schema matches: want an error")
	}
}

func TestWatcherSeesEachQueueAndWaitsForTheLedger(t *testing.T) {
	ctx := context.Background()
	s, w := mustWatchedStack(t)
	a, b := s.shards[0], s.shards[1]
	mustExec(t, w.db,
		"INSERT INTO "+a+".accounts VALUES ('run-a', 5), ('other-x', 100)",
		"INSERT INTO "+b+".accounts VALUES ('run-b', 3)",
		"INSERT INTO "+a+".transfers VALUES ('t1', 'run-a', 'pending'), ('t2', 'other-x', 'completed')",
		"INSERT INTO "+b+".transfers VALUES ('t3', 'run-b', 'completed'), ('t4', 'run-b', 'refused')",
		"INSERT INTO "+b+".outbox VALUES (1, NULL), (2, NOW())",
		"INSERT INTO "+s.ledger+".ledger_accounts VALUES ('run-a', 5), ('run-b', 2)")
	if _, err := s.js.Publish(ctx, "wallet.x", []byte("{}")); err != nil {
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
	mustExec(t, w.db, "UPDATE "+a+".transfers SET status = 'completed'", "UPDATE "+b+".outbox SET published_at = NOW()")
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
	mustExec(t, w.db, "UPDATE "+s.ledger+".ledger_accounts SET balance = 3 WHERE account_id = 'run-b'")
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
	c, err := js.Consumer(context.Background(), streamName, ledgerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
