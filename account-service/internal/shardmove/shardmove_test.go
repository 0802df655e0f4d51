package shardmove_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/account-service/internal/shardmove"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

var db1, db2 *testenv.MariaDBServer

const replPassword = "repl-pw"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if db1, err = testenv.StartMariaDB(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db1.Stop()
	if db2, err = testenv.StartMariaDB(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db2.Stop()
	for _, s := range []*testenv.MariaDBServer{db1, db2} {
		db, err := database.Open(s.DSN)
		if err == nil {
			_, err = db.Exec("CREATE USER IF NOT EXISTS wallet_repl IDENTIFIED BY '" + replPassword + "'")
		}
		if err == nil {
			_, err = db.Exec("GRANT REPLICATION SLAVE ON *.* TO wallet_repl")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		db.Close()
	}
	return m.Run()
}

// stack is one account-service instance's store and writer over four
// shards, configured with both servers, following the placement.
type stack struct {
	layout database.Layout
	store  *mysql.Store
	writer *groupcommit.Writer
	place  *placement.Store
}

// newStack places shards 0 and 1 on db1, 2 and 3 on db2.
func newStack(t *testing.T) *stack {
	return newStackOn(t, []int{0, 0, 1, 1})
}

// newStackOn places shard i on server owners[i] (0 db1, 1 db2); the first
// placement lists only the servers that hold a shard, as one stored by a
// stack that had only those when it first started.
func newStackOn(t *testing.T, owners []int) *stack {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	l := database.Layout{Names: []string{"db1", "db2"}, ServerDSNs: []string{db1.DSN, db2.DSN}, Owners: owners}
	for sh := range 4 {
		l.Schemas = append(l.Schemas, fmt.Sprintf("wallet_shard_t%x_%d", b, sh))
	}
	var servers []mysql.Server
	for i, dsn := range l.ServerDSNs {
		db := testenv.MustOpen(t, database.WithMultiStatements(dsn))
		for _, schema := range l.Schemas {
			if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS `" + schema + "`"); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			for _, schema := range l.Schemas {
				_, _ = db.Exec("DROP DATABASE IF EXISTS `" + schema + "`")
			}
		})
		servers = append(servers, mysql.Server{Name: l.Names[i], DB: db})
	}
	store, err := mysql.NewPlaced(servers, l.Schemas, l.Owners)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The copies that are not their shard's live one are not wanted.
	for sh, schema := range l.Schemas {
		other := servers[1-l.Owners[sh]].DB
		if _, err := other.Exec("DROP DATABASE `" + schema + "`"); err != nil {
			t.Fatal(err)
		}
	}
	js := testenv.MustJetStream(t)
	ps, err := placement.Declare(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := placement.Map{Version: 1, Shards: 4}
	for _, srv := range owners {
		first.Owner = append(first.Owner, l.Names[srv])
		if !slices.Contains(first.Servers, l.Names[srv]) {
			first.Servers = append(first.Servers, l.Names[srv])
		}
	}
	slices.Sort(first.Servers)
	if _, err := ps.Bootstrap(ctx, first); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := ps.Follow(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() { _ = f.Run(fctx) }()
	go store.Follow(fctx, f, log)
	w, err := groupcommit.New(store, store, accounttest.Writer(groupcommit.Config{}), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return &stack{layout: l, store: store, writer: w, place: ps}
}

func (s *stack) mover(progress io.Writer) *shardmove.Mover {
	return &shardmove.Mover{Placement: s.place, Layout: s.layout, ReplicationUser: "wallet_repl",
		ReplicationPassword: replPassword, Progress: progress}
}

// deposits deposits 1.00 into id from four clients until stop is closed,
// counting what was acknowledged; a refusal other than "the shard is
// moving" (503) fails the test.
func (s *stack) deposits(t *testing.T, id string, stop <-chan struct{}) (acked, moving *atomic.Int64, done func()) {
	acked, moving = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.writer.Move(context.Background(), account.MovementRequest{Kind: account.Deposit, AccountID: id,
					TransactionID: uuid.NewString(), Amount: accounttest.USD(t, "1.00")})
				switch {
				case err == nil:
					acked.Add(1)
				case errors.Is(err, mysql.ErrMoving) && problem.Is(err, problem.Unavailable):
					moving.Add(1)
				default:
					t.Errorf("deposit: %v", err)
					return
				}
			}
		}()
	}
	return acked, moving, wg.Wait
}

