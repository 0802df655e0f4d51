package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	db     *sqlx.DB
	js     jetstream.JetStream
	stream jetstream.Stream
	// admin declares the lease bucket (outbox-relay provision's in a
	// deployment); js by default.
	admin jetstream.JetStream
}

func mustFixture(t testing.TB) fixture {
	t.Helper()
	return mustFixtureWindow(t, time.Hour)
}

// mustFixtureWindow is mustFixture with the stream's duplicate window.
func mustFixtureWindow(t testing.TB, window time.Duration) fixture {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), db, outbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	js := testenv.MustJetStream(t)
	s, err := stream.EnsurePartitions(context.Background(), js, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, js: js, stream: s[0], admin: js}
}

func (f fixture) append(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	err := database.InTx(context.Background(), f.db, func(tx *sqlx.Tx) error {
		evts := make([]events.Event, n)
		for i := range evts {
			ids[i] = uuid.NewString()
			evts[i] = events.Event{ID: ids[i], Type: events.AccountDeposited, Source: "/test", Subject: "acc",
				Topic: events.Topic(events.AccountDeposited, 0), Time: time.Now(), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		}
		return outbox.Writer{}.Append(context.Background(), tx, evts...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (f fixture) count(t *testing.T) uint64 {
	t.Helper()
	info, err := f.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func newRelay(t testing.TB, f fixture, cfg outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	return newRelayBeforeMark(t, f, cfg, nil)
}

// newRelayBeforeMark is newRelay with a hook run between JetStream's ack
// of a chunk and its mark. Fields a test leaves zero take outbox-relay's
// configured defaults (config.Defaults), except MaxInFlight, which takes
// BatchSize: a batch then goes out as one chunk, the simplest case, and
// Servers, which takes f.db as shard 0 alone on its server.
func newRelayBeforeMark(t testing.TB, f fixture, cfg outbox.RelayConfig, beforeMark func()) *outbox.Relay {
	t.Helper()
	if cfg.Servers == nil {
		cfg.Servers = outbox.EachOwnServer(f.db)
	}
	d := config.Defaults[config.OutboxRelay]().Relay
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = d.MaxAttempts
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = d.PublishTimeout
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = cfg.BatchSize
	}
	if cfg.Shards == 0 {
		// One partition: every shard's rows go to the fixture's stream.
		cfg.Shards, cfg.Partitions = 64, 1
	}
	// The lease bucket is outbox-relay provision's; the relay only looks
	// it up.
	if cfg.LeaseTTL > 0 {
		if _, err := f.admin.CreateOrUpdateKeyValue(context.Background(), outbox.LeaseBucketConfig(cfg.LeaseTTL, 1)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := outbox.NewRelayBeforeMark(f.js, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), beforeMark)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The relay has no defaults of its own: each number left zero is refused,
// not replaced.
func TestNewRelayRequiresEveryNumber(t *testing.T) {
	f := mustFixture(t)
	full := outbox.RelayConfig{Servers: outbox.EachOwnServer(f.db), BatchSize: 10, MaxInFlight: 10, MaxAttempts: 5,
		PollInterval: time.Millisecond, PublishTimeout: time.Second, LeaseTTL: time.Second, Owner: "t", Shards: 4, Partitions: 2}
	for name, zero := range map[string]func(*outbox.RelayConfig){
		"Servers":        func(c *outbox.RelayConfig) { c.Servers = nil },
		"BatchSize":      func(c *outbox.RelayConfig) { c.BatchSize = 0 },
		"MaxInFlight":    func(c *outbox.RelayConfig) { c.MaxInFlight = 0 },
		"MaxAttempts":    func(c *outbox.RelayConfig) { c.MaxAttempts = 0 },
		"PollInterval":   func(c *outbox.RelayConfig) { c.PollInterval = 0 },
		"PublishTimeout": func(c *outbox.RelayConfig) { c.PublishTimeout = 0 },
		"LeaseTTL":       func(c *outbox.RelayConfig) { c.LeaseTTL = 0 },
		"Shards":         func(c *outbox.RelayConfig) { c.Shards = 0 },
		"Partitions":     func(c *outbox.RelayConfig) { c.Partitions = 0 },
		"Partitions 3":   func(c *outbox.RelayConfig) { c.Partitions = 3 }, // does not divide 4 shards
	} {
		cfg := full
		zero(&cfg)
		if _, err := outbox.NewRelay(f.js, cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s 0: NewRelay accepted it", name)
		}
	}
	if _, err := outbox.NewRelay(f.js, full, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("every number set: %v", err)
	}
}

func TestRelayPublishesInOrderAndMarks(t *testing.T) {
	f := mustFixture(t)
	ids := f.append(t, 25)
	r := newRelay(t, f, outbox.RelayConfig{BatchSize: 10, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second})
	total := 0
	for {
		n, err := r.RelayOnce(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 25 || f.count(t) != 25 {
		t.Fatalf("relayed %d, stream holds %d, want 25", total, f.count(t))
	}
	for i, id := range ids {
		msg, err := f.stream.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("ce-id") != id || msg.Header.Get("ce-type") != "wallet.account.deposited.v1" {
			t.Fatalf("message %d is %v, want %s in outbox order", i+1, msg.Header, id)
		}
	}
	var unpublished int
	_ = f.db.Get(&unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
	if unpublished != 0 {
		t.Fatalf("%d rows left unpublished", unpublished)
	}
}

// A crash after publishing but before marking re-publishes the batch; the
// stream's duplicate window must drop every copy.
func TestRelayRepublishIsDeduplicated(t *testing.T) {
	f := mustFixture(t)
	f.append(t, 5)
	crash := newRelayBeforeMark(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second},
		func() { panic("crash before mark") })
	func() {
		defer func() { _ = recover() }()
		_, _ = crash.RelayOnce(context.Background(), 0)
	}()
	if f.count(t) != 5 {
		t.Fatalf("stream holds %d after the first publish, want 5", f.count(t))
	}
	n, err := newRelay(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second}).RelayOnce(context.Background(), 0)
	if err != nil || n != 5 {
		t.Fatalf("second relay marked %d, err %v", n, err)
	}
	if f.count(t) != 5 {
		t.Fatalf("stream holds %d after re-publishing, want 5: duplicates got through", f.count(t))
	}
}

// Rows that commit after a later id was already relayed must still go out:
// the relay selects unpublished rows, it does not advance a cursor.
func TestRelayPublishesLateCommits(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	slow, err := f.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	late := events.Event{ID: uuid.NewString(), Type: events.AccountOpened, Source: "/test", Subject: "late",
		Topic: events.Topic(events.AccountOpened, 0), Time: time.Now(), Data: []byte(`{}`)}
	if err := (outbox.Writer{}).Append(ctx, slow, late); err != nil {
		t.Fatal(err)
	}
	f.append(t, 3) // higher ids, committed first
	r := newRelay(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second})
	if n, err := r.RelayOnce(ctx, 0); err != nil || n != 3 {
		t.Fatalf("first pass marked %d, err %v", n, err)
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.RelayOnce(ctx, 0); err != nil || n != 1 {
		t.Fatalf("late row: marked %d, err %v", n, err)
	}
	if f.count(t) != 4 {
		t.Fatalf("stream holds %d, want 4", f.count(t))
	}
}

// Two relays on one shard: only the lease holder publishes; when it stops,
// the other takes over and publishes what came after.
func TestRelayLeaseHandsOver(t *testing.T) {
	f := mustFixture(t)
	var published [2]atomic.Int64
	relay := func(name string, i int) *outbox.Relay {
		return newRelayBeforeMark(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: 5 * time.Millisecond, Owner: name,
			LeaseTTL: 300 * time.Millisecond}, func() { published[i].Add(1) })
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA := make(chan error, 1)
	go func() { doneA <- relay("a", 0).Run(ctxA) }()
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		f.append(t, 1)
		if published[0].Load() == 0 {
			return fmt.Errorf("relay a has not published yet")
		}
		return nil
	})
	go func() { _ = relay("b", 1).Run(ctxB) }()
	f.append(t, 5)
	time.Sleep(200 * time.Millisecond)
	if published[1].Load() != 0 {
		t.Fatal("relay b published while a held the lease")
	}
	stopA()
	<-doneA
	f.append(t, 3)
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		var unpublished int
		if err := f.db.Get(&unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"); err != nil {
			return err
		}
		if unpublished != 0 || published[1].Load() == 0 {
			return fmt.Errorf("%d rows unpublished, relay b published %d batches", unpublished, published[1].Load())
		}
		return nil
	})
	var total int
	_ = f.db.Get(&total, "SELECT COUNT(*) FROM outbox")
	if got := f.count(t); got != uint64(total) {
		t.Fatalf("stream holds %d messages for %d rows", got, total)
	}
}

// A shard that moves to another server is followed: the relay publishes
// what the new copy holds, and a row the copy shares with the old one
// (copied before it was marked) reaches the stream once.
func TestRelayFollowsAMovedShard(t *testing.T) {
	f := mustFixture(t)
	moved := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), moved, outbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	// Shard 0 on server a, then on server b: each its own pool, in its
	// default schema.
	var onB atomic.Bool
	servers := func() []outbox.Server {
		a, b := outbox.Server{Name: "a", DB: f.db}, outbox.Server{Name: "b", DB: moved}
		if onB.Load() {
			b.Shards = []outbox.Shard{{N: 0}}
		} else {
			a.Shards = []outbox.Shard{{N: 0}}
		}
		return []outbox.Server{a, b}
	}
	r := newRelay(t, f, outbox.RelayConfig{Servers: servers, BatchSize: 10, PollInterval: 10 * time.Millisecond, LeaseTTL: time.Second,
		Owner: "r1"})
	run(t, r)
	before := f.append(t, 3)
	f.waitAllPublished(t)

	// The copy on the new server has the old rows, unpublished as copied
	// in the middle of a batch, and new ones written after the move.
	g := fixture{db: moved, js: f.js, stream: f.stream, admin: f.admin}
	var rows []struct {
		EventID string `db:"event_id"`
	}
	if err := f.db.Select(&rows, "SELECT event_id FROM outbox ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if _, err := moved.Exec(`INSERT INTO outbox (event_id, event_type, topic, source, subject, data, occurred_at)
		SELECT event_id, event_type, topic, source, subject, data, occurred_at FROM ` + "`" + dbName(t, f.db) + "`" + `.outbox ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	onB.Store(true)
	after := g.append(t, 2)
	g.waitAllPublished(t)
	if n := f.count(t); n != uint64(len(before)+len(after)) {
		t.Fatalf("%d messages in the stream, want %d: each row once", n, len(before)+len(after))
	}
	if len(rows) != len(before) {
		t.Fatalf("%d rows on the old copy, want %d", len(rows), len(before))
	}
}

// holder returns the owner named in server's lease, "" while nobody
// holds it.
func (f fixture) holder(t testing.TB, server string) string {
	t.Helper()
	ctx := context.Background()
	kv, err := f.js.KeyValue(ctx, outbox.LeaseBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, server)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	owner, _, _ := strings.Cut(string(e.Value()), " ")
	return owner
}

// waitHolder waits until owner holds server's lease.
func (f fixture) waitHolder(t testing.TB, server, owner string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := f.holder(t, server); got != owner {
			return fmt.Errorf("lease on %s held by %q, want %q", server, got, owner)
		}
		return nil
	})
}

func dbName(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var name string
	if err := db.Get(&name, "SELECT DATABASE()"); err != nil {
		t.Fatal(err)
	}
	return name
}

// A relay that finds its lease taken stops publishing the server's shards
// at its next renewal, and takes the lease again once the other holder
// lets it expire.
func TestRelayStopsWhenLeaseLost(t *testing.T) {
	f := mustFixture(t)
	const ttl = 3 * time.Second
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: 10 * time.Millisecond, Owner: "t", LeaseTTL: ttl}))
	f.waitHolder(t, "shard0", "t")
	kv, err := f.js.KeyValue(context.Background(), outbox.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	// Another relay's lease, as if it had created the key after this one's
	// expired: never renewed, it expires a TTL from now.
	if _, err := kv.Put(context.Background(), "shard0", []byte("other 0")); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	time.Sleep(ttl / 2) // past this relay's next renewal, at a third of the TTL
	f.append(t, 3)
	outbox.NewNotifier(f.js.Conn()).Committed(0)
	time.Sleep(ttl / 6)
	if n := unpublished(t, f.db); time.Since(taken) < ttl && n != 3 {
		t.Fatalf("%d of 3 rows unpublished while another relay held the lease", n)
	}
	f.waitAllPublished(t)
	if got := f.holder(t, "shard0"); got != "t" || time.Since(taken) < ttl {
		t.Fatalf("published %v after the other lease was written, now held by %q", time.Since(taken), got)
	}
}

