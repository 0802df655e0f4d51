package schemacopy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/schemacopy"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/testenv"
)

// Two private servers for the package, source and target, each with the
// logins of deploy/grants-move.sql: the tests copy as wallet_mover, so
// they also prove its grants are enough.
var source, target *testenv.MariaDBServer

const (
	replPassword  = "repl-pw"
	moverPassword = "mover-pw"
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if source, err = testenv.StartMariaDB(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer source.Stop()
	if target, err = testenv.StartMariaDB(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer target.Stop()
	for _, s := range []*testenv.MariaDBServer{source, target} {
		if err := applyGrants(s.DSN); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	return m.Run()
}

func applyGrants(dsn string) error {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "grants-move.sql"))
	if err != nil {
		return err
	}
	text := strings.NewReplacer("@REPL_PASSWORD@", replPassword, "@MOVER_PASSWORD@", moverPassword).Replace(string(b))
	db, err := database.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "--") {
			lines = append(lines, l)
		}
	}
	for _, q := range strings.Split(strings.Join(lines, "\n"), ";") {
		if q = strings.TrimSpace(q); q != "" {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("grants-move.sql: %s: %w", q, err)
			}
		}
	}
	return nil
}

func moverDSN(s *testenv.MariaDBServer) string {
	return fmt.Sprintf("wallet_mover:%s@tcp(127.0.0.1:%d)/", moverPassword, s.Port)
}

