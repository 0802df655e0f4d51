package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a store of accounttest.Shards shards, the WALLET stream on an
// embedded JetStream and a saga runner over them.
type env struct {
	t  *testing.T
	f  *accounttest.Fixture
	js jetstream.JetStream
	st jetstream.Stream
	r  *Runner
}

func newEnv(t *testing.T, f *accounttest.Fixture, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	if err := f.Store.Migrate(ctx, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	js := testenv.MustJetStream(t)
	st, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxDeliver, cfg.RedriveAfter, cfg.InboxRetention, cfg.Poison = 20, time.Hour, time.Hour, deadletter.Handler
	r, err := NewRunner(js, f.Store, f.Writer, cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, f: f, js: js, st: st, r: r}
}

// relay publishes every shard's unpublished outbox rows, in order, as
// outbox-relay does, and returns how many.
func (e *env) relay() int {
	e.t.Helper()
	ctx := context.Background()
	n := 0
	for _, db := range e.f.DBs {
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
			if _, err := e.js.PublishMsg(ctx, ev.Msg()); err != nil {
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
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.r.Run(ctx); err != nil {
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

func (e *env) consumers() []string {
	e.t.Helper()
	var names []string
	l := e.st.ConsumerNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// One consumer carries the steps of every shard: transfers between all of
// them complete, each step once.
func TestOneConsumerCarriesEveryShardsSteps(t *testing.T) {
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
	if got := e.consumers(); !slices.Equal(got, []string{Durable}) {
		t.Fatalf("consumers %v, want only %s", got, Durable)
	}
}

// legacyConfig is the previous release's consumer of shard sh.
func legacyConfig(sh int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: legacyPrefix + fmt.Sprint(sh), DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: 20,
		FilterSubjects: []string{events.Topic(events.TransferDebited, sh), events.Topic(events.TransferCredited, sh),
			events.Topic(events.TransferCreditRejected, sh)}}
}

// oldRelease plays the previous release's consumer of shard sh: it fetches
// the one message waiting, applies it unless crash, acknowledges it
// unless crash, and returns its stream sequence.
func (e *env) oldRelease(c jetstream.Consumer, crash bool) uint64 {
	e.t.Helper()
	e.relay()
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	var seq uint64
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			e.t.Fatal(err)
		}
		seq = md.Sequence.Stream
		if crash {
			continue
		}
		ev, err := events.FromMsg(m.Subject(), m.Headers(), m.Data())
		if err != nil {
			e.t.Fatal(err)
		}
		op, sh, err := account.OpFor(ev, accounttest.Shards)
		if err != nil {
			e.t.Fatal(err)
		}
		if res := e.f.Writer.Do(context.Background(), sh, []account.Op{op}); res[0].Err != nil {
			e.t.Fatal(res[0].Err)
		}
		if err := m.DoubleAck(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
	if seq == 0 {
		e.t.Fatalf("%s had no message", c.CachedInfo().Name)
	}
	return seq
}

// The previous release's per-shard consumers are replaced: the one
// consumer starts one past their lowest ack floor, so a message one of
// them held unacknowledged (its process crashed) is delivered again and
// its transfer completes; messages they had acknowledged may come again
// and change nothing; the old consumers are deleted.
func TestReplacesThePerShardConsumers(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	ctx := context.Background()
	var ids []string
	legacy := make([]jetstream.Consumer, accounttest.Shards)
	for sh := range accounttest.Shards {
		ids = append(ids, accounttest.IDOn(sh))
		e.f.MustOpen(ids[sh], "10.00")
		c, err := e.st.CreateConsumer(ctx, legacyConfig(sh))
		if err != nil {
			t.Fatal(err)
		}
		legacy[sh] = c
	}
	// The old release completes two transfers, then crashes holding the
	// debit of a third.
	t0 := e.f.MustTransfer(ids[2], ids[3], "1.00")
	d0 := e.oldRelease(legacy[3], false)
	e.oldRelease(legacy[2], false)
	t1 := e.f.MustTransfer(ids[0], ids[1], "1.00")
	e.oldRelease(legacy[1], false)
	e.oldRelease(legacy[0], false)
	t2 := e.f.MustTransfer(ids[2], ids[3], "2.00")
	d2 := e.oldRelease(legacy[3], true)
	if st := e.status(t2); st != account.Pending {
		t.Fatalf("the third transfer is %s before the upgrade, want pending", st)
	}

	e.run()
	e.settled(t0, t1, t2)
	for id, want := range map[string]string{ids[0]: "9.00", ids[1]: "11.00", ids[2]: "7.00", ids[3]: "13.00"} {
		if b := e.f.Balance(id); b != want {
			t.Errorf("%s: balance %s, want %s", id, b, want)
		}
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := e.consumers(); !slices.Equal(got, []string{Durable}) {
			return fmt.Errorf("consumers %v, want only %s", got, Durable)
		}
		return nil
	})
	c, err := e.st.Consumer(ctx, Durable)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	if cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq <= d0 || cfg.OptStartSeq > d2 {
		t.Fatalf("%s starts %v at %d; want by start sequence after the first acknowledged debit (%d), at most at the unacknowledged one (%d)",
			Durable, cfg.DeliverPolicy, cfg.OptStartSeq, d0, d2)
	}
	t.Logf("%s starts at %d (acknowledged debit %d, unacknowledged %d)", Durable, cfg.OptStartSeq, d0, d2)

	// A restart finds nothing left to migrate and keeps the consumer.
	if err := e.r.migrate(ctx, ConsumerConfig(20)); err != nil {
		t.Fatal(err)
	}
	if c, err := e.st.Consumer(ctx, Durable); err != nil || c.CachedInfo().Config.OptStartSeq != cfg.OptStartSeq {
		t.Fatalf("after a second migration: %v", err)
	}
}

// A step published before the shard count grew names the old count's
// shard in its subject and payload: it is applied on the shard that holds
// the account now, and its answer goes to the source's shard now.
func TestAStepFromBeforeASplitGoesToTheAccountsShard(t *testing.T) {
	e := newEnv(t, accounttest.MustStore(t, groupcommit.Config{}), Config{})
	ctx := context.Background()
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
	debit := account.NewEvent(old.FromShard, events.TransferDebited, tr.TransactionID, old.ToShard, account.TransferPayload(old), time.Now())
	if _, err := e.js.PublishMsg(ctx, debit.Msg()); err != nil {
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
	ack, err := e.js.PublishMsg(ctx, ev.Msg())
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		ls, err := deadletter.List(ctx, e.f.Store.Shard(3), false)
		if err == nil && (len(ls) != 1 || ls[0].Consumer != Durable || ls[0].StreamSeq == nil || *ls[0].StreamSeq != ack.Sequence) {
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
	raw = &jetstream.RawStreamMsg{Subject: "wallet.transfer.debited.2", Data: []byte("{")}
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
	e := newEnv(t, f, Config{Patience: time.Second})
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
	errs := e.r.handle(ctx, []events.Event{debit(far), debit(near)})
	if took := time.Since(start); took > 3*time.Second || !errors.Is(errs[0], errServerStuck) || errs[1] != nil {
		t.Fatalf("batch took %s and answered %v; want the far step turned back after 1s and the near one applied", took, errs)
	}
	if bal := f.Balance(b); bal != "1.00" {
		t.Fatalf("near destination %s, want 1.00", bal)
	}
	start = time.Now()
	if errs := e.r.handle(ctx, []events.Event{debit(far)}); time.Since(start) > 100*time.Millisecond || !errors.Is(errs[0], errServerStuck) {
		t.Fatalf("the stalled server's next step took %s and answered %v; want turned back at once", time.Since(start), errs[0])
	}

	p.SetLatency(0)
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		return e.r.handle(ctx, []events.Event{debit(far)})[0]
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
