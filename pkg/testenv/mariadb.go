// Package testenv starts the real infrastructure integration tests run on: a
// private MariaDB (fresh schemas per test) and an embedded JetStream server.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
)

// EnvMySQL names the server the tests use, as a DSN without a schema, e.g.
// wallet:wallet@tcp(127.0.0.1:3308)/. make test sets it; when it is unset,
// Main starts a private server for the test binary.
const EnvMySQL = "WALLET_TEST_MYSQL"

// Main runs the tests of a package that needs MariaDB. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main returning the exit code instead of exiting, for a TestMain
// that has more to clean up after the tests.
func Run(m *testing.M) int {
	if os.Getenv(EnvMySQL) != "" {
		return m.Run()
	}
	srv, err := StartMariaDB()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	os.Setenv(EnvMySQL, srv.DSN)
	code := m.Run()
	srv.Stop()
	return code
}

// testArgs relax a test server's durability and size: nothing survives a
// test binary, and several servers may run at once.
const testArgs = "--innodb-flush-log-at-trx-commit=0 --sync-binlog=0 --innodb-doublewrite=0 " +
	"--innodb-buffer-pool-size=128M --innodb-log-file-size=64M"

// MariaDBServer is a private MariaDB server of a test binary: its own data
// directory and port, the binary log on (deploy/local/mariadb.sh), and
// server_id and gtid_domain_id equal to its port, so that two of them can
// replicate to each other.
type MariaDBServer struct {
	DSN     string // the admin user wallet (ALL WITH GRANT OPTION), no schema
	Port    int
	dir     string
	release func()
}

// StartMariaDB initialises and starts a server for the test binary. Stop
// it at the end; if the binary dies first (a -timeout panic), a watchdog
// stops it so it does not outlive the run. TestMain calls it; tests call
// MustMariaDB.
func StartMariaDB() (*MariaDBServer, error) {
	dir, err := os.MkdirTemp("", "wallet-mariadb-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	ports, release, err := reservePorts(1)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &MariaDBServer{Port: ports[0], dir: dir, release: release,
		DSN: fmt.Sprintf("wallet:wallet@tcp(127.0.0.1:%d)/", ports[0])}
	start := exec.Command(mariadbScript(), "start", dir, strconv.Itoa(s.Port))
	start.Env = append(os.Environ(), "MARIADB_ARGS="+testArgs)
	if out, err := start.CombinedOutput(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("testenv: start mariadb: %v\n%s", err, out)
	}
	watchdog := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop "$3"; rm -rf "$3"`,
		"watchdog", strconv.Itoa(os.Getpid()), mariadbScript(), dir)
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = watchdog.Start()
	return s, nil
}

// Stop stops the server and removes its data directory.
func (s *MariaDBServer) Stop() {
	_ = exec.Command(mariadbScript(), "stop", s.dir).Run()
	s.release()
	_ = os.RemoveAll(s.dir)
}

// MustMariaDB starts a private server (see StartMariaDB) for one test and
// stops it when the test ends.
func MustMariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	s, err := StartMariaDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func mariadbScript() string { return filepath.Join(repoRoot(), "deploy", "local", "mariadb.sh") }

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Databases creates n empty, uniquely named schemas, drops them when the test
// ends, and returns their DSNs in order.
func Databases(t testing.TB, n int) []string {
	t.Helper()
	base := os.Getenv(EnvMySQL)
	if base == "" {
		t.Fatalf("testenv: %s is not set; call testenv.Main from TestMain or run make test", EnvMySQL)
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvMySQL, err)
	}
	admin, err := database.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := database.WaitReady(ctx, admin); err != nil {
		t.Fatal(err)
	}

	prefix := "t_" + randHex(6)
	dsns := make([]string, n)
	for i := range dsns {
		name := fmt.Sprintf("%s_%d", prefix, i)
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
			t.Fatalf("testenv: create %s: %v", name, err)
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
		c := cfg.Clone()
		c.DBName = name
		dsns[i] = c.FormatDSN()
	}
	return dsns
}

// MustOpen opens dsn and closes it when the test ends.
func MustOpen(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	db, err := database.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Rows runs each query on db and returns every row rendered as text, in
// order: a snapshot that two databases can be compared by.
func Rows(t testing.TB, db *sqlx.DB, queries ...string) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		rows, err := db.Queryx(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			cols, err := rows.SliceScan()
			if err != nil {
				rows.Close()
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s", cols))
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