// newCopy returns a Copy of schema as the mover, closed when the test ends;
// progress, if not nil, gets its reports.
func newCopy(t *testing.T, schema string, progress func(schemacopy.Progress)) *schemacopy.Copy {
	t.Helper()
	c, err := schemacopy.New(schemacopy.Config{
		Source: moverDSN(source), Target: moverDSN(target), Schema: schema,
		ReplicationUser: "wallet_repl", ReplicationPassword: replPassword,
		Progress: progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tables are a shard's kinds of tables and columns: the accounts table as
// the migrations declare it (a CHECK, decimals, microsecond times), an
// outbox (auto-increment, blobs, JSON, TIMESTAMP, NULLs), and the odd
// cases a copy must not get wrong: a latin1 column, bits, doubles, an
// invisible column, generated columns, a table without a key and an
// empty one.
var tables = []string{
	`CREATE TABLE accounts (
		account_id VARCHAR(64) NOT NULL PRIMARY KEY,
		owner_id   VARCHAR(64) NOT NULL,
		currency   CHAR(3) NOT NULL,
		balance    DECIMAL(24,4) NOT NULL DEFAULT 0,
		version    BIGINT NOT NULL DEFAULT 0,
		created_at DATETIME(6) NOT NULL,
		CONSTRAINT accounts_balance_not_negative CHECK (balance >= 0),
		KEY accounts_owner (owner_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE outbox (
		id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		subject VARCHAR(200) NOT NULL,
		payload MEDIUMBLOB NOT NULL,
		headers JSON NULL,
		created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		published_at DATETIME(6) NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE odd (
		id INT NOT NULL PRIMARY KEY,
		latin VARCHAR(20) CHARACTER SET latin1 NULL,
		bits BIT(5) NULL,
		ratio DOUBLE NULL,
		kind ENUM('a','b') NULL,
		hidden INT INVISIBLE DEFAULT 7
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE computed (
		id INT NOT NULL PRIMARY KEY,
		twice INT AS (id * 2) VIRTUAL,
		thrice INT AS (id * 3) STORED
	) ENGINE=InnoDB`,
	`CREATE TABLE nokey (a INT NULL, b VARCHAR(10) NULL) ENGINE=InnoDB`,
	`CREATE TABLE empty (id INT PRIMARY KEY) ENGINE=InnoDB`,
}

// shardSchema creates a schema with tables and n accounts (and n outbox
// rows, n odd rows) on the source, and drops it on both servers and the
// copy's replication connection when the test ends.
func shardSchema(t *testing.T, n int) (string, *sqlx.DB) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := fmt.Sprintf("wallet_shard_t%x", b)
	src := testenv.MustOpen(t, source.DSN)
	dst := testenv.MustOpen(t, target.DSN)
	t.Cleanup(func() {
		_, _ = dst.Exec("STOP REPLICA ?", "move_"+schema)
		_, _ = dst.Exec("RESET REPLICA ? ALL", "move_"+schema)
		_, _ = dst.Exec("DROP DATABASE IF EXISTS `" + schema + "`")
		_, _ = src.Exec("DROP DATABASE IF EXISTS `" + schema + "`")
	})
	mustExec(t, src, "CREATE DATABASE `"+schema+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	db := testenv.MustOpen(t, source.DSN+schema)
	for _, q := range tables {
		mustExec(t, db, q)
	}
	for i := range n {
		write(t, db, i)
	}
	return schema, db
}

// write adds row i to every table (the outbox row and odd row) and
// changes an earlier account, as a shard's transactions do.
func write(t *testing.T, db *sqlx.DB, i int) {
	t.Helper()
	if err := tryWrite(db, i); err != nil {
		t.Fatal(err)
	}
}

// tryWrite is write for goroutines other than the test's.
func tryWrite(db *sqlx.DB, i int) error {
	var headers, latin any
	if i%3 != 0 {
		headers = fmt.Sprintf(`{"id":"%d","ce-type":"wallet.transfer"}`, i)
	}
	if i%5 != 0 {
		latin = fmt.Sprintf("café-%d", i)
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO accounts (account_id, owner_id, currency, balance, created_at) VALUES (?, ?, 'USD', ?, UTC_TIMESTAMP(6))`,
			[]any{fmt.Sprintf("acc-%06d", i), fmt.Sprintf("owner-%d", i%97), fmt.Sprintf("%d.%04d", i, i%10000)}},
		{`UPDATE accounts SET balance = balance + 0.0001, version = version + 1 WHERE account_id = ?`, []any{fmt.Sprintf("acc-%06d", i/2)}},
		{`INSERT INTO outbox (subject, payload, headers) VALUES (?, ?, ?)`, []any{fmt.Sprintf("wallet.s.%d", i), []byte{0, byte(i), 0xff, '\'', '\\'}, headers}},
		{`INSERT INTO odd (id, latin, bits, ratio, kind) VALUES (?, ?, b'10101', ?, ?)`, []any{i, latin, float64(i) / 3, []string{"a", "b"}[i%2]}},
		{`INSERT INTO nokey (a, b) VALUES (?, ?)`, []any{i % 10, fmt.Sprint(i)}},
		{`INSERT INTO computed (id) VALUES (?)`, []any{i}},
		{`DELETE FROM outbox WHERE id = ? AND ? = 0`, []any{i/2 + 1, i % 7}},
		{`UPDATE nokey SET a = a + 1 WHERE b = ?`, []any{fmt.Sprint(i / 3)}},
		{`DELETE FROM nokey WHERE b = ? AND ? = 0`, []any{fmt.Sprint(i / 2), i % 11}},
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s.q, s.args...); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", s.q, err), tx.Rollback())
		}
	}
	return tx.Commit()
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// summary is every table's row count and CHECKSUM TABLE, and the rows of
// the table with generated columns, where MariaDB 10.11's CHECKSUM TABLE
// varies from one call to the next, and a few other rows.
func summary(t *testing.T, dsn, schema string) []string {
	t.Helper()
	db := testenv.MustOpen(t, dsn)
	var out []string
	for _, tbl := range []string{"accounts", "outbox", "odd", "nokey", "empty"} {
		q := "`" + schema + "`.`" + tbl + "`"
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM "+q); err != nil {
			t.Fatal(err)
		}
		var name string
		var sum int64
		if err := db.QueryRow("CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s: %d rows, checksum %d", tbl, n, sum))
	}
	return append(out, testenv.Rows(t, db,
		"SELECT id, twice, thrice FROM `"+schema+"`.computed ORDER BY id",
		"SELECT id, latin, HEX(latin), hidden FROM `"+schema+"`.odd ORDER BY id LIMIT 5",
		"SELECT MAX(id), UNIX_TIMESTAMP(MAX(created_at)) FROM `"+schema+"`.outbox")...)
}

func hasSchema(t *testing.T, dsn, schema string) bool {
	t.Helper()
	var n int
	if err := testenv.MustOpen(t, dsn).Get(&n, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func equal(a, b []string) error {
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		return fmt.Errorf("source:\n%s\ntarget:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	return nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// The copy equals the source at the end, though the source kept taking
// writes before, during and after the load; another schema of the source
// stays off the target; after Stop the copy no longer follows.
func TestCopyFollowsTheSource(t *testing.T) {
	schema, db := shardSchema(t, 2500)
	other, otherDB := shardSchema(t, 10)
	next := atomic.Int64{}
	next.Store(2500)

	// Writes all along, from before Start until the last CatchUp.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if writeErr = errors.Join(tryWrite(db, int(next.Add(1))), tryWrite(otherDB, int(next.Add(1)))); writeErr != nil {
				return
			}
		}
	})
	// And one at a known time: after the snapshot, in the middle of the load.
	var loads []schemacopy.Progress
	c := newCopy(t, schema, func(p schemacopy.Progress) {
		if p.Step == schemacopy.StepLoad && len(loads) == 0 {
			write(t, db, int(next.Add(1)))
		}
		loads = append(loads, p)
	})
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		write(t, db, int(next.Add(1)))
		if err := c.CatchUp(ctx(t), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if err := c.CatchUp(ctx(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := equal(summary(t, source.DSN, schema), summary(t, target.DSN, schema)); err != nil {
		t.Fatalf("copy differs from the source after CatchUp: %v", err)
	}
	if hasSchema(t, target.DSN, other) {
		t.Errorf("schema %s reached the target: the filter let it through", other)
	}
	last := loads[len(loads)-1]
	if last.Step != schemacopy.StepLoad || last.Rows != last.Total || last.Total < 2500*4 {
		t.Errorf("last load progress %+v: want every row of the snapshot (at least %d)", last, 2500*4)
	}

	if err := c.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx(t)); !errors.Is(err, schemacopy.ErrNotRunning) {
		t.Fatalf("status after Stop: %v, want ErrNotRunning", err)
	}
	before := summary(t, target.DSN, schema)
	write(t, db, int(next.Add(1)))
	if err := equal(before, summary(t, target.DSN, schema)); err != nil {
		t.Fatalf("the copy changed after Stop: %v", err)
	}
	if err := c.Abort(ctx(t)); !errors.Is(err, schemacopy.ErrStopped) {
		t.Fatalf("Abort after Stop: %v, want ErrStopped", err)
	}
	if !hasSchema(t, target.DSN, schema) {
		t.Fatal("the stopped copy is gone from the target")
	}
}

// A copy that fails to apply a change stops following, and CatchUp says
// why; Abort then removes the copy and leaves the source as it was, and a
// second copy of the same schema works.
func TestReplicationErrorThenAbortThenCopyAgain(t *testing.T) {
	schema, db := shardSchema(t, 50)
	c := newCopy(t, schema, nil)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// A row on the target the source then inserts too: a duplicate key.
	dst := testenv.MustOpen(t, target.DSN+schema)
	mustExec(t, dst, "INSERT INTO odd (id) VALUES (1000)")
	write(t, db, 1000)

	err := c.CatchUp(ctx(t), time.Minute)
	var re *schemacopy.ReplicationError
	if !errors.As(err, &re) || re.Status.SQLErrno != 1062 {
		t.Fatalf("CatchUp after a conflicting write: %v, want a ReplicationError with SQL error 1062", err)
	}
	if !strings.Contains(err.Error(), "Duplicate entry") {
		t.Errorf("error %q does not carry the server's message", err)
	}

	sourceBefore := summary(t, source.DSN, schema)
	// A fresh Copy, as after a crashed move: Abort works by name.
	if err := newCopy(t, schema, nil).Abort(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if hasSchema(t, target.DSN, schema) {
		t.Fatal("the target still has the schema after Abort")
	}
	if _, err := c.Status(ctx(t)); !errors.Is(err, schemacopy.ErrNotRunning) {
		t.Fatalf("status after Abort: %v, want ErrNotRunning", err)
	}
	if err := equal(sourceBefore, summary(t, source.DSN, schema)); err != nil {
		t.Fatalf("Abort changed the source: %v", err)
	}

	again := newCopy(t, schema, nil)
	if err := again.Start(ctx(t)); err != nil {
		t.Fatalf("second copy: %v", err)
	}
	write(t, db, 1001)
	if err := again.CatchUp(ctx(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := equal(summary(t, source.DSN, schema), summary(t, target.DSN, schema)); err != nil {
		t.Fatalf("second copy differs: %v", err)
	}
}

// Start refuses a target that has the schema or the connection already,
// and leaves what is there alone.
func TestStartRefusesAnOccupiedTarget(t *testing.T) {
	schema, _ := shardSchema(t, 5)
	dst := testenv.MustOpen(t, target.DSN)
	mustExec(t, dst, "CREATE DATABASE `"+schema+"`")
	mustExec(t, dst, "CREATE TABLE `"+schema+"`.mine (id INT)")
	if err := newCopy(t, schema, nil).Start(ctx(t)); !errors.Is(err, schemacopy.ErrTargetExists) {
		t.Fatalf("Start onto an existing schema: %v, want ErrTargetExists", err)
	}
	var n int
	if err := dst.Get(&n, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'mine'", schema); err != nil || n != 1 {
		t.Fatalf("the target's own schema was touched (table count %d, %v)", n, err)
	}
	mustExec(t, dst, "DROP DATABASE `"+schema+"`")

	first := newCopy(t, schema, nil)
	if err := first.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, dst, "DROP DATABASE `"+schema+"`") // the connection stays
	if err := newCopy(t, schema, nil).Start(ctx(t)); !errors.Is(err, schemacopy.ErrTargetExists) {
		t.Fatalf("Start with the connection in place: %v, want ErrTargetExists", err)
	}
}

// A target that cannot log in to the source does not catch up: CatchUp
// times out and names the source's refusal.
func TestCatchUpReportsTheSourceRefusing(t *testing.T) {
	schema, db := shardSchema(t, 5)
	c, err := schemacopy.New(schemacopy.Config{
		Source: moverDSN(source), Target: moverDSN(target), Schema: schema,
		ReplicationUser: "wallet_repl", ReplicationPassword: "wrong",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	write(t, db, 5)
	// The first refusal may take a moment to show: until then CatchUp
	// times out without naming it.
	testenv.Eventually(t, time.Minute, 0, func() error {
		err := c.CatchUp(ctx(t), time.Second)
		if !errors.Is(err, schemacopy.ErrTimeout) {
			t.Fatalf("CatchUp with a wrong replication password: %v, want ErrTimeout", err)
		}
		if !strings.Contains(err.Error(), "1045") {
			return fmt.Errorf("the timeout does not name error 1045: %w", err)
		}
		return nil
	})
}

// Abort refuses when the source has no such schema: the target's could be
// the only copy.
func TestAbortKeepsTheOnlyCopy(t *testing.T) {
	schema, _ := shardSchema(t, 5)
	c := newCopy(t, schema, nil)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, testenv.MustOpen(t, source.DSN), "DROP DATABASE `"+schema+"`")
	if err := newCopy(t, schema, nil).Abort(ctx(t)); err == nil {
		t.Fatal("Abort dropped the target's schema though the source has none")
	}
	if !hasSchema(t, target.DSN, schema) {
		t.Fatal("the only copy is gone")
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, cfg := range []schemacopy.Config{
		{Source: moverDSN(source), Target: moverDSN(target), Schema: "a`b", ReplicationUser: "r"},
		{Source: moverDSN(source), Target: moverDSN(target), Schema: "ok", Connection: "x y", ReplicationUser: "r"},
		{Source: moverDSN(source), Target: moverDSN(target), Schema: "ok"},
		{Source: "u:p@unix(/tmp/mysql.sock)/", Target: moverDSN(target), Schema: "ok", ReplicationUser: "r"},
	} {
		if c, err := schemacopy.New(cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
