package account

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

func TestRules(t *testing.T) {
	usd := func(s string) money.Amount { a, _ := money.Parse(s, "USD"); return a }
	acc := Account{ID: "a", Currency: "USD", Balance: decimal.RequireFromString("10"), Status: Active}
	full := Account{ID: "f", Currency: "USD", Balance: decimal.RequireFromString("999999999999999989.99"), Status: Active}
	tests := []struct {
		name string
		err  error
		want problem.Code
	}{
		{"enough funds", acc.CheckFunds(usd("10")), ""},
		{"short by a cent", acc.CheckFunds(usd("10.01")), problem.InsufficientFunds},
		{"frozen", Account{Status: Frozen}.CanMoveMoney(), problem.AccountFrozen},
		{"closed", Account{Status: Closed}.CanMoveMoney(), problem.AccountClosed},
		{"active", acc.CanMoveMoney(), ""},
		{"currency", acc.CheckCurrency(func() money.Amount { a, _ := money.Parse("1", "EUR"); return a }()), problem.CurrencyMismatch},
		{"up to the balance ceiling", full.CheckLimit(usd("10")), ""},
		{"a cent over the ceiling", full.CheckLimit(usd("10.01")), problem.BalanceLimitExceeded},
		{"sending ignores the ceiling", full.CanSend(usd("10")), ""},
	}
	for _, tt := range tests {
		got := problem.Code("")
		if tt.err != nil {
			got = problem.CodeOf(tt.err)
		}
		if got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTransferRequestValidate(t *testing.T) {
	amt, _ := money.Parse("1", "USD")
	ok := TransferRequest{TransactionID: "0b8f9a3e-6f57-4f7e-9d55-8a1b2c3d4e5f", From: "a", To: "b", Amount: amt}
	tests := []struct {
		name string
		mod  func(*TransferRequest)
		want problem.Code
	}{
		{"valid", func(*TransferRequest) {}, ""},
		{"same account", func(r *TransferRequest) { r.To = "a" }, problem.SameAccount},
		{"bad uuid", func(r *TransferRequest) { r.TransactionID = "tx-1" }, problem.InvalidRequest},
		{"upper-case uuid", func(r *TransferRequest) { r.TransactionID = "0B8F9A3E-6F57-4F7E-9D55-8A1B2C3D4E5F" }, problem.InvalidRequest},
		{"bad account id", func(r *TransferRequest) { r.From = "a b" }, problem.InvalidRequest},
	}
	for _, tt := range tests {
		r := ok
		tt.mod(&r)
		got := problem.Code("")
		if err := r.Validate(); err != nil {
			got = problem.CodeOf(err)
		}
		if got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
	other := ok
	other.Amount, _ = money.Parse("1.00", "USD")
	if ok.Hash() != other.Hash() {
		t.Error("1 and 1.00 USD are the same request")
	}
	other.To = "c"
	if ok.Hash() == other.Hash() {
		t.Error("a different destination must change the hash")
	}
}

// account.opened carries the owner (ADR 0038: the ledger learns it from the
// event, not from account-service's tables).
func TestAccountPayloadCarriesTheOwner(t *testing.T) {
	b, err := json.Marshal(AccountPayload(Account{ID: "alice-1", OwnerID: "u-alice", Currency: "USD", Status: Active}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"owner_id":"u-alice"`) {
		t.Fatalf("account payload %s has no owner_id", b)
	}
}
