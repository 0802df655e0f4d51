package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/httpapi"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// as returns e sending token instead ("": no token).
func (e *env) as(token string) *env {
	c := *e
	c.token = token
	return &c
}

// openFor opens a USD account of owner with 100.00 in it.
func (e *env) openFor(id, owner string) {
	e.t.Helper()
	if r := e.post("/v1/accounts", map[string]string{"account_id": id, "owner_id": owner, "currency": "USD"}); r.Status != http.StatusCreated {
		e.t.Fatalf("open %s: %d %s", id, r.Status, r.Raw)
	}
	e.mustDeposit(id, "100.00", "USD")
}

// Every route against every role: what is refused is refused with the
// right problem and leaves the shards as they were.
func TestAccess(t *testing.T) {
	e := mustEnv(t)
	alice, bob := idOn(0), idOn(0) // one shard: a transfer settles at once
	e.openFor(alice, "u-alice")
	e.openFor(bob, "u-bob")
	bobsTx := uuid.NewString()
	if r := e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": bob, "to_account": alice,
		"amount": "1.00", "currency": "USD", "transaction_id": bobsTx}); r.Status != http.StatusOK {
		t.Fatalf("operator transfer: %d %s", r.Status, r.Raw)
	}

	cust := e.as(authtest.Token(t, auth.Customer, "u-alice"))
	mallory := e.as(authtest.Token(t, auth.Customer, "u-mallory"))
	service := e.as(authtest.Token(t, auth.Service, "payments"))
	transfer := func(from, to string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":"1.00","currency":"USD","transaction_id":%q}`, from, to, uuid.NewString())
	}
	deposit := `{"amount":"5.00","currency":"USD","transaction_id":"` + uuid.NewString() + `"}`
	denied := []struct {
		name         string
		e            *env
		method, path string
		body         string
		status       int
		code         string
	}{
		{"no token", e.as(""), "GET", "/v1/accounts/" + alice, "", 401, "unauthorized"},
		{"bad token", e.as("nope"), "POST", "/v1/wallet/balance_transfer", transfer(alice, bob), 401, "unauthorized"},
		{"wrong secret", e.as(mustMint(t, "another-secret-another-secret-!!!!")), "POST", "/v1/accounts/" + alice + "/deposits", deposit, 401, "unauthorized"},
		{"customer deposits", cust, "POST", "/v1/accounts/" + alice + "/deposits", deposit, 403, "forbidden"},
		{"customer withdraws", cust, "POST", "/v1/accounts/" + alice + "/withdrawals", deposit, 403, "forbidden"},
		{"customer freezes", cust, "PATCH", "/v1/accounts/" + alice, `{"status":"frozen"}`, 403, "forbidden"},
		{"customer opens", cust, "POST", "/v1/accounts", `{"account_id":"new-1","owner_id":"u-alice","currency":"USD"}`, 403, "forbidden"},
		{"service freezes", service, "PATCH", "/v1/accounts/" + alice, `{"status":"frozen"}`, 403, "forbidden"},
		{"service deposits", service, "POST", "/v1/accounts/" + alice + "/deposits", deposit, 403, "forbidden"},
		{"another's account", mallory, "GET", "/v1/accounts/" + alice, "", 404, "account_not_found"},
		{"from another's account", mallory, "POST", "/v1/wallet/balance_transfer", transfer(alice, bob), 404, "account_not_found"},
		{"from another's account to one's own", cust, "POST", "/v1/wallet/balance_transfer", transfer(bob, alice), 404, "account_not_found"},
		{"another's transfer", mallory, "GET", "/v1/wallet/transfers/" + bobsTx, "", 404, "not_found"},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			r := tt.e.do(tt.method, tt.path, "application/json", tt.body)
			if r.Status != tt.status || r.Body["code"] != tt.code {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Raw, tt.status, tt.code)
			}
			if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if after := e.snapshot(); after != before {
				t.Errorf("a denied request changed the shards:\n%s\n%s", before, after)
			}
			for _, id := range []string{alice, bob} {
				if st := e.do("GET", "/v1/accounts/"+id, "", "").Body["status"]; st != "active" {
					t.Errorf("%s is %v after a denied request", id, st)
				}
			}
		})
	}

	// Another's account reads exactly like a missing one.
	other := mallory.do("GET", "/v1/accounts/"+alice, "", "")
	missing := mallory.do("GET", "/v1/accounts/"+alice+"zz", "", "")
	if other.Body["detail"] != fmt.Sprintf("account %s does not exist", alice) || missing.Status != 404 {
		t.Errorf("another's account: %s; a missing one: %s", other.Raw, missing.Raw)
	}

	// What each role may do.
	if r := cust.do("GET", "/v1/accounts/"+alice, "", ""); r.Status != 200 || r.Body["owner_id"] != "u-alice" {
		t.Errorf("customer reads its account: %d %s", r.Status, r.Raw)
	}
	if r := cust.do("POST", "/v1/wallet/balance_transfer", "application/json", transfer(alice, bob)); r.Status != 200 || r.Body["status"] != "success" {
		t.Errorf("customer transfers from its account: %d %s", r.Status, r.Raw)
	}
	if r := cust.do("GET", "/v1/wallet/transfers/"+bobsTx, "", ""); r.Status != 200 {
		t.Errorf("customer reads a transfer to its account: %d %s", r.Status, r.Raw)
	}
	if r := service.do("POST", "/v1/wallet/balance_transfer", "application/json", transfer(bob, alice)); r.Status != 200 {
		t.Errorf("service transfers: %d %s", r.Status, r.Raw)
	}
	if r := service.do("GET", "/v1/accounts/"+bob, "", ""); r.Status != 200 {
		t.Errorf("service reads: %d %s", r.Status, r.Raw)
	}
	if r := e.do("PATCH", "/v1/accounts/"+bob, "application/json", `{"status":"frozen"}`); r.Status != 200 {
		t.Errorf("operator freezes: %d %s", r.Status, r.Raw)
	}
	if got := e.balance(alice); got != "101.00" {
		t.Errorf("alice has %s, want 101.00 (100 +1 from bob -1 to bob +1 by the service)", got)
	}
}