// A shard moved to the other server and back while clients deposit into
// one of its accounts: each move switches the placement, the writes in
// between pause and are refused with 503 (the clients retry), and every
// acknowledged deposit is in the balance after; nothing else is.
func TestMoveUnderWrites(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	id := accounttest.IDOn(1)
	if _, _, err := s.store.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "o", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	acked, moving, wait := s.deposits(t, id, stop)
	time.Sleep(200 * time.Millisecond) // some deposits before the move
	m := s.mover(io.Discard)
	for _, to := range []string{"db2", "db1", "db2"} {
		r, err := m.Move(ctx, 1, to)
		if err != nil {
			t.Fatalf("move to %s: %v", to, err)
		}
		t.Logf("moved shard 1 to %s: placement version %d, writes paused %v, %d rows copied", to, r.Version, r.Pause, r.Rows)
		testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
			if s.store.Server(1) != slices.Index(s.layout.Names, to) {
				return errors.New("the store has not followed the placement yet")
			}
			return nil
		})
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wait()
	a, err := s.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Balance.IntPart(), acked.Load(); got != want || want == 0 {
		t.Fatalf("balance %v after %d acknowledged deposits (%d refused as moving)", a.Balance, want, moving.Load())
	}
	t.Logf("%d deposits acknowledged, %d refused while the shard moved", acked.Load(), moving.Load())
	var frozen bool
	stale := testenv.MustOpen(t, database.WithSchema(db1.DSN, s.layout.Schemas[1]))
	if err := stale.Get(&frozen, "SELECT frozen FROM shard_meta"); err != nil || !frozen {
		t.Fatalf("the copy left on db1: frozen %v (%v), want frozen", frozen, err)
	}
	if _, err := m.Move(ctx, 1, "db2"); !errors.Is(err, shardmove.ErrUsage) {
		t.Errorf("a move to the server that holds the shard: %v, want a usage error", err)
	}
	if _, err := m.Move(ctx, 4, "db1"); !errors.Is(err, shardmove.ErrUsage) {
		t.Errorf("a move of shard 4 of 4: %v, want a usage error", err)
	}
}

// A move whose copy cannot catch up (the target's replication login is
// refused) is rolled back: the placement is unchanged, the source takes
// writes, the target has no copy.
func TestFailedMoveRollsBack(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	id := accounttest.IDOn(0)
	if _, _, err := s.store.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "o", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	m := s.mover(io.Discard)
	m.ReplicationPassword, m.CatchUpTimeout = "wrong", 2*time.Second
	if _, err := m.Move(ctx, 0, "db2"); err == nil || errors.Is(err, shardmove.ErrUsage) {
		t.Fatalf("move with a refused replication login: %v, want a failure", err)
	}
	cur, _, err := s.place.Load(ctx)
	if err != nil || cur.Version != 1 || cur.Owner[0] != "db1" {
		t.Fatalf("placement after a failed move: %+v (%v), want version 1 with shard 0 on db1", cur, err)
	}
	if _, err := s.writer.Move(ctx, account.MovementRequest{Kind: account.Deposit, AccountID: id, TransactionID: uuid.NewString(),
		Amount: accounttest.USD(t, "1.00")}); err != nil {
		t.Fatalf("a deposit after the rollback: %v", err)
	}
	var n int
	target := testenv.MustOpen(t, db2.DSN)
	if err := target.Get(&n, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", s.layout.Schemas[0]); err != nil || n != 0 {
		t.Fatalf("%d copies left on db2 (%v), want none", n, err)
	}
	m.ReplicationPassword, m.CatchUpTimeout, m.DropAfter = replPassword, 0, time.Millisecond
	if _, err := m.Move(ctx, 0, "db2"); err != nil {
		t.Fatalf("the move again, with the right login: %v", err)
	}
	source := testenv.MustOpen(t, db1.DSN)
	if err := source.Get(&n, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", s.layout.Schemas[0]); err != nil || n != 0 {
		t.Fatalf("%d old copies left on db1 after DropAfter (%v), want none", n, err)
	}
}

