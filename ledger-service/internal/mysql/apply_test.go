package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// mustApply maps e and applies it, failing the test on any error.
func mustApply(t *testing.T, s *mysql.Store, e events.Event) bool {
	t.Helper()
	eff, err := ledger.FromEvent(e)
	if err != nil {
		t.Fatalf("FromEvent(%s): %v", e.Type, err)
	}
	applied, err := s.Apply(context.Background(), eff)
	if err != nil {
		t.Fatalf("Apply(%s): %v", e.Type, err)
	}
	return applied
}

func TestApplyJournal(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	const usd = "USD"
	world, inFlight := ledger.World(usd), ledger.InFlight(usd)
	steps := []struct {
		name    string
		event   events.Event
		entries int
		want    map[string]string
	}{
		{"open alice", ledgertest.Opened("alice", usd), 0, map[string]string{"alice": "0"}},
		{"open bob", ledgertest.Opened("bob", usd), 0, map[string]string{"bob": "0"}},
		{"deposit", ledgertest.Deposited("alice", "100.00", usd), 2, map[string]string{"alice": "100", world: "-100"}},
		{"withdraw", ledgertest.Withdrawn("alice", "10.50", usd), 2, map[string]string{"alice": "89.5", world: "-89.5"}},
		{"same-shard completed", ledgertest.Transfer(events.TransferCompleted, "t1", "alice", "bob", "20", usd, 1, 1), 2,
			map[string]string{"alice": "69.5", "bob": "20"}},
		{"debited", ledgertest.Transfer(events.TransferDebited, "t2", "alice", "carol", "5", usd, 0, 1), 2,
			map[string]string{"alice": "64.5", inFlight: "5"}},
		{"credited", ledgertest.Transfer(events.TransferCredited, "t2", "alice", "carol", "5", usd, 0, 1), 2,
			map[string]string{inFlight: "0", "carol": "5"}},
		{"cross-shard completed", ledgertest.Transfer(events.TransferCompleted, "t2", "alice", "carol", "5", usd, 0, 1), 0,
			map[string]string{"alice": "64.5", "carol": "5"}},
		{"debited again", ledgertest.Transfer(events.TransferDebited, "t3", "alice", "bob", "7.25", usd, 0, 2), 2,
			map[string]string{"alice": "57.25", inFlight: "7.25"}},
		{"credit rejected", ledgertest.Transfer(events.TransferCreditRejected, "t3", "alice", "bob", "7.25", usd, 0, 2), 0,
			map[string]string{inFlight: "7.25"}},
		{"failed (refund)", ledgertest.Transfer(events.TransferFailed, "t3", "alice", "bob", "7.25", usd, 0, 2), 2,
			map[string]string{"alice": "64.5", inFlight: "0", "bob": "20"}},
		{"status changed", ledgertest.Event(events.AccountStatusChanged, "bob", events.Account{AccountID: "bob"}), 0, nil},
		{"future type", ledgertest.Event("account.renamed", "bob", map[string]string{"x": "y"}), 0, nil},
	}
	for _, st := range steps {
		before := count(t, db, "journal_entries")
		if !mustApply(t, s, st.event) {
			t.Fatalf("%s: not applied", st.name)
		}
		if got := count(t, db, "journal_entries") - before; got != st.entries {
			t.Errorf("%s: %d entries, want %d", st.name, got, st.entries)
		}
		for acct, want := range st.want {
			assertBalance(t, s, acct, want)
		}
	}
	assertJournalBalanced(t, db)
	assertBalanceAfter(t, db)
	assertBalance(t, s, world, "-89.5") // money held in the wallet: 64.5 + 20 + 5

	// Redelivery: the same event ids change nothing.
	tables := []string{"journal_transactions", "journal_entries", "ledger_accounts"}
	counts := map[string]int{}
	for _, tb := range tables {
		counts[tb] = count(t, db, tb)
	}
	for _, st := range steps {
		if mustApply(t, s, st.event) {
			t.Errorf("%s: applied twice", st.name)
		}
	}
	for _, tb := range tables {
		if got := count(t, db, tb); got != counts[tb] {
			t.Errorf("%s: %d rows after redelivery, want %d", tb, got, counts[tb])
		}
	}
	assertBalance(t, s, "alice", "64.5")
}

func TestApplyCurrencyConflict(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	mustApply(t, s, ledgertest.Opened("dave", "EUR"))
	eff, err := ledger.FromEvent(ledgertest.Deposited("dave", "1.00", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), eff); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Apply = %v, want ErrConflict", err)
	}
	if n := count(t, db, "inbox"); n != 1 {
		t.Errorf("inbox has %d rows, want 1: a failed apply must roll its inbox row back", n)
	}
}

