package database_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func mustDB(t *testing.T) *sqlx.DB {
	t.Helper()
	return mustDBAt(t, testenv.Databases(t, 1)[0])
}

// mustDBAt opens dsn and creates table t with rows 1 and 2.
func mustDBAt(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	db := testenv.MustOpen(t, dsn)
	m := fstest.MapFS{"0001_t.sql": {Data: []byte("-- rows to fight over\nCREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO t VALUES (1, 0), (2, 0);\n")}}
	for i := 0; i < 2; i++ { // the second run must be a no-op
		if err := database.Migrate(context.Background(), db, m); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// Two transactions lock the same rows in opposite order: MySQL kills one with
// a deadlock, and InTx must run it again so both effects land.
func TestInTxRetriesDeadlocks(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	var attempts atomic.Int32
	var wg sync.WaitGroup
	var held sync.WaitGroup
	held.Add(2)
	release := make(chan struct{})
	for _, order := range [][2]int{{1, 2}, {2, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
				attempts.Add(1)
				if _, err := tx.Exec("UPDATE t SET n = n + 1 WHERE id = ?", order[0]); err != nil {
					return err
				}
				if first {
					first = false
					held.Done() // hold the first lock until both do
					<-release
				}
				_, err := tx.Exec("UPDATE t SET n = n + 1 WHERE id = ?", order[1])
				return err
			})
			if err != nil {
				t.Errorf("InTx: %v", err)
			}
		}()
	}
	held.Wait()
	close(release)
	wg.Wait()
	var sum int
	if err := db.Get(&sum, "SELECT SUM(n) FROM t"); err != nil {
		t.Fatal(err)
	}
	if sum != 4 || attempts.Load() < 3 {
		t.Fatalf("sum %d after %d attempts, want 4 after at least 3", sum, attempts.Load())
	}
}

