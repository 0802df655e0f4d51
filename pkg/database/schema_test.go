package database_test

import (
	"context"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/testenv"
)

// Two schemas on one server pool: each Schema reads and writes only its own
// tables, whatever schema the pooled connection was left in.
func TestSchemasShareOnePool(t *testing.T) {
	dsns := testenv.Databases(t, 2)
	names := make([]string, 2)
	for i, dsn := range dsns {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = cfg.DBName
	}
	pool := testenv.MustOpen(t, database.WithSchema(dsns[0], ""))
	pool.SetMaxOpenConns(1) // every statement reuses the connection the other schema left
	ctx := context.Background()
	a, b := database.Schema{Pool: pool, Name: names[0]}, database.Schema{Pool: pool, Name: names[1]}
	for i, s := range []database.Schema{a, b} {
		if _, err := s.ExecContext(ctx, "CREATE TABLE t (v INT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		if err := database.InTx(ctx, s, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (?)", i+1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []database.Schema{a, b, a} {
		var got []int
		if err := s.SelectContext(ctx, &got, "SELECT v FROM t"); err != nil {
			t.Fatal(err)
		}
		if want := i%2 + 1; len(got) != 1 || got[0] != want {
			t.Fatalf("schema %s reads %v, want [%d]", s.Name, got, want)
		}
	}
	var one int
	if err := a.GetContext(ctx, &one, "SELECT COUNT(*) FROM t"); err != nil || one != 1 {
		t.Fatalf("count in %s: %d, %v", a.Name, one, err)
	}
	missing := database.Schema{Pool: pool, Name: "no_such_schema_here"}
	if err := missing.PingContext(ctx); err == nil {
		t.Fatal("entering a schema that does not exist succeeded")
	}
	if _, err := missing.BeginTxx(ctx, nil); err == nil {
		t.Fatal("a transaction in a schema that does not exist began")
	}
}

func TestUnionAllAndQualified(t *testing.T) {
	got := database.UnionAll(2, func(i int) string { return "SELECT " + database.Qualified([]string{"", "s`1"}[i], "outbox") })
	want := "(SELECT `outbox`) UNION ALL (SELECT `s``1`.`outbox`)"
	if got != want {
		t.Fatalf("UnionAll = %q, want %q", got, want)
	}
	if got := database.UnionAll(0, nil); got != "" {
		t.Fatalf("UnionAll(0) = %q", got)
	}
}