func mustMint(t *testing.T, secret string) string {
	t.Helper()
	tok, err := auth.Mint(secret, "ops", auth.Operator, 0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A customer past http.rate_limit gets 429 and Retry-After, and the
// refused request moved nothing.
func TestRateLimited(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	h, err := httpapi.New(f.Store, f.Writer, noWaiter{}, httpapi.Options{Guard: authtest.Guard(t, httpapi.Policy(), 1),
		ReadyDetail: func() map[string]any { return map[string]any{"consumers": "secret detail"} }},
		slog.New(slog.DiscardHandler), f.Store.Ping)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL, shards: f.DBs, f: f, token: authtest.Operator(t)}
	a, b := idOn(1), idOn(1)
	e.openFor(a, "u-alice")
	e.openFor(b, "u-bob")

	// /readyz: details for operators, the status alone for others.
	if r := e.do("GET", "/readyz", "", ""); r.Body["consumers"] != "secret detail" {
		t.Errorf("operator /readyz: %s", r.Raw)
	}

	cust := e.as(authtest.Token(t, auth.Customer, "u-alice"))
	var limited *response
	for i := range 5 {
		before := e.snapshot()
		r := cust.do("POST", "/v1/wallet/balance_transfer", "application/json",
			fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":"1.00","currency":"USD","transaction_id":"rl-%d"}`, a, b, i))
		if r.Status == http.StatusTooManyRequests {
			limited = &r
			if after := e.snapshot(); after != before {
				t.Errorf("a rate-limited transfer changed the shards")
			}
			break
		}
	}
	if limited == nil || limited.Body["code"] != "rate_limited" || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("5 transfers at once at 1/s: %+v", limited)
	}
	if r := e.as("").do("GET", "/readyz", "", ""); r.Body["consumers"] != nil || r.Body["status"] != "ready" {
		t.Errorf("anonymous /readyz: %s", r.Raw)
	}
}
