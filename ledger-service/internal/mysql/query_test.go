package mysql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

func TestBalanceAsOf(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mustApply(t, s, ledgertest.Opened("alice", "KRW"))
	for i, amount := range []string{"1000", "250", "4000"} {
		e := ledgertest.Deposited("alice", amount, "KRW")
		e.Time = t0.Add(time.Duration(i) * time.Hour)
		mustApply(t, s, e)
	}
	tests := []struct {
		name string
		asOf time.Time
		want string
	}{
		{"before any entry", t0.Add(-time.Nanosecond), "0"},
		{"exactly at the first", t0, "1000"},
		{"between first and second", t0.Add(30 * time.Minute), "1000"},
		{"exactly at the second", t0.Add(time.Hour), "1250"},
		{"after the last", t0.Add(24 * time.Hour), "5250"},
		{"in another zone", t0.Add(2 * time.Hour).In(time.FixedZone("KST", 9*3600)), "5250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := s.Balance(ctx, "alice", tt.asOf)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Balance.Equal(decimal.RequireFromString(tt.want)) || b.Currency != "KRW" || !b.AsOf.Equal(tt.asOf.Truncate(time.Microsecond)) {
				t.Errorf("Balance as of %s = %s %s (as of %s), want %s", tt.asOf, b.Balance, b.Currency, b.AsOf, tt.want)
			}
		})
	}
	if _, err := s.Balance(ctx, "nobody", t0); !problem.Is(err, problem.AccountNotFound) {
		t.Errorf("Balance(unknown) = %v, want account_not_found", err)
	}
}

func TestEntriesPagination(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	for i := 1; i <= 7; i++ {
		mustApply(t, s, ledgertest.Deposited("alice", fmt.Sprint(i), "USD"))
	}
	mustApply(t, s, ledgertest.Deposited("bob", "99", "USD")) // must not show up

	var amounts []string
	var before int64
	pages := 0
	for {
		p, err := s.Entries(ctx, "alice", before, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for i, e := range p.Entries {
			if e.AccountID != "alice" || e.EventType != events.AccountDeposited || e.TransactionID == "" {
				t.Errorf("entry %+v", e)
			}
			if i > 0 && e.ID >= p.Entries[i-1].ID {
				t.Errorf("entries not newest first: %d after %d", e.ID, p.Entries[i-1].ID)
			}
			amounts = append(amounts, e.Amount.String())
		}
		if p.Next == 0 {
			break
		}
		before = p.Next
	}
	if want := "[7 6 5 4 3 2 1]"; fmt.Sprint(amounts) != want || pages != 3 {
		t.Errorf("amounts %v in %d pages, want %s in 3", amounts, pages, want)
	}
	p, err := s.Entries(ctx, "alice", 0, 7)
	if err != nil || len(p.Entries) != 7 || p.Next != 0 {
		t.Errorf("exact page: %d entries, next %d, err %v; want 7, 0", len(p.Entries), p.Next, err)
	}
	if !p.Entries[0].BalanceAfter.Equal(decimal.NewFromInt(28)) {
		t.Errorf("newest balance_after = %s, want 28", p.Entries[0].BalanceAfter)
	}
	if _, err := s.Entries(ctx, "nobody", 0, 3); !problem.Is(err, problem.AccountNotFound) {
		t.Errorf("Entries(unknown) = %v, want account_not_found", err)
	}
}

func TestTransferJournals(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	mustApply(t, s, ledgertest.Deposited("alice", "10", "USD"))
	for _, typ := range []string{events.TransferDebited, events.TransferCredited, events.TransferCompleted} {
		mustApply(t, s, ledgertest.Transfer(typ, "tx-1", "alice", "bob", "4", "USD", 0, 1))
	}
	js, err := s.Transfer(ctx, "tx-1", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range js {
		got = append(got, fmt.Sprintf("%s:%d", j.EventType, len(j.Entries)))
	}
	if want := "[transfer.debited:2 transfer.credited:2 transfer.completed:0]"; fmt.Sprint(got) != want {
		t.Errorf("journals %v, want %s", got, want)
	}
	if _, err := s.Transfer(ctx, "tx-unknown", ""); !problem.Is(err, problem.NotFound) {
		t.Errorf("Transfer(unknown) = %v, want not_found", err)
	}

	// The same id from another source account is another transfer: by the
	// id alone it is ambiguous, by source each is its own, never mixed.
	mustApply(t, s, ledgertest.Transfer(events.TransferCompleted, "tx-1", "carl", "dora", "2", "USD", 3, 3))
	if _, err := s.Transfer(ctx, "tx-1", ""); !problem.Is(err, problem.AmbiguousTransactionID) {
		t.Errorf("Transfer(reused id) = %v, want ambiguous_transaction_id", err)
	}
	for from, want := range map[string]int{"alice": 3, "carl": 1} {
		js, err := s.Transfer(ctx, "tx-1", from)
		if err != nil || len(js) != want {
			t.Errorf("Transfer(tx-1 from %s) = %d journals (%v), want %d", from, len(js), err, want)
		}
	}
	if _, err := s.Transfer(ctx, "tx-1", "bob"); !problem.Is(err, problem.NotFound) {
		t.Errorf("Transfer(tx-1 from a destination) = %v, want not_found", err)
	}
}

// The owner comes from account.opened's owner_id, in the ledger's own
// accounts table; a system account and an unknown one have none.
func TestOwnerFromAccountOpened(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	mustApply(t, s, ledgertest.Opened("alice", "USD"))
	mustApply(t, s, ledgertest.Deposited("alice", "5", "USD"))
	for account, want := range map[string]string{"alice": "owner-alice", "@world:USD": "", "nobody": ""} {
		if got, err := s.Owner(ctx, account); err != nil || got != want {
			t.Errorf("Owner(%s) = %q, %v; want %q", account, got, err, want)
		}
	}
}
