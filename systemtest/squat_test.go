package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/testenv"
)

// transaction_id squatting on the real binaries: bob, who received
// alice's transfer, reuses its id for a refused transfer and for a real
// 0.01 one to carol. Alice's lookups by the id still find her transfer
// and name no account of bob's but the one she paid, nor carol's; and
// reconcile passes, reporting the reuse as a warning.
func TestTransactionIDSquatting(t *testing.T) {
	s := New(t, binDir)
	s.StartAll()
	alice, bob, bob2, carol := idOn(0), idOn(1), idOn(2), idOn(3)
	for id, owner := range map[string]string{alice: "u-alice", bob: "u-bob", bob2: "u-bob", carol: "u-carol"} {
		if code, body := s.Do("POST", s.URL("account-service")+"/v1/accounts",
			map[string]string{"account_id": id, "owner_id": owner, "currency": "USD"}); code != http.StatusCreated {
			t.Fatalf("open %s: %d %v", id, code, body)
		}
	}
	s.mustMove("deposits", alice, "10.00", "USD")
	s.mustMove("deposits", bob2, "1.00", "USD")
	acc := s.URL("account-service")
	asAlice, asBob := s.Token(auth.Customer, "u-alice"), s.Token(auth.Customer, "u-bob")
	x := uuid.NewString()
	send := func(token, from, to, amount string) int {
		code, _ := s.DoAs(token, "POST", acc+"/v1/wallet/balance_transfer",
			map[string]string{"from_account": from, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": x})
		return code
	}
	if code := send(asAlice, alice, bob, "5.00"); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("alice's transfer: %d", code)
	}
	if code := send(asBob, bob, carol, "50.00"); code != http.StatusUnprocessableEntity {
		t.Fatalf("bob's refused transfer under alice's id: %d", code)
	}
	if code := send(asBob, bob2, carol, "0.01"); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("bob's real transfer under alice's id: %d", code)
	}
	s.waitLedgerAgrees(alice, bob, bob2, carol)

	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		for _, q := range []string{"", "?from_account=" + alice} {
			code, body := s.DoAs(asAlice, "GET", acc+"/v1/wallet/transfers/"+x+q, nil)
			raw, _ := json.Marshal(body)
			if code != http.StatusOK || body["from_account"] != alice || body["status"] != "completed" ||
				strings.Contains(string(raw), bob2) || strings.Contains(string(raw), carol) {
				return fmt.Errorf("alice's lookup %q: %d %s", q, code, raw)
			}
		}
		return nil
	})

	s.waitPublishedAndApplied(20 * time.Second)
	code, rep, log := s.reconcile(nil)
	if code != 0 || !slices.Equal(rep.kinds(), []string{"transaction_id_reused"}) || rep.Counts["transaction_id_reused"] != 1 {
		t.Fatalf("reconcile after the squat: exit %d, findings %v, want exit 0 with one transaction_id_reused warning\n%s", code, rep.Counts, log)
	}
}
