package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a store of accounttest.Shards shards, the partitions' streams on
// an embedded JetStream and a saga runner over them. Unless cfg says
// otherwise there are 2 partitions: shards 0 and 1 feed WALLET_0, shards 2
// and 3 WALLET_1.
type env struct {
	t   *testing.T
	f   *accounttest.Fixture
	js  jetstream.JetStream
	st  []jetstream.Stream // by partition
	cfg Config
	r   *Runner
}

func newEnv(t *testing.T, f *accounttest.Fixture, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	if err := f.Store.Migrate(ctx, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 2
	}
	js := testenv.MustJetStream(t)
	st, err := stream.EnsurePartitions(ctx, js, stream.Config{Partitions: cfg.Partitions, Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxDeliver, cfg.RedriveAfter, cfg.InboxRetention, cfg.Poison = 20, time.Hour, time.Hour, deadletter.Handler
	e := &env{t: t, f: f, js: js, st: st, cfg: cfg}
	e.r = e.runner(cfg.Consume...)
	return e
}

// runner is a saga runner of the env consuming partitions (all if none).
func (e *env) runner(partitions ...int) *Runner {
	e.t.Helper()
	cfg := e.cfg
	cfg.Consume = partitions
	r, err := NewRunner(e.js, e.f.Store, e.f.Writer, cfg, slog.New(slog.NewTextHandler(testWriter{e.t}, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// publish publishes ev, written by shard's outbox, as the relay does: its
// fact, and its step copy if another partition acts on it.
func (e *env) publish(shard int, ev events.Event) error {
	subjects, err := outbox.Route{Shard: shard, Shards: accounttest.Shards, Partitions: e.cfg.Partitions}.Subjects(ev.Topic)
	if err != nil {
		return err
	}
	for _, subject := range subjects {
		m := ev
		m.Topic = subject
		if _, err := e.js.PublishMsg(context.Background(), m.Msg()); err != nil {
			return err
		}
	}
	return nil
}

// relay publishes every shard's unpublished outbox rows, in order, as
// outbox-relay does, and returns how many.
func (e *env) relay() int {
	e.t.Helper()
	n := 0
	for sh, db := range e.f.DBs {
		var rows []struct {
			ID      int64     `db:"id"`
			EventID string    `db:"event_id"`
			Type    string    `db:"event_type"`
			Topic   string    `db:"topic"`
			Source  string    `db:"source"`
			Subject string    `db:"subject"`
			Data    string    `db:"data"`
			At      time.Time `db:"occurred_at"`
		}
		if err := db.Select(&rows, `SELECT id, event_id, event_type, topic, source, subject, data, occurred_at
			FROM outbox WHERE published_at IS NULL ORDER BY id`); err != nil {
			e.t.Error(err)
			return n
		}
		for _, r := range rows {
			ev := events.Event{ID: r.EventID, Type: r.Type, Topic: r.Topic, Source: r.Source, Subject: r.Subject, Time: r.At, Data: []byte(r.Data)}
			if err := e.publish(sh, ev); err != nil {
				e.t.Error(err)
				return n
			}
			if _, err := db.Exec("UPDATE outbox SET published_at = NOW(6) WHERE id = ?", r.ID); err != nil {
				e.t.Error(err)
				return n
			}
			n++
		}
	}
	return n
}

// run runs the runner and a relay until the test ends.
func (e *env) run() { e.runWith(e.r) }

// runWith runs r and a relay until the test ends.
func (e *env) runWith(r *Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(ctx); err != nil {
			e.t.Error(err)
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			e.relay()
			time.Sleep(10 * time.Millisecond)
		}
	})
	e.t.Cleanup(func() { cancel(); wg.Wait() })
}

func (e *env) status(tr account.Transfer) account.TransferStatus {
	e.t.Helper()
	got, err := e.f.Store.GetTransfer(context.Background(), account.TransferQuery{TransactionID: tr.TransactionID, From: tr.From})
	if err != nil {
		e.t.Fatal(err)
	}
	return got.Status
}

// settled waits until every transfer has completed.
func (e *env) settled(trs ...account.Transfer) {
	e.t.Helper()
	testenv.Eventually(e.t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, tr := range trs {
			if st := e.status(tr); st != account.Completed {
				return fmt.Errorf("transfer %s is %s", tr.TransactionID, st)
			}
		}
		return nil
	})
}

// consumers lists partition p's consumers.
func (e *env) consumers(p int) []string {
	e.t.Helper()
	var names []string
	l := e.st[p].ConsumerNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// One consumer per partition carries the steps of its shards: transfers
// between all of them, within and across partitions, complete, each step
// once.
func TestEachPartitionsConsumerCarriesItsShardsSteps(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	const n = accounttest.Shards
	var ids []string
	for sh := range n {
		ids = append(ids, accounttest.IDOn(sh))
		e.f.MustOpen(ids[sh], "10.00")
	}
	e.run()
	var trs []account.Transfer
	for sh := range n {
		trs = append(trs, e.f.MustTransfer(ids[sh], ids[(sh+1)%n], "1.00"), e.f.MustTransfer(ids[sh], ids[(sh+2)%n], "2.00"))
	}
	e.settled(trs...)
	for _, id := range ids {
		if b := e.f.Balance(id); b != "10.00" {
			t.Errorf("%s: balance %s, want 10.00 (each sent and received 3.00)", id, b)
		}
	}
	for p := range 2 {
		if got := e.consumers(p); !slices.Equal(got, []string{Durable}) {
			t.Fatalf("partition %d's consumers %v, want only %s", p, got, Durable)
		}
	}
}

// A step published before the shard count grew names the old count's
// shard in its subject and payload: it is applied on the shard that holds
// the account now, and its answer goes to the source's shard now.
func TestAStepFromBeforeASplitGoesToTheAccountsShard(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	const oldShards = 2
	src, dst := accounttest.IDOn(3), accounttest.IDOn(2)
	e.f.MustOpen(src, "10.00")
	e.f.MustOpen(dst, "")
	tr := e.f.MustTransfer(src, dst, "4.00")
	// The debit as the release with two shards sent it, instead of the
	// one this store wrote.
	if _, err := e.f.DBs[3].Exec("UPDATE outbox SET published_at = NOW(6) WHERE event_type = ? AND subject = ?",
		events.TransferDebited, tr.TransactionID); err != nil {
		t.Fatal(err)
	}
	old := tr
	old.FromShard, old.ToShard = shard.Of(src, oldShards), shard.Of(dst, oldShards)
	if old.FromShard != 1 || old.ToShard != 0 {
		t.Fatalf("with two shards the transfer goes %d -> %d, want 1 -> 0", old.FromShard, old.ToShard)
	}
	// Written by shard 3 now (partition 1) for old shard 0 (partition 0):
	// a fact in partition 1, whose consumer acts on it (the account is on
	// shard 2 now), and a step copy in partition 0, whose consumer leaves
	// it.
	debit := account.NewEvent(old.FromShard, events.TransferDebited, tr.TransactionID, old.ToShard, account.TransferPayload(old), time.Now())
	if err := e.publish(3, debit); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.settled(tr)
	if b, s := e.f.Balance(dst), e.f.Balance(src); b != "4.00" || s != "6.00" {
		t.Fatalf("destination %s, source %s; want 4.00 and 6.00", b, s)
	}
	var credits int
	if err := e.f.DBs[2].Get(&credits, "SELECT COUNT(*) FROM credits WHERE transaction_id = ?", tr.TransactionID); err != nil || credits != 1 {
		t.Fatalf("%d credit records on shard 2 (%v), want 1", credits, err)
	}
	var topic string
	if err := e.f.DBs[2].Get(&topic, "SELECT topic FROM outbox WHERE event_type = ? AND subject = ?", events.TransferCredited, tr.TransactionID); err != nil ||
		topic != events.Topic(events.TransferCredited, 3) {
		t.Fatalf("credited sent to %q (%v), want shard 3's", topic, err)
	}
}

// A step that can never apply is recorded as a dead letter in the shard of
// its account now, whatever shard its subject names; so is a message
// JetStream drops (DeadLetters).
func TestDeadLettersGoToTheAccountsShard(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	ctx := context.Background()
	src := accounttest.IDOn(3)
	unknown := account.Transfer{TransactionID: uuid.NewString(), From: src, To: accounttest.IDOn(1), Amount: accounttest.USD(t, "1.00"), FromShard: 0, ToShard: 1}
	ev := account.NewEvent(1, events.TransferCredited, unknown.TransactionID, 0, account.TransferPayload(unknown), time.Now())
	ev.Topic = events.FactSubject(1, ev.Topic) // as shard 3 would send it: partition 1's, which acts on shard 3
	ack, err := e.js.PublishMsg(ctx, ev.Msg())
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		ls, err := deadletter.List(ctx, e.f.Store.Shard(3), false)
		if err == nil && (len(ls) != 1 || ls[0].Consumer != "saga@WALLET_1" || ls[0].StreamSeq == nil || *ls[0].StreamSeq != ack.Sequence) {
			err = fmt.Errorf("shard 3's dead letters: %+v", ls)
		}
		return err
	})
	for _, sh := range []int{0, 1, 2} {
		if ls, err := deadletter.List(ctx, e.f.Store.Shard(sh), true); err != nil || len(ls) != 0 {
			t.Errorf("shard %d holds %d dead letters (%v), want none", sh, len(ls), err)
		}
	}

	data, _ := json.Marshal(account.TransferPayload(unknown))
	m := ev.Msg()
	raw := &jetstream.RawStreamMsg{Subject: m.Subject, Header: m.Header, Data: data}
	if got := e.r.DeadLetters(raw); got != e.f.Store.Shard(3) {
		t.Errorf("a dropped step's dead letter goes to %v, want shard 3's", got)
	}
	if got := e.r.DeadLetters(nil); got != e.f.Store.Shard(0) {
		t.Errorf("a dropped message the stream lost goes to %v, want shard 0's", got)
	}
	raw = &jetstream.RawStreamMsg{Subject: "wallet.1.transfer.debited.2", Data: []byte("{")}
	if got := e.r.DeadLetters(raw); got != e.f.Store.Shard(2) {
		t.Errorf("an unreadable message's dead letter goes to %v, want its subject's shard 2", got)
	}
}

// A server that does not answer does not hold back the others' steps,
// which share the consumer: a batch waits for it Patience at most, its
// steps come again later, and for a while its next steps are turned back
// at once. Once it answers again its steps apply, once.
func TestAStalledServerDoesNotHoldBackTheOthers(t *testing.T) {
	dsns := testenv.Databases(t, accounttest.Shards)
	p := testenv.StartProxy(t, proxyTarget(t, dsns[2]))
	dsns[2], dsns[3] = p.DSN(dsns[2]), p.DSN(dsns[3]) // shards 2 and 3 are on a second server
	f := accounttest.MustStoreOn(t, dsns, groupcommit.Config{})
	// One partition: both servers' steps share the consumer.
	e := newEnv(t, f, Config{Patience: time.Second, Partitions: 1})
	if f.Store.Servers() != 2 || f.Store.Server(1) == f.Store.Server(2) {
		t.Fatalf("%d servers; want shards 0-1 and 2-3 on two", f.Store.Servers())
	}
	a, b, c := accounttest.IDOn(0), accounttest.IDOn(1), accounttest.IDOn(2)
	f.MustOpen(a, "10.00")
	f.MustOpen(b, "")
	f.MustOpen(c, "")
	near, far := f.MustTransfer(a, b, "1.00"), f.MustTransfer(a, c, "2.00")
	debit := func(tr account.Transfer) events.Event {
		var r struct {
			ID    string `db:"event_id"`
			Topic string `db:"topic"`
			Data  string `db:"data"`
		}
		if err := f.DBs[0].Get(&r, "SELECT event_id, topic, data FROM outbox WHERE event_type = ? AND subject = ?",
			events.TransferDebited, tr.TransactionID); err != nil {
			t.Fatal(err)
		}
		return events.Event{ID: r.ID, Type: events.TransferDebited, Topic: r.Topic, Data: []byte(r.Data)}
	}
	ctx := context.Background()

	p.SetLatency(5 * time.Second)
	start := time.Now()
	errs := e.r.handle(ctx, 0, []events.Event{debit(far), debit(near)})
	if took := time.Since(start); took > 3*time.Second || !errors.Is(errs[0], errServerStuck) || errs[1] != nil {
		t.Fatalf("batch took %s and answered %v; want the far step turned back after 1s and the near one applied", took, errs)
	}
	if bal := f.Balance(b); bal != "1.00" {
		t.Fatalf("near destination %s, want 1.00", bal)
	}
	start = time.Now()
	if errs := e.r.handle(ctx, 0, []events.Event{debit(far)}); time.Since(start) > 100*time.Millisecond || !errors.Is(errs[0], errServerStuck) {
		t.Fatalf("the stalled server's next step took %s and answered %v; want turned back at once", time.Since(start), errs[0])
	}

	p.SetLatency(0)
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		return e.r.handle(ctx, 0, []events.Event{debit(far)})[0]
	})
	if bal := f.Balance(c); bal != "2.00" {
		t.Fatalf("far destination %s, want 2.00: credited once", bal)
	}
}

