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
func Main(m *testing.M) {
	if os.Getenv(EnvMySQL) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "wallet-mariadb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(2)
	}
	ports, release, err := reservePorts(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	port := ports[0]
	script := filepath.Join(repoRoot(), "deploy", "local", "mariadb.sh")
	start := exec.Command(script, "start", dir, strconv.Itoa(port))
	start.Env = append(os.Environ(), "MARIADB_ARGS=--innodb-flush-log-at-trx-commit=0 --sync-binlog=0 --innodb-doublewrite=0")
	if out, err := start.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: start mariadb: %v\n%s", err, out)
		os.Exit(2)
	}
	// If the test binary dies without cleaning up (a -timeout panic), a
	// watchdog stops the server so it does not outlive the run.
	watchdog := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop "$3"; rm -rf "$3"`,
		"watchdog", strconv.Itoa(os.Getpid()), script, dir)
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = watchdog.Start()
	os.Setenv(EnvMySQL, fmt.Sprintf("wallet:wallet@tcp(127.0.0.1:%d)/", port))
	code := m.Run()
	_ = exec.Command(script, "stop", dir).Run()
	release()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

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