// A stack whose placement lists only db1 (it began with one server, or came
// from the release before placement) and whose configuration now has db2:
// the first move to db2 lists db2 and moves the shard there, its data with
// it. A server the configuration lacks is still a usage error that changes
// nothing.
func TestMoveToServerNotYetListed(t *testing.T) {
	s := newStackOn(t, []int{0, 0, 0, 0})
	ctx := context.Background()
	id := accounttest.IDOn(2)
	if _, _, err := s.store.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "o", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Move(ctx, account.MovementRequest{Kind: account.Deposit, AccountID: id, TransactionID: uuid.NewString(),
		Amount: accounttest.USD(t, "7.00")}); err != nil {
		t.Fatal(err)
	}
	m := s.mover(io.Discard)
	if _, err := m.Move(ctx, 2, "db3"); !errors.Is(err, shardmove.ErrUsage) {
		t.Fatalf("a move to a server neither listed nor configured: %v, want a usage error", err)
	}
	if cur, _, err := s.place.Load(ctx); err != nil || cur.Version != 1 {
		t.Fatalf("placement after a usage error: %+v (%v), want version 1", cur, err)
	}
	r, err := m.Move(ctx, 2, "db2")
	if err != nil {
		t.Fatalf("move to db2, configured but not listed: %v", err)
	}
	cur, _, err := s.place.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 3 || cur.Version != 3 || !slices.Equal(cur.Servers, []string{"db1", "db2"}) ||
		!slices.Equal(cur.Owner, []string{"db1", "db1", "db2", "db1"}) {
		t.Fatalf("placement after the move: %+v (result version %d), want version 3 with shard 2 on db2", cur, r.Version)
	}
	testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s.store.Server(2) != 1 {
			return errors.New("the store has not followed the placement yet")
		}
		return nil
	})
	if _, err := s.writer.Move(ctx, account.MovementRequest{Kind: account.Deposit, AccountID: id, TransactionID: uuid.NewString(),
		Amount: accounttest.USD(t, "1.00")}); err != nil {
		t.Fatalf("a deposit after the move: %v", err)
	}
	a, err := s.store.Get(ctx, id)
	if err != nil || a.Balance.IntPart() != 8 {
		t.Fatalf("balance on db2: %v (%v), want 8", a.Balance, err)
	}
}

// The migrate command reads no placement map: it finds each shard's live
// copy by its shard_meta, so a moved shard is migrated where it lives now
// and no empty copy is made where the configuration first put it.
func TestMigrateFindsMovedShards(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	if _, err := s.mover(io.Discard).Move(ctx, 1, "db2"); err != nil {
		t.Fatal(err)
	}
	var servers []mysql.Server
	for i, dsn := range s.layout.ServerDSNs {
		servers = append(servers, mysql.Server{Name: s.layout.Names[i], DB: testenv.MustOpen(t, database.WithMultiStatements(dsn))})
	}
	configured, err := mysql.NewPlaced(servers, s.layout.Schemas, s.layout.Owners)
	if err != nil {
		t.Fatal(err)
	}
	if err := configured.FindLive(ctx); err != nil {
		t.Fatal(err)
	}
	for sh, want := range []int{0, 1, 1, 1} {
		if got := configured.Server(sh); got != want {
			t.Errorf("shard %d found on server %d, want %d", sh, got, want)
		}
	}
	if err := configured.Migrate(ctx); err != nil {
		t.Fatalf("migrate after the move: %v", err)
	}
}
