package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

// migratedTo returns a fresh shard schema with only the named migrations
// applied: a shard as an older release left it.
func migratedTo(t *testing.T, names ...string) *sqlx.DB {
	t.Helper()
	db := testenv.MustOpen(t, database.WithMultiStatements(testenv.Databases(t, 1)[0]))
	old := fstest.MapFS{}
	for _, name := range names {
		body, err := fs.ReadFile(mysql.Migrations, "migrations/"+name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: body}
	}
	if err := database.Migrate(context.Background(), db, old); err != nil {
		t.Fatal(err)
	}
	return db
}

// migrateRest applies every remaining migration over the data in db and
// returns the store on it.
func migrateRest(t *testing.T, db *sqlx.DB) *mysql.Store {
	t.Helper()
	s, err := mysql.New([]*sqlx.DB{db})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate over existing data: %v", err)
	}
	return s
}

// Migration 0003 keys transfers, credits and steps by (transaction_id,
// from_account) on a shard that already holds data: every existing step is
// given the source account of its transfer or credit, and afterwards the
// same id from another source account is a row of its own.
func TestMigrationKeysExistingTransfersBySource(t *testing.T) {
	db := migratedTo(t, "0001_accounts.sql", "0002_saga.sql")
	// Shard data from before: this shard sent tx-1 from alice (a saga that
	// completed) and credited tx-2 from bob on another shard.
	for _, q := range []string{
		`INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, to_shard, status, created_at, updated_at)
			VALUES ('tx-1', 'h1', 'alice', 'carol', 1, 'USD', 0, 1, 'completed', NOW(6), NOW(6))`,
		`INSERT INTO credits (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, status, created_at)
			VALUES ('tx-2', 'h2', 'bob', 'dave', 2, 'USD', 2, 'credited', NOW(6))`,
		`INSERT INTO transfer_steps (transaction_id, step, shard, at) VALUES
			('tx-1', 'debited', 0, NOW(6)), ('tx-1', 'completed', 0, NOW(6)), ('tx-2', 'credited', 0, NOW(6))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	migrateRest(t, db)
	var steps []struct {
		TransactionID string `db:"transaction_id"`
		From          string `db:"from_account"`
		Step          string `db:"step"`
	}
	if err := db.Select(&steps, "SELECT transaction_id, from_account, step FROM transfer_steps ORDER BY transaction_id, step"); err != nil {
		t.Fatal(err)
	}
	want := []string{"tx-1 alice completed", "tx-1 alice debited", "tx-2 bob credited"}
	if len(steps) != len(want) {
		t.Fatalf("steps %+v, want %v", steps, want)
	}
	for i, st := range steps {
		if got := st.TransactionID + " " + st.From + " " + st.Step; got != want[i] {
			t.Fatalf("step %d: %q, want %q", i, got, want[i])
		}
	}
	// The same ids from other source accounts now fit beside them.
	for _, q := range []string{
		`INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, to_shard, status, created_at, updated_at)
			VALUES ('tx-1', 'h3', 'erin', 'carol', 1, 'USD', 0, 0, 'completed', NOW(6), NOW(6))`,
		`INSERT INTO credits (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, status, created_at)
			VALUES ('tx-2', 'h4', 'fay', 'dave', 2, 'USD', 3, 'credited', NOW(6))`,
		`INSERT INTO transfer_steps (transaction_id, from_account, step, shard, at) VALUES ('tx-2', 'fay', 'credited', 0, NOW(6))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("a reused id from another source: %v", err)
		}
	}
}