// A relay limited to one server (RelayConfig.Serves, relay.servers)
// publishes that server's shards and never takes the other server's
// lease, though it sees both and nobody else holds it.
func TestRelayServesOnlyItsServers(t *testing.T) {
	f := mustFixture(t)
	other := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), other, outbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	g := fixture{db: other, js: f.js, stream: f.stream, admin: f.admin}
	const ttl = 500 * time.Millisecond
	run(t, newRelay(t, f, outbox.RelayConfig{Servers: outbox.EachOwnServer(f.db, other), Serves: []string{"shard0"},
		BatchSize: 10, PollInterval: 10 * time.Millisecond, LeaseTTL: ttl, Owner: "node0"}))
	f.append(t, 3)
	g.append(t, 2)
	f.waitHolder(t, "shard0", "node0")
	f.waitAllPublished(t)
	deadline := time.Now().Add(4 * ttl)
	for time.Now().Before(deadline) {
		if h := f.holder(t, "shard1"); h != "" {
			t.Fatalf("shard1's lease held by %q, want nobody: the relay serves shard0 only", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := unpublished(t, other); n != 2 {
		t.Fatalf("%d unpublished rows on shard1, want its 2: no relay serves it", n)
	}
	if n := f.count(t); n != 3 {
		t.Fatalf("%d messages in the stream, want shard0's 3", n)
	}
}
