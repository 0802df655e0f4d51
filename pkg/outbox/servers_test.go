package outbox_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// schemas creates n migrated outbox schemas on the test server and returns
// their names.
func schemas(t testing.TB, n int) []string {
	t.Helper()
	pool := serverPool(t)
	names := make([]string, n)
	for i, dsn := range testenv.Databases(t, n) {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = cfg.DBName
		if err := database.Migrate(context.Background(), database.Schema{Pool: pool, Name: names[i]}, outbox.Migrations()); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// serverPool opens a pool on the test server without a schema, as the
// relay's server pools are.
func serverPool(t testing.TB) *sqlx.DB {
	t.Helper()
	return testenv.MustOpen(t, os.Getenv(testenv.EnvMySQL))
}

// countingPool is serverPool through a driver that counts the statements
// the pool sends (queries, executions, prepares): the relay's load on a
// server, measured on a real one.
func countingPool(t testing.TB) (*sqlx.DB, *atomic.Int64) {
	t.Helper()
	cfg, err := mysql.ParseDSN(os.Getenv(testenv.EnvMySQL))
	if err != nil {
		t.Fatal(err)
	}
	// As database.Open sets them.
	cfg.ParseTime, cfg.Loc, cfg.InterpolateParams = true, time.UTC, true
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := new(atomic.Int64)
	db := sqlx.NewDb(sql.OpenDB(countingConnector{c, n}), "mysql")
	t.Cleanup(func() { db.Close() })
	return db, n
}

type countingConnector struct {
	driver.Connector
	n *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

// countingConn passes everything on to the MySQL driver's connection,
// counting statements; it forwards each optional interface that driver
// implements, so database/sql uses the connection as it would the driver's.
type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.n.Add(1)
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.n.Add(1)
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *countingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *countingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *countingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(v)
}

// shardsOf places schemas[i] as shard first+i.
func shardsOf(first int, schemas []string) []outbox.Shard {
	out := make([]outbox.Shard, len(schemas))
	for i, s := range schemas {
		out[i] = outbox.Shard{N: first + i, Schema: s}
	}
	return out
}

// appendTo commits n events to shard sh's outbox on pool and returns their
// ids in commit order.
func appendTo(t testing.TB, pool *sqlx.DB, sh outbox.Shard, n int) []string {
	t.Helper()
	ids, err := appendEvents(pool, sh, n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// appendEvents is appendTo for a goroutine of a test.
func appendEvents(pool *sqlx.DB, sh outbox.Shard, n int) ([]string, error) {
	ids := make([]string, n)
	evts := make([]events.Event, n)
	for i := range evts {
		ids[i] = uuid.NewString()
		evts[i] = events.Event{ID: ids[i], Type: events.AccountDeposited, Source: "/test", Subject: "acc",
			Topic: events.Topic(events.AccountDeposited, sh.N), Time: time.Now(), Data: []byte(fmt.Sprintf(`{"shard":%d,"n":%d}`, sh.N, i))}
	}
	err := database.InTx(context.Background(), database.Schema{Pool: pool, Name: sh.Schema}, func(tx *sqlx.Tx) error {
		return outbox.Writer{}.Append(context.Background(), tx, evts...)
	})
	return ids, err
}

// unpublishedOn counts the unpublished rows of shards on pool.
func unpublishedOn(t testing.TB, pool *sqlx.DB, shards []outbox.Shard) int {
	t.Helper()
	total := 0
	for _, sh := range shards {
		var n int
		if err := pool.Get(&n, "SELECT COUNT(*) FROM `"+sh.Schema+"`.outbox WHERE published_at IS NULL"); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// natsFixture is a fixture on a NATS server of its own, for tests that
// look at the server's subscriptions or connect more than once.
func natsFixture(t testing.TB) (fixture, *server.Server) {
	t.Helper()
	srv := testenv.NATS(t)
	js := connectJS(t, srv.ClientURL())
	s, err := stream.EnsurePartitions(context.Background(), js, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{js: js, stream: s[0], admin: js}, srv
}

// connectJS connects to url; the connection closes when the test ends.
func connectJS(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// wantInOrder checks that the stream holds each id of every list once,
// and each list's ids in its order.
func (f fixture) wantInOrder(t *testing.T, lists ...[]string) {
	t.Helper()
	got := f.streamIDs(t)
	total := 0
	at := map[string]int{}
	for i, id := range got {
		if _, dup := at[id]; dup {
			t.Fatalf("event %s is in the stream twice", id)
		}
		at[id] = i
	}
	for l, ids := range lists {
		total += len(ids)
		for i, id := range ids {
			if _, ok := at[id]; !ok {
				t.Fatalf("list %d: event %d (%s) is not in the stream", l, i, id)
			}
			if i > 0 && at[id] < at[ids[i-1]] {
				t.Fatalf("list %d: event %d went out before event %d", l, i, i-1)
			}
		}
	}
	if len(got) != total {
		t.Fatalf("stream holds %d messages, want %d", len(got), total)
	}
}

// 64 shards on one server are published by one worker under one lease and
// one wake-up subscription: every row once, each shard's rows in order,
// each row woken for published although the poll interval is an hour, and
// every published row pruned.
func TestRelayManyShardsOneServer(t *testing.T) {
	const n = 64
	f, srv := natsFixture(t)
	pool := serverPool(t)
	shards := shardsOf(0, schemas(t, n))
	servers := func() []outbox.Server { return []outbox.Server{{Name: "db1", DB: pool, Shards: shards}} }
	run(t, newRelay(t, f, outbox.RelayConfig{Servers: servers, BatchSize: 50, PollInterval: time.Hour,
		LeaseTTL: 2 * time.Second, Owner: "r", Retention: 200 * time.Millisecond}))
	f.waitHolder(t, "db1", "r")
	time.Sleep(50 * time.Millisecond) // the first probe, which found nothing

	// Rows committed from here on are seen through their wake-ups only.
	notify := outbox.NewNotifier(f.js.Conn())
	want := make([][]string, n)
	for round := range 3 {
		for i, sh := range shards {
			want[i] = append(want[i], appendTo(t, pool, sh, 1+(i+round)%7)...)
			notify.Committed(sh.N)
		}
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if u := unpublishedOn(t, pool, shards); u != 0 {
			return fmt.Errorf("%d rows unpublished", u)
		}
		return nil
	})
	f.wantInOrder(t, want...)

	if keys := f.leaseKeys(t); !slices.Equal(keys, []string{"db1"}) {
		t.Fatalf("lease keys %v, want one: db1", keys)
	}
	connz, err := srv.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	var wakeSubs []string
	for _, c := range connz.Conns {
		for _, s := range c.Subs {
			if strings.HasPrefix(s, "outbox.committed.") {
				wakeSubs = append(wakeSubs, s)
			}
		}
	}
	if !slices.Equal(wakeSubs, []string{"outbox.committed.*"}) {
		t.Fatalf("wake-up subscriptions %v, want one on outbox.committed.*", wakeSubs)
	}
	// Idle, the relay runs its own loop, the server's worker and its
	// prune loop: a loop per shard would be 64 or more.
	if loops := relayGoroutines(); loops != 3 {
		t.Fatalf("the relay runs %d goroutines for %d shards on one server, want 3", loops, n)
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		var left int
		for _, sh := range shards {
			var k int
			if err := pool.Get(&k, "SELECT COUNT(*) FROM `"+sh.Schema+"`.outbox"); err != nil {
				return err
			}
			left += k
		}
		if left != 0 {
			return fmt.Errorf("%d published rows not pruned", left)
		}
		return nil
	})
}

// An idle relay asks each server at most once per poll interval which of
// its shards have rows, whatever their number, and prunes it once per
// round; the backlog metric reads each server in one statement.
func TestRelayIdleQueriesPerServer(t *testing.T) {
	f := mustFixture(t)
	names := schemas(t, 32)
	poolA, countA := countingPool(t)
	poolB, countB := countingPool(t)
	servers := func() []outbox.Server {
		return []outbox.Server{{Name: "a", DB: poolA, Shards: shardsOf(0, names[:16])},
			{Name: "b", DB: poolB, Shards: shardsOf(16, names[16:])}}
	}
	appendTo(t, poolB, servers()[1].Shards[3], 2) // shard 19
	const poll = 50 * time.Millisecond
	run(t, newRelay(t, f, outbox.RelayConfig{Servers: servers, BatchSize: 100, PollInterval: poll,
		LeaseTTL: 10 * time.Second, Owner: "r", Retention: time.Hour}))
	f.waitHolder(t, "a", "r")
	f.waitHolder(t, "b", "r")
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := f.count(t); n != 2 {
			return fmt.Errorf("stream holds %d, want shard 19's 2 rows", n)
		}
		return nil
	})
	time.Sleep(poll) // the marks of the last batch

	const idle = 2 * time.Second
	a0, b0 := countA.Load(), countB.Load()
	start := time.Now()
	time.Sleep(idle)
	elapsed := time.Since(start)
	a, b := countA.Load()-a0, countB.Load()-b0
	// One probe per poll interval, and one prune probe a second (the
	// prune cadence for an hour's retention), each plus one for the rounds
	// under way at either end. A relay per shard would have sent
	// 16 shards × 2 statements (USE, SELECT) per poll interval: 1,280.
	most := int64(elapsed/poll) + int64(elapsed/time.Second) + 2
	t.Logf("idle %v, poll interval %v: %d statements on server a, %d on b (at most %d each)", elapsed, poll, a, b, most)
	for name, got := range map[string]int64{"a": a, "b": b} {
		if got > most || got < int64(elapsed/poll)/2 {
			t.Errorf("server %s: %d statements in %v idle, want about %d and at most %d", name, got, elapsed, elapsed/poll, most)
		}
	}

	appendTo(t, poolA, servers()[0].Shards[5], 3) // shard 5
	backlog := outbox.NewBacklog(servers)
	a0, b0 = countA.Load(), countB.Load()
	// A scrape sees shard 5's rows unless the relay was quicker.
	pending := gather(t, backlog)["wallet_outbox_pending_rows"]
	if got := pending["5"]; len(pending) != 32 || (got != 0 && got != 3) {
		t.Errorf("pending rows %v, want 32 shards, 3 (or 0 once published) on shard 5", pending)
	}
	// The relay may have polled meanwhile: its statements are a probe and
	// shard 5's step (read, mark).
	if a, b := countA.Load()-a0, countB.Load()-b0; a > 1+4 || b > 1+2 {
		t.Errorf("a scrape and the relay's rounds meanwhile sent %d statements to a, %d to b", a, b)
	}
}

// One scrape of the backlog is one statement per server, and reports
// every shard of it.
func TestBacklogOneStatementPerServer(t *testing.T) {
	names := schemas(t, 6)
	poolA, countA := countingPool(t)
	poolB, countB := countingPool(t)
	a, b := shardsOf(0, names[:4]), shardsOf(4, names[4:])
	appendTo(t, poolA, a[2], 3)
	appendTo(t, poolB, b[1], 2)
	backlog := outbox.NewBacklog(func() []outbox.Server {
		return []outbox.Server{{Name: "a", DB: poolA, Shards: a}, {Name: "b", DB: poolB, Shards: b}}
	})
	countA.Store(0)
	countB.Store(0)
	metrics := gather(t, backlog)
	want := map[string]float64{"0": 0, "1": 0, "2": 3, "3": 0, "4": 0, "5": 2}
	if got := metrics["wallet_outbox_pending_rows"]; !mapsEqual(got, want) {
		t.Errorf("pending rows by shard %v, want %v", got, want)
	}
	if a, b := countA.Load(), countB.Load(); a != 1 || b != 1 {
		t.Errorf("one scrape sent %d statements to server a, %d to b; want 1 each", a, b)
	}
}

// relayGoroutines counts the goroutines in the relay's loops.
func relayGoroutines() int {
	buf := make([]byte, 1<<22)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "pkg/outbox.(*Relay).Run(") || strings.Contains(g, "pkg/outbox.(*worker).") {
			n++
		}
	}
	return n
}

// leaseKeys returns the keys of the lease bucket that hold a lease.
func (f fixture) leaseKeys(t testing.TB) []string {
	t.Helper()
	s, err := f.js.Stream(context.Background(), "KV_"+outbox.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter("$KV."+outbox.LeaseBucket+".>"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for subject := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subject, "$KV."+outbox.LeaseBucket+"."))
	}
	slices.Sort(keys)
	return keys
}

// gather collects c and returns each gauge's value by its shard label.
func gather(t testing.TB, c prometheus.Collector) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		byShard := map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "shard" {
					byShard[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		out[mf.GetName()] = byShard
	}
	return out
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// When a relay dies, another takes its servers over once their leases
// expire, within about a lease TTL; when one stops, at once. Meanwhile no
// two relays publish one server's shards, and no row is lost or repeated.
func TestRelayLeaseTakeover(t *testing.T) {
	f, srv := natsFixture(t)
	pool := serverPool(t)
	names := schemas(t, 8)
	a, b := shardsOf(0, names[:4]), shardsOf(4, names[4:])
	servers := func() []outbox.Server {
		return []outbox.Server{{Name: "a", DB: pool, Shards: a}, {Name: "b", DB: pool, Shards: b}}
	}
	const ttl = time.Second
	var published [3]atomic.Int64 // chunks acknowledged, by relay
	start := func(i int, owner string) (stop, kill func()) {
		js := connectJS(t, srv.ClientURL())
		g := fixture{js: js, stream: f.stream, admin: js}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		r := newRelayBeforeMark(t, g, outbox.RelayConfig{Servers: servers, BatchSize: 10, PollInterval: 20 * time.Millisecond,
			LeaseTTL: ttl, Owner: owner}, func() { published[i].Add(1) })
		go func() { done <- r.Run(ctx) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				<-done
			})
		}
		t.Cleanup(stop)
		// kill: the connection goes first, so the relay cannot give its
		// leases up.
		return stop, func() {
			js.Conn().Close()
			stop()
		}
	}
	var want [][]string
	write := func() {
		for _, sh := range append(slices.Clone(a), b...) {
			want = append(want, appendTo(t, pool, sh, 3))
		}
	}
	all := append(slices.Clone(a), b...)
	waitPublished := func() {
		testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
			if u := unpublishedOn(t, pool, all); u != 0 {
				return fmt.Errorf("%d rows unpublished", u)
			}
			return nil
		})
	}

	_, killA := start(0, "A")
	f.waitHolder(t, "a", "A")
	f.waitHolder(t, "b", "A")
	stopB, _ := start(1, "B")
	write()
	waitPublished()
	time.Sleep(3 * ttl / 2) // B tries the leases several times meanwhile
	write()
	waitPublished()
	if published[1].Load() != 0 || f.holder(t, "a") != "A" || f.holder(t, "b") != "A" {
		t.Fatalf("B published %d chunks while A held both leases", published[1].Load())
	}

	killA()
	died := time.Now()
	f.waitHolder(t, "a", "B")
	f.waitHolder(t, "b", "B")
	took := time.Since(died)
	t.Logf("B took the dead relay's leases over after %v (lease TTL %v)", took, ttl)
	if took > 3*ttl {
		t.Errorf("B took the leases over after %v, want about the lease TTL, %v", took, ttl)
	}
	write()
	waitPublished()
	if published[1].Load() == 0 {
		t.Fatal("B published nothing after taking over")
	}

	start(2, "C")
	write()
	waitPublished()
	time.Sleep(ttl / 2) // C tries the leases meanwhile
	if published[2].Load() != 0 {
		t.Fatalf("C published %d chunks while B held the leases", published[2].Load())
	}
	stopB()
	stopped := time.Now()
	f.waitHolder(t, "a", "C")
	f.waitHolder(t, "b", "C")
	took = time.Since(stopped)
	t.Logf("C took the stopped relay's leases over after %v (lease TTL %v)", took, ttl)
	if took > ttl/2 {
		t.Errorf("C took the released leases over after %v, want at its next try (every %v)", took, ttl/4)
	}
	write()
	waitPublished()
	if published[2].Load() == 0 {
		t.Fatal("C published nothing after taking over")
	}
	f.wantInOrder(t, want...)
}

