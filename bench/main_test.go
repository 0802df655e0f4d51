package main

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/walletco/wallet/pkg/testenv"
)

// The baselines and the watcher run against the real MariaDB of make test.
func TestMain(m *testing.M) { testenv.Main(m) }

// mustSchema returns a fresh, empty schema's name and a pool on its server
// (no schema selected, as the bench's pools are), both gone after the test.
func mustSchema(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := testenv.Databases(t, 1)[0]
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(dsn, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return cfg.DBName, db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
