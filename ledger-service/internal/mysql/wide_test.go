package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
)

// @world holds minus every deposit ever made, so it outgrows any wallet. It
// used to live in DECIMAL(24,4): once a deposit pushed it past
// -99999999999999999999.9999 the batch failed, and every event behind it, in
// every currency, was retried forever. Reaching that with real deposits takes
// 10^5 maximal ones, so the test sets @world:CLF near the old limit directly.
func TestSystemAccountsOutgrowTheOldColumn(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	ctx := context.Background()
	world := ledger.World("CLF")
	mustApply(t, s, ledgertest.Opened("rich", "CLF"))
	mustApply(t, s, ledgertest.Deposited("rich", "1", "CLF")) // creates @world:CLF
	if _, err := db.ExecContext(ctx, "UPDATE ledger_accounts SET balance = ? WHERE account_id = ?",
		"-99999999999999999999.0000", world); err != nil {
		t.Fatal(err)
	}

	// A maximal CLF deposit (15 integer digits, 4 decimals) takes @world:CLF
	// past the old limit; a later USD account and deposit in the same batch
	// must still be booked.
	applied := mustApplyBatch(t, s,
		ledgertest.Deposited("rich", "999999999999999.9999", "CLF"),
		ledgertest.Opened("later", "USD"),
		ledgertest.Deposited("later", "5.00", "USD"))
	for i, ok := range applied {
		if !ok {
			t.Fatalf("event %d not applied", i)
		}
	}
	// And on its own, outside a batch.
	mustApply(t, s, ledgertest.Deposited("rich", "0.0001", "CLF"))

	const want = "-100000999999999999999" // -(99999999999999999999 + 999999999999999.9999 + 0.0001)
	stored := func(q string, args ...any) string {
		t.Helper()
		var v string
		if err := db.GetContext(ctx, &v, q, args...); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := stored("SELECT CAST(balance AS CHAR) FROM ledger_accounts WHERE account_id = ?", world); got != want+".0000" {
		t.Errorf("stored balance of %s = %s, want %s.0000", world, got, want)
	}
	if got := stored("SELECT CAST(balance_after AS CHAR) FROM journal_entries WHERE account_id = ? ORDER BY id DESC LIMIT 1", world); got != want+".0000" {
		t.Errorf("last balance_after of %s = %s, want %s.0000", world, got, want)
	}
	b, err := s.Balance(ctx, world, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance.String() != want {
		t.Errorf("Balance(%s) = %s, want %s", world, b.Balance, want)
	}
	for acct, want := range map[string]string{"rich": "1000000000000001", "later": "5", ledger.World("USD"): "-5"} {
		assertBalance(t, s, acct, want)
	}
	assertJournalBalanced(t, db)

	// The columns, as migration 0002 left them: balances wide, amounts not.
	for col, want := range map[string]int{"ledger_accounts.balance": 65, "journal_entries.balance_after": 65, "journal_entries.amount": 24} {
		var precision int
		if err := db.GetContext(ctx, &precision, `SELECT NUMERIC_PRECISION FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = DATABASE() AND CONCAT(TABLE_NAME, '.', COLUMN_NAME) = ?`, col); err != nil {
			t.Fatalf("%s: %v", col, err)
		}
		if precision != want {
			t.Errorf("%s has precision %d, want %d", col, precision, want)
		}
	}

	// A crash between the ALTERs and recording the migration runs it again:
	// that must succeed and keep every value.
	if _, err := db.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = '0002_wide_balances.sql'"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if got := stored("SELECT CAST(balance AS CHAR) FROM ledger_accounts WHERE account_id = ?", world); got != want+".0000" {
		t.Errorf("after re-running 0002, balance of %s = %s", world, got)
	}
}