// A shard moved between servers while writers and two relays run, each
// relay holding one server: the copy on the new server carries the old
// rows (some unpublished as copied, published meanwhile from the old copy)
// and takes new ones. Every row reaches the stream once, in id order.
func TestRelayShardMovedBetweenServers(t *testing.T) {
	f, srv := natsFixture(t)
	poolA, poolB := serverPool(t), serverPool(t)
	names := schemas(t, 5)
	// Shards 0 and 1 on a, 2 and 3 on b; shard 1 moves to b, where its
	// copy is the fifth schema.
	from, to := outbox.Shard{N: 1, Schema: names[1]}, outbox.Shard{N: 1, Schema: names[4]}
	var moved atomic.Bool
	placed := func(name string) []outbox.Server {
		a := outbox.Server{Name: "a", DB: poolA, Shards: []outbox.Shard{{N: 0, Schema: names[0]}}}
		b := outbox.Server{Name: "b", DB: poolB, Shards: []outbox.Shard{{N: 2, Schema: names[2]}, {N: 3, Schema: names[3]}}}
		if moved.Load() {
			b.Shards = append([]outbox.Shard{to}, b.Shards...)
		} else {
			a.Shards = append(a.Shards, from)
		}
		if name == "a" {
			return []outbox.Server{a}
		}
		return []outbox.Server{b}
	}
	for _, name := range []string{"a", "b"} {
		js := connectJS(t, srv.ClientURL())
		g := fixture{js: js, stream: f.stream, admin: js}
		run(t, newRelay(t, g, outbox.RelayConfig{Servers: func() []outbox.Server { return placed(name) },
			BatchSize: 7, MaxInFlight: 3, PollInterval: 10 * time.Millisecond, LeaseTTL: 2 * time.Second, Owner: "relay-" + name}))
	}
	f.waitHolder(t, "a", "relay-a")
	f.waitHolder(t, "b", "relay-b")

	// Writers on every shard; shard 1's follows the placement, and stops
	// while the shard is copied (a move freezes the old copy).
	var (
		mu     sync.Mutex
		want   = map[int][]string{}
		frozen sync.RWMutex
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for n := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				frozen.RLock()
				sh, pool := outbox.Shard{N: n, Schema: names[n]}, poolA
				switch {
				case n == 1 && moved.Load():
					sh, pool = to, poolB
				case n >= 2:
					pool = poolB
				}
				ids, err := appendEvents(pool, sh, 1+i%5)
				frozen.RUnlock()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[n] = append(want[n], ids...)
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	frozen.Lock()
	mu.Lock()
	want[1] = append(want[1], appendTo(t, poolA, from, 300)...) // a backlog, published while it is copied
	mu.Unlock()
	if _, err := poolB.Exec("INSERT INTO `" + to.Schema + "`.outbox SELECT * FROM `" + from.Schema + "`.outbox"); err != nil {
		t.Fatal(err)
	}
	var copiedUnpublished int
	if err := poolB.Get(&copiedUnpublished, "SELECT COUNT(*) FROM `"+to.Schema+"`.outbox WHERE published_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	moved.Store(true)
	frozen.Unlock()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	live := []outbox.Shard{{N: 0, Schema: names[0]}}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if u := unpublishedOn(t, poolA, live) + unpublishedOn(t, poolB, []outbox.Shard{to,
			{N: 2, Schema: names[2]}, {N: 3, Schema: names[3]}}); u != 0 {
			return fmt.Errorf("%d rows unpublished", u)
		}
		return nil
	})
	var inCopy []string
	if err := poolB.Select(&inCopy, "SELECT event_id FROM `"+to.Schema+"`.outbox ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inCopy, want[1]) {
		t.Fatalf("the new copy holds %d rows, not the %d written in commit order", len(inCopy), len(want[1]))
	}
	t.Logf("shard 1: %d rows, %d of them unpublished when copied", len(want[1]), copiedUnpublished)
	f.wantInOrder(t, want[0], want[1], want[2], want[3])
}

// A shard whose outbox table does not exist yet fails its server's probe;
// the server's other shards are published all the same.
func TestRelayPublishesBesideAShardWithoutTable(t *testing.T) {
	f := mustFixture(t)
	pool := serverPool(t)
	names := schemas(t, 2)
	bare, err := mysql.ParseDSN(testenv.Databases(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	shards := []outbox.Shard{{N: 0, Schema: names[0]}, {N: 1, Schema: bare.DBName}, {N: 2, Schema: names[1]}}
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 10, PollInterval: 10 * time.Millisecond, LeaseTTL: 2 * time.Second, Owner: "r",
		Servers: func() []outbox.Server { return []outbox.Server{{Name: "db1", DB: pool, Shards: shards}} }}))
	want := [][]string{appendTo(t, pool, shards[0], 3), appendTo(t, pool, shards[2], 2)}
	testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if u := unpublishedOn(t, pool, []outbox.Shard{shards[0], shards[2]}); u != 0 {
			return fmt.Errorf("%d rows unpublished", u)
		}
		return nil
	})
	f.wantInOrder(t, want...)
}
