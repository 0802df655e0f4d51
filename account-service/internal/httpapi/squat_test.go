package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// transaction_id squatting: bob, who received alice's transfer, reuses its
// id for a refused transfer and for a real one, both to carol. Alice's
// lookups by the id still find her transfer, no answer to a customer names
// an account of an owner who is no party to what it asked about, and only
// an operator sees every source account that used the id.
func TestTransactionIDSquatting(t *testing.T) {
	e := mustEnv(t)
	al, bo, bo2, bo3, ca := idOn(0), idOn(0), idOn(1), idOn(2), idOn(3)
	for id, owner := range map[string]string{al: "u-alice", bo: "u-bob", bo2: "u-bob", bo3: "u-bob", ca: "u-carol"} {
		if r := e.post("/v1/accounts", map[string]string{"account_id": id, "owner_id": owner, "currency": "USD"}); r.Status != http.StatusCreated {
			t.Fatalf("open %s: %d %s", id, r.Status, r.Raw)
		}
	}
	e.mustDeposit(al, "10.00", "USD")
	e.mustDeposit(bo3, "1.00", "USD")
	alice := e.as(authtest.Token(t, auth.Customer, "u-alice"))
	bob := e.as(authtest.Token(t, auth.Customer, "u-bob"))
	carol := e.as(authtest.Token(t, auth.Customer, "u-carol"))
	mallory := e.as(authtest.Token(t, auth.Customer, "u-mallory"))
	x := uuid.NewString()
	send := func(c *env, from, to, amount string) response {
		t.Helper()
		return c.post("/v1/wallet/balance_transfer", map[string]string{"from_account": from, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": x})
	}
	if r := send(alice, al, bo, "5.00"); r.Status != http.StatusOK {
		t.Fatalf("alice's transfer: %d %s", r.Status, r.Raw)
	}
	// bob's answers name none of alice's accounts.
	wantProblem(t, send(bob, bo2, ca, "1.00"), http.StatusUnprocessableEntity, "insufficient_funds")
	wantProblem(t, send(bob, bo2, ca, "1.00"), http.StatusUnprocessableEntity, "insufficient_funds") // a replay
	if r := send(bob, bo3, ca, "0.01"); r.Status != http.StatusAccepted || strings.Contains(r.Raw, al) {
		t.Fatalf("bob's real transfer under alice's id: %d %s", r.Status, r.Raw)
	}

	// noLeak fails when a customer's answer names an account of someone
	// who is not a party to it.
	noLeak := func(who string, r response, others ...string) {
		t.Helper()
		for _, id := range others {
			if strings.Contains(r.Raw+r.Header.Get("Location"), id) {
				t.Errorf("%s's answer names %s: %d %s", who, id, r.Status, r.Raw)
			}
		}
	}
	get := func(c *env, query string) response {
		t.Helper()
		return c.do(http.MethodGet, "/v1/wallet/transfers/"+x+query, "", "")
	}
	for _, q := range []string{"", "?from_account=" + al} {
		r := get(alice, q)
		if r.Status != http.StatusOK || r.Body["from_account"] != al || r.Body["to_account"] != bo || r.Body["status"] != "completed" {
			t.Fatalf("alice's lookup %q after the squat: %d %s", q, r.Status, r.Raw)
		}
		noLeak("alice", r, bo2, bo3, ca)
	}
	for _, from := range []string{bo2, bo3} {
		r := get(alice, "?from_account="+from)
		wantProblem(t, r, http.StatusNotFound, "not_found")
		if missing := get(alice, "?from_account="+from+"zz"); r.Body["detail"] != strings.Replace(missing.Body["detail"].(string), from+"zz", from, 1) {
			t.Errorf("another's transfer reads unlike a missing one: %s vs %s", r.Raw, missing.Raw)
		}
		noLeak("alice", r, ca) // it echoes the account alice named, nothing more
	}

	// bob sees his own sends, not alice's; carol what was sent to her.
	r := get(bob, "")
	wantProblem(t, r, http.StatusConflict, "ambiguous_transaction_id")
	if got := fromAccounts(r); !slices.Equal(got, sorted(bo2, bo3)) {
		t.Errorf("bob's ambiguous lookup lists %v, want his own %v", got, sorted(bo2, bo3))
	}
	noLeak("bob", r, al, ca)
	r = get(carol, "")
	wantProblem(t, r, http.StatusConflict, "ambiguous_transaction_id")
	noLeak("carol", r, al, bo)
	r = get(mallory, "")
	wantProblem(t, r, http.StatusNotFound, "not_found")
	noLeak("mallory", r, al, bo, bo2, bo3, ca)

	// An operator sees every source account that used the id.
	r = get(e, "")
	wantProblem(t, r, http.StatusConflict, "ambiguous_transaction_id")
	if got := fromAccounts(r); !slices.Equal(got, sorted(al, bo2, bo3)) {
		t.Errorf("operator's lookup lists %v, want %v", got, sorted(al, bo2, bo3))
	}
	if got := e.balance(al); got != "5.00" {
		t.Errorf("alice holds %s, want 5.00", got)
	}
}

func fromAccounts(r response) []string {
	var out []string
	list, _ := r.Body["from_accounts"].([]any)
	for _, f := range list {
		out = append(out, f.(string))
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }
