//go:build wallet_bug_no_dedupe

package mysql_test

import (
	"testing"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// In a wallet_bug_no_dedupe build a saga event delivered twice applies
// twice: the destination is credited twice, a rejected transfer refunded
// twice.
func TestBugNoDedupeAppliesRedeliveriesTwice(t *testing.T) {
	f := mustFixture(t)
	a, b := idOn(0), idOn(1)
	f.open(a, "50.00")
	f.open(b, "")
	twice := func(e events.Event) {
		t.Helper()
		for range 2 {
			if err := f.step(e); err != nil {
				t.Fatal(err)
			}
		}
	}

	tr := f.transfer(a, b, "20.00")
	twice(f.lastEvent(0, events.TransferDebited, tr.TransactionID))
	if got := f.balance(b); got != "40.00" {
		t.Fatalf("destination %s after the debit came twice, want the double credit 40.00", got)
	}

	tr = f.transfer(a, f.destination(account.Frozen), "10.00") // source 30.00 -> 20.00
	if err := f.step(f.lastEvent(0, events.TransferDebited, tr.TransactionID)); err != nil {
		t.Fatal(err)
	}
	twice(f.lastEvent(1, events.TransferCreditRejected, tr.TransactionID))
	if got := f.balance(a); got != "40.00" {
		t.Fatalf("source %s after the rejection came twice, want the double refund 40.00", got)
	}
}
