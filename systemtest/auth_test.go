package systemtest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/testenv"
)

// The real binaries, configured by WALLET_AUTH_JWT_SECRET: a customer
// reads and moves its own money on both services, and nobody else's; the
// ledger learns the owner from the account's shard.
func TestCustomerAccess(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	alice, bob := idOn(0), idOn(3)
	for id, owner := range map[string]string{alice: "u-alice", bob: "u-bob"} {
		if code, body := s.Do("POST", s.URL("account-service")+"/v1/accounts",
			map[string]string{"account_id": id, "owner_id": owner, "currency": "USD"}); code != http.StatusCreated {
			t.Fatalf("open %s: %d %v", id, code, body)
		}
	}
	s.mustMove("deposits", alice, "10.00", "USD")
	cust, mallory := s.Token(auth.Customer, "u-alice"), s.Token(auth.Customer, "u-mallory")
	acc, led := s.URL("account-service"), s.URL("ledger-service")

	if code, body := s.DoAs("", "GET", acc+"/v1/accounts/"+alice, nil); code != http.StatusUnauthorized || body["code"] != "unauthorized" {
		t.Errorf("no token: %d %v", code, body)
	}
	if code, body := s.DoAs(mallory, "GET", acc+"/v1/accounts/"+alice, nil); code != http.StatusNotFound || body["code"] != "account_not_found" {
		t.Errorf("another's account: %d %v", code, body)
	}
	if code, body := s.DoAs(cust, "POST", acc+"/v1/wallet/balance_transfer", map[string]string{"from_account": bob,
		"to_account": alice, "amount": "1.00", "currency": "USD", "transaction_id": uuid.NewString()}); code != http.StatusNotFound {
		t.Errorf("transfer from another's account: %d %v", code, body)
	}
	if code, body := s.DoAs(cust, "POST", acc+"/v1/wallet/balance_transfer", map[string]string{"from_account": alice,
		"to_account": bob, "amount": "4.00", "currency": "USD", "transaction_id": uuid.NewString()}); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("transfer from its own account: %d %v", code, body)
	}
	s.waitLedgerAgrees(alice, bob)
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if code, body := s.DoAs(cust, "GET", led+"/v1/ledger/accounts/"+alice+"/balance", nil); code != http.StatusOK || body["balance"] != "6.00" {
			return fmt.Errorf("own ledger balance: %d %v", code, body)
		}
		return nil
	})
	if code, body := s.DoAs(cust, "GET", led+"/v1/ledger/accounts/"+bob+"/entries", nil); code != http.StatusNotFound || body["code"] != "account_not_found" {
		t.Errorf("another's ledger entries: %d %v", code, body)
	}
	if code, body := s.DoAs("", "GET", acc+"/readyz", nil); code != http.StatusOK || len(body) != 1 {
		t.Errorf("anonymous /readyz: %d %v, want the status alone", code, body)
	}
}