// proxyTarget is the host:port a DSN names.
func proxyTarget(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Addr
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// A transfer across partitions: the debit is a fact in the source's
// partition and a step copy in the destination's. The destination's
// partition credits from the copy; the source's partition leaves the fact
// (no second credit) and settles from the copy of the credited event.
func TestACrossPartitionStepIsTakenFromItsCopyOnce(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	src, dst := accounttest.IDOn(0), accounttest.IDOn(2) // partitions 0 and 1
	e.f.MustOpen(src, "10.00")
	e.f.MustOpen(dst, "")
	tr := e.f.MustTransfer(src, dst, "4.00")

	// Only partition 1's consumer runs: the credit comes from the copy.
	e.runWith(e.runner(1))
	testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if b := e.f.Balance(dst); b != "4.00" {
			return fmt.Errorf("destination %s, want 4.00", b)
		}
		return nil
	})
	drained := func(p int) func() error {
		return func() error {
			c, err := e.js.Consumer(context.Background(), stream.PartitionName(p), Durable)
			if err != nil {
				return err
			}
			info, err := c.Info(context.Background())
			if err == nil && (info.NumPending != 0 || info.NumAckPending != 0) {
				err = fmt.Errorf("%s: %d pending, %d unacknowledged", stream.PartitionName(p), info.NumPending, info.NumAckPending)
			}
			return err
		}
	}
	// The credited event's fact (partition 1, acted on by shard 0 of
	// partition 0) is acknowledged unacted; the transfer waits for
	// partition 0.
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(1))
	if st := e.status(tr); st != account.Pending {
		t.Fatalf("transfer %s before partition 0's consumer ran, want pending", st)
	}
	if got := e.consumers(0); len(got) != 0 {
		t.Fatalf("partition 0's consumers %v: the runner of partition 1 made one", got)
	}

	// Partition 0's consumer: the debit's fact is left, the credited copy
	// settles.
	e.runWith(e.runner(0))
	e.settled(tr)
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(0))
	if b, s := e.f.Balance(dst), e.f.Balance(src); b != "4.00" || s != "6.00" {
		t.Fatalf("destination %s, source %s; want 4.00 and 6.00: credited once", b, s)
	}
	var credits int
	if err := e.f.DBs[2].Get(&credits, "SELECT COUNT(*) FROM credits WHERE transaction_id = ?", tr.TransactionID); err != nil || credits != 1 {
		t.Fatalf("%d credit records (%v), want 1", credits, err)
	}
	// Each partition holds what the ADR says: the debit's fact, the
	// credited copy and the completion in 0, the debit's copy and the
	// credited fact in 1.
	for p, want := range map[int][]string{
		0: {"saga.0.transfer.credited.0", "wallet.0.transfer.completed.0", "wallet.0.transfer.debited.2"},
		1: {"saga.1.transfer.debited.2", "wallet.1.transfer.credited.0"},
	} {
		var got []string
		info, err := e.st[p].Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := e.st[p].GetMsg(context.Background(), seq)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.Subject, ".transfer.") {
				got = append(got, m.Subject)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("partition %d holds %v, want %v", p, got, want)
		}
	}
}

// An instance consumes only the partitions it is given.
func TestRunnerRefusesUnknownPartitions(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	cfg := e.cfg
	cfg.Consume = []int{2}
	if _, err := NewRunner(e.js, e.f.Store, e.f.Writer, cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("partition 2 of 2 accepted")
	}
	cfg.Consume, cfg.Partitions = nil, 3
	if _, err := NewRunner(e.js, e.f.Store, e.f.Writer, cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("3 partitions of 4 shards accepted")
	}
	if got := e.runner(1).Streams(); !slices.Equal(got, []string{"WALLET_1"}) {
		t.Fatalf("Streams() = %v, want WALLET_1", got)
	}
}