// Migrations 0004 and 0005 add the refusal columns to shards that already
// hold transfers and movements: the rows from before still replay as they
// were, and a refusal fits beside them.
func TestMigrationKeepsExistingRowsReplayable(t *testing.T) {
	db := migratedTo(t, "0001_accounts.sql", "0002_saga.sql", "0003_transfer_keys.sql")
	ctx := context.Background()
	usd := func(s string) money.Amount { a, _ := money.Parse(s, "USD"); return a }
	dep := account.MovementRequest{Kind: account.Deposit, AccountID: "alice", TransactionID: uuid.NewString(), Amount: usd("5.00")}
	tr := account.TransferRequest{TransactionID: uuid.NewString(), From: "alice", To: "carol", Amount: usd("1.00")}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (account_id, owner_id, currency, balance, version, created_at, updated_at) VALUES ('alice', 'o', 'USD', 4, 2, NOW(6), NOW(6)),
			('carol', 'o', 'USD', 1, 1, NOW(6), NOW(6))`, nil},
		{`INSERT INTO movements (transaction_id, request_hash, kind, account_id, amount, currency, balance_after, version, created_at)
			VALUES (?, ?, 'deposit', 'alice', 5, 'USD', 5, 1, NOW(6))`, []any{dep.TransactionID, dep.Hash()}},
		{`INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, to_shard, status, created_at, updated_at)
			VALUES (?, ?, 'alice', 'carol', 1, 'USD', 0, 0, 'completed', NOW(6), NOW(6))`, []any{tr.TransactionID, tr.Hash()}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	s := migrateRest(t, db)
	refused := account.MovementRequest{Kind: account.Withdrawal, AccountID: "alice", TransactionID: uuid.NewString(), Amount: usd("9.00")}
	res, err := s.Apply(ctx, 0, []account.Op{
		{Kind: account.OpMove, Movement: dep},
		{Kind: account.OpTransfer, Transfer: tr},
		{Kind: account.OpMove, Movement: refused},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Movement.BalanceAfter.String() != "5" || res[0].Movement.Version != 1 {
		t.Errorf("the old deposit replayed %+v (%v), want balance_after 5 at version 1", res[0].Movement, res[0].Err)
	}
	if res[1].Err != nil || res[1].Transfer.Status != account.Completed {
		t.Errorf("the old transfer replayed %+v (%v), want completed", res[1].Transfer, res[1].Err)
	}
	if !problem.Is(res[2].Err, problem.InsufficientFunds) {
		t.Errorf("the withdrawal answered %v, want insufficient_funds", res[2].Err)
	}
	var after, refusal sql.NullString
	if err := db.QueryRow("SELECT balance_after, refusal FROM movements WHERE transaction_id = ?", refused.TransactionID).Scan(&after, &refusal); err != nil {
		t.Fatal(err)
	}
	if after.Valid || !refusal.Valid {
		t.Errorf("refused movement stored balance_after %v, refusal %v; want NULL and the problem", after, refusal)
	}
}

// Migration 0003 runs again from its start after a crash at any point: the
// file is recorded only after its last statement, so a shard stopped
// halfway re-runs the statements it already applied.
func TestMigration0003ResumesAfterACrash(t *testing.T) {
	stmts := statementsOf(t, "0003_transfer_keys.sql")
	for done := 1; done <= len(stmts); done++ {
		t.Run(fmt.Sprintf("after %d of %d statements", done, len(stmts)), func(t *testing.T) {
			db := migratedTo(t, "0001_accounts.sql", "0002_saga.sql")
			if _, err := db.Exec(`INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, to_shard, status, created_at, updated_at)
				VALUES ('tx-1', 'h1', 'alice', 'carol', 1, 'USD', 0, 1, 'completed', NOW(6), NOW(6))`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO transfer_steps (transaction_id, step, shard, at) VALUES ('tx-1', 'debited', 0, NOW(6))`); err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(context.Background()) // one session, as the runner's
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts[:done] {
				if _, err := conn.ExecContext(context.Background(), s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			conn.Close()
			migrateRest(t, db)
			var from string
			if err := db.Get(&from, "SELECT from_account FROM transfer_steps WHERE transaction_id = 'tx-1'"); err != nil || from != "alice" {
				t.Errorf("step's from_account %q (%v), want alice", from, err)
			}
		})
	}
}

// Every migration runs again after it completed unrecorded: a process
// stopped between a file's last statement and its record (a SIGTERM during a
// long ALTER) must not crash-loop at the next start. Forgetting every record
// re-runs all files, the shard's and the shared packages', over their result.
func TestEveryMigrationRunsTwice(t *testing.T) {
	s := migrateRest(t, migratedTo(t, "0001_accounts.sql"))
	if _, err := s.Shard(0).ExecContext(context.Background(), "DELETE FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background(), deadletter.Migrations()); err != nil {
		t.Fatalf("migrations run again: %v", err)
	}
	var n int
	if err := s.Shard(0).GetContext(context.Background(), &n, `SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND index_name IN
		('movements_refused', 'transfers_from_created', 'transfers_to_created', 'credits_to_created')`); err != nil || n != 4 {
		t.Errorf("list and prune indexes: %d (%v), want 4", n, err)
	}
}

// statementsOf splits a migration file as the runner does.
func statementsOf(t *testing.T, name string) []string {
	t.Helper()
	body, err := fs.ReadFile(mysql.Migrations, "migrations/"+name)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, part := range strings.Split(string(body), ";\n") {
		if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ";")); s != "" && !onlyComments(s) {
			stmts = append(stmts, s)
		}
	}
	return stmts
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

// A shard list in another order is refused at migration, before any account
// is routed by it; the list in its first order still migrates.
func TestReorderedShardListIsRefused(t *testing.T) {
	dsns := testenv.Databases(t, 2)
	a, b := testenv.MustOpen(t, database.WithMultiStatements(dsns[0])), testenv.MustOpen(t, database.WithMultiStatements(dsns[1]))
	migrate := func(shards ...*sqlx.DB) error {
		s, err := mysql.New(shards)
		if err != nil {
			t.Fatal(err)
		}
		return s.Migrate(context.Background(), deadletter.Migrations())
	}
	if err := migrate(a, b); err != nil {
		t.Fatalf("first migration: %v", err)
	}
	err := migrate(b, a)
	if err == nil || !strings.Contains(err.Error(), "reordered") {
		t.Fatalf("reordered list: %v, want it refused", err)
	}
	if err := migrate(a, b); err != nil {
		t.Fatalf("the list in its order again: %v", err)
	}
}

// A store whose pool cannot take a batch's writes in one round trip is
// refused at start, with what to change, instead of failing every batch.
func TestMigrateRefusesPoolWithoutMultiStatements(t *testing.T) {
	s, err := mysql.New([]*sqlx.DB{testenv.MustOpen(t, testenv.Databases(t, 1)[0])})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "multi statements") {
		t.Fatalf("migrate = %v, want a refusal naming multi statements", err)
	}
}