// Concurrent deposits all lock @world:USD; none may deadlock for good or
// lose an update.
func TestApplyConcurrent(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eff, err := ledger.FromEvent(ledgertest.Deposited(fmt.Sprintf("acct-%d", i%5), "1.25", "USD"))
			if err == nil {
				_, err = s.Apply(context.Background(), eff)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	assertBalance(t, s, ledger.World("USD"), "-50")
	assertBalance(t, s, "acct-3", "10")
	assertBalanceAfter(t, db)
}

func count(t *testing.T, db *sqlx.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func assertBalance(t *testing.T, s *mysql.Store, account, want string) {
	t.Helper()
	b, err := s.Balance(context.Background(), account, time.Time{})
	if err != nil {
		t.Fatalf("Balance(%s): %v", account, err)
	}
	if !b.Balance.Equal(decimal.RequireFromString(want)) {
		t.Errorf("balance of %s = %s, want %s", account, b.Balance, want)
	}
}

// assertJournalBalanced checks the double-entry rule on every journal
// transaction.
func assertJournalBalanced(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var bad []string
	if err := db.Select(&bad, `SELECT CONCAT(journal_id, ' ', currency, ' ', SUM(amount)) FROM journal_entries
		GROUP BY journal_id, currency HAVING SUM(amount) <> 0`); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("unbalanced journal transactions: %v", bad)
	}
}

// assertBalanceAfter replays every account's entries in id order: each
// balance_after must be the running sum, the last one the account's balance.
func assertBalanceAfter(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var rows []struct {
		Account string          `db:"account_id"`
		Amount  decimal.Decimal `db:"amount"`
		After   decimal.Decimal `db:"balance_after"`
	}
	if err := db.Select(&rows, "SELECT account_id, amount, balance_after FROM journal_entries ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	sums := map[string]decimal.Decimal{}
	for _, r := range rows {
		sums[r.Account] = sums[r.Account].Add(r.Amount)
		if !sums[r.Account].Equal(r.After) {
			t.Errorf("%s: balance_after %s, running sum %s", r.Account, r.After, sums[r.Account])
		}
	}
	for acct, sum := range sums {
		var bal decimal.Decimal
		if err := db.Get(&bal, "SELECT balance FROM ledger_accounts WHERE account_id = ?", acct); err != nil {
			t.Fatal(err)
		}
		if !bal.Equal(sum) {
			t.Errorf("%s: balance %s, entries sum to %s", acct, bal, sum)
		}
	}
}

// A saga step repeated under a new event id (the account-service redriver)
// is the same business event: the ledger journals it once.
func TestApplyRepeatedStepUnderNewEventID(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	mustApply(t, s, ledgertest.Opened("alice", "USD"))
	mustApply(t, s, ledgertest.Deposited("alice", "10", "USD"))
	first := ledgertest.Transfer(events.TransferDebited, "t9", "alice", "bob", "4", "USD", 0, 1)
	mustApply(t, s, first)
	again := first
	again.ID = ledgertest.NewID()
	mustApply(t, s, again)
	if got := count(t, db, "journal_transactions"); got != 2 {
		t.Fatalf("%d journal transactions, want 2 (deposit, one debit)", got)
	}
	assertBalance(t, s, "alice", "6")
	assertBalance(t, s, ledger.InFlight("USD"), "4")
}

// Two sources that used one transaction_id on different shards are two
// business events: both are journaled.
func TestApplySameTransactionIDFromTwoSources(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	mustApply(t, s, ledgertest.Transfer(events.TransferDebited, "t1", "alice", "carol", "3", "USD", 0, 1))
	mustApply(t, s, ledgertest.Transfer(events.TransferDebited, "t1", "bob", "carol", "4", "USD", 2, 1))
	if got := count(t, db, "journal_transactions"); got != 2 {
		t.Fatalf("%d journal transactions, want 2", got)
	}
	assertBalance(t, s, ledger.InFlight("USD"), "7")
}

// As-of balances do not depend on the order events were applied in: a
// deposit retried after a later one still counts at its own time.
func TestAsOfIgnoresApplyOrder(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	noon := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	early := ledgertest.Deposited("dana", "100", "USD")
	early.Time = noon
	late := ledgertest.Deposited("dana", "5", "USD")
	late.Time = noon.Add(time.Hour)
	mustApply(t, s, late)
	mustApply(t, s, early)
	for _, tt := range []struct {
		at   time.Time
		want string
	}{{noon.Add(-time.Minute), "0.00"}, {noon.Add(time.Minute), "100.00"}, {noon.Add(2 * time.Hour), "105.00"}} {
		b, err := s.Balance(context.Background(), "dana", tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Balance.StringFixed(2); got != tt.want {
			t.Errorf("as of %s: %s, want %s", tt.at.Format(time.TimeOnly), got, tt.want)
		}
	}
}