func TestInboxRecordDetectsDuplicates(t *testing.T) {
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	ctx := context.Background()
	if err := database.Migrate(ctx, db, inbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	record := func(consumer, id string) bool {
		var dup bool
		err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
			var err error
			dup, err = inbox.Record(ctx, tx, consumer, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	if record("ledger", "e1") || !record("ledger", "e1") || record("saga", "e1") {
		t.Fatal("want first delivery new, second duplicate, other consumer new")
	}
}

// SelectIn binds ids in chunks: a list longer than one chunk returns every
// row once, and an empty list runs nothing.
func TestSelectInChunks(t *testing.T) {
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	ctx := context.Background()
	if _, err := db.Exec("CREATE TABLE k (id VARCHAR(16) PRIMARY KEY, grp INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2500 {
		id := fmt.Sprintf("k%05d", i)
		ids = append(ids, id)
		if _, err := db.Exec("INSERT INTO k VALUES (?, ?)", id, i%2); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	err := database.SelectIn(ctx, db, "SELECT id FROM k WHERE grp = ? AND id IN (?)", append(ids, "missing"),
		func(id string) error { seen[id]++; return nil }, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1250 || seen["k00001"] != 1 || seen["k02499"] != 1 || seen["k00000"] != 0 {
		t.Fatalf("%d rows (k00001 %d, k02499 %d, k00000 %d), want the 1250 odd ones once each",
			len(seen), seen["k00001"], seen["k02499"], seen["k00000"])
	}
	calls := 0
	if err := database.SelectIn(ctx, db, "SELECT id FROM nope WHERE id IN (?)", nil, func(string) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("empty ids: err %v, %d rows; want no statement at all", err, calls)
	}
}

// A process stopped in the middle of a transaction must not hold its row
// locks for as long as it is stopped: the server closes a connection idle
// for the session's wait_timeout and rolls its transaction back, so
// another instance gets the rows. Found by the nemesis test (a paused
// account-service stalled the other one for the whole pause).
func TestIdleTransactionReleasesItsLocks(t *testing.T) {
	dsn := testenv.Databases(t, 1)[0]
	db := mustDBAt(t, dsn)
	var def int
	if err := db.Get(&def, "SELECT @@SESSION.wait_timeout"); err != nil || def != int(database.IdleTimeout.Seconds()) {
		t.Fatalf("default wait_timeout = %d (%v), want %s", def, err, database.IdleTimeout)
	}

	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	stopped := testenv.MustOpen(t, dsn+sep+"wait_timeout=2")
	tx, err := stopped.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE t SET n = n + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	// tx now stops, as a SIGSTOPped process would. The other writer waits
	// at most 30 s for the lock: without the idle time-out it would fail
	// with a lock wait time-out (the row stays locked until tx ends).
	other := testenv.MustOpen(t, dsn)
	conn, err := other.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SET SESSION innodb_lock_wait_timeout = 30"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "UPDATE t SET n = n + 10 WHERE id = 1"); err != nil {
		t.Fatalf("the other writer did not get the row: %v", err)
	}
	// The stopped transaction wakes up to find it was rolled back.
	if err := tx.Commit(); err == nil {
		t.Fatal("the idle transaction committed after the server closed its connection")
	}
	var n int
	if err := other.Get(&n, "SELECT n FROM t WHERE id = 1"); err != nil || n != 10 {
		t.Fatalf("n = %d (%v), want 10: only the other writer's update", n, err)
	}
}

func TestByServer(t *testing.T) {
	servers, server, schemas, err := database.ByServer([]string{
		"wallet:wallet@tcp(127.0.0.1:3307)/wallet_shard_0",
		"wallet:wallet@tcp(127.0.0.1:3309)/wallet_shard_1",
		"wallet:wallet@tcp(127.0.0.1:3307)/wallet_shard_2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || !slices.Equal(server, []int{0, 1, 0}) || !slices.Equal(schemas, []string{"wallet_shard_0", "wallet_shard_1", "wallet_shard_2"}) {
		t.Fatalf("servers %v, server %v, schemas %v", servers, server, schemas)
	}
	if strings.Contains(servers[0], "wallet_shard") || !strings.Contains(servers[1], "3309") {
		t.Errorf("server DSNs %v", servers)
	}
	if _, _, _, err := database.ByServer([]string{"not a dsn"}); err == nil {
		t.Error("a malformed DSN was accepted")
	}
}

func TestLayoutOf(t *testing.T) {
	shards := []string{"w:p@tcp(127.0.0.1:3307)/s0", "w:p@tcp(127.0.0.1:3309)/s1", "w:p@tcp(127.0.0.1:3307)/s2"}
	l, err := database.LayoutOf(nil, shards)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Names, []string{"db1", "db2"}) || !slices.Equal(l.Owners, []int{0, 1, 0}) || !slices.Equal(l.Schemas, []string{"s0", "s1", "s2"}) {
		t.Fatalf("derived layout %+v", l)
	}
	l, err = database.LayoutOf([]string{"b=w:p@tcp(127.0.0.1:3309)/", "a=w:p@tcp(127.0.0.1:3307)/", "c=w:p@tcp(127.0.0.1:3311)/"}, shards)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Names, []string{"b", "a", "c"}) || !slices.Equal(l.Owners, []int{1, 0, 1}) {
		t.Fatalf("configured layout %+v", l)
	}
	for _, servers := range [][]string{
		{"a=w:p@tcp(127.0.0.1:3307)/"},                               // 3309 is missing
		{"w:p@tcp(127.0.0.1:3307)/", "b=w:p@tcp(127.0.0.1:3309)/"},   // no name
		{"a=w:p@tcp(127.0.0.1:3307)/", "a=w:p@tcp(127.0.0.1:3309)/"}, // a twice
	} {
		if _, err := database.LayoutOf(servers, shards); err == nil {
			t.Errorf("servers %v accepted", servers)
		}
	}
}
