package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestAccountsAndMovements(t *testing.T) {
	e := mustEnv(t)
	r := e.post("/v1/accounts", map[string]string{"owner_id": "u1", "currency": "BHD"})
	if r.Status != http.StatusCreated || r.Body["balance"] != "0.000" || r.Body["status"] != "active" || r.Header.Get("Location") == "" {
		t.Fatalf("open: %d %s", r.Status, r.Raw)
	}
	id := r.Body["account_id"].(string)

	// Opening the same account again is a safe retry; different values conflict.
	if again := e.post("/v1/accounts", map[string]string{"account_id": id, "owner_id": "u1", "currency": "BHD"}); again.Status != http.StatusOK {
		t.Fatalf("reopen: %d %s", again.Status, again.Raw)
	}
	wantProblem(t, e.post("/v1/accounts", map[string]string{"account_id": id, "owner_id": "u2", "currency": "BHD"}), 409, "account_exists")

	dep := map[string]string{"amount": "5.125", "currency": "BHD", "transaction_id": uuid.NewString()}
	first := e.post("/v1/accounts/"+id+"/deposits", dep)
	if first.Status != http.StatusOK || first.Body["balance_after"] != "5.125" || first.Body["version"] != float64(1) {
		t.Fatalf("deposit: %d %s", first.Status, first.Raw)
	}
	if again := e.post("/v1/accounts/"+id+"/deposits", dep); again.Raw != first.Raw {
		t.Fatalf("deposit retry: %s, want %s", again.Raw, first.Raw)
	}
	wd := map[string]string{"amount": "2", "currency": "BHD", "transaction_id": uuid.NewString()}
	if w := e.post("/v1/accounts/"+id+"/withdrawals", wd); w.Status != http.StatusOK || w.Body["balance_after"] != "3.125" {
		t.Fatalf("withdraw: %d %s", w.Status, w.Raw)
	}
	before := e.snapshot()
	wantProblem(t, e.post("/v1/accounts/"+id+"/withdrawals", map[string]string{"amount": "3.126", "currency": "BHD", "transaction_id": uuid.NewString()}), 422, "insufficient_funds")
	wantProblem(t, e.post("/v1/accounts/"+id+"/deposits", map[string]string{"amount": "1", "currency": "USD", "transaction_id": uuid.NewString()}), 422, "currency_mismatch")
	wantProblem(t, e.post("/v1/accounts/"+id+"/deposits", map[string]string{"amount": "1", "currency": "BHD", "transaction_id": dep["transaction_id"]}), 422, "idempotency_conflict")
	wantProblem(t, e.post("/v1/accounts/nobody/deposits", map[string]string{"amount": "1", "currency": "BHD", "transaction_id": uuid.NewString()}), 404, "account_not_found")
	if after := e.snapshot(); after != before {
		t.Fatalf("rejections changed state:\n%s\n%s", before, after)
	}
	if got := e.balance(id); got != "3.125" {
		t.Fatalf("balance %s", got)
	}
}

func TestHTTPErrors(t *testing.T) {
	e := mustEnv(t)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"unknown route", "GET", "/v1/nothing", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/accounts", "", "", 405, "method_not_allowed"},
		{"wrong content type", "POST", "/v1/accounts", "text/plain", `{}`, 415, "unsupported_media_type"},
		{"oversized body", "POST", "/v1/accounts", "application/json", `{"owner_id":"` + strings.Repeat("x", 70000) + `"}`, 413, "payload_too_large"},
		{"empty body", "POST", "/v1/accounts", "application/json", ``, 400, "invalid_request"},
		{"wrong type", "POST", "/v1/accounts", "application/json", `{"owner_id": 5, "currency":"USD"}`, 400, "invalid_request"},
		{"bad account id", "POST", "/v1/accounts", "application/json", `{"account_id":"a/b","owner_id":"u","currency":"USD"}`, 400, "invalid_request"},
		{"bad currency", "POST", "/v1/accounts", "application/json", `{"owner_id":"u","currency":"usd"}`, 400, "invalid_request"},
		{"missing account", "GET", "/v1/accounts/ghost", "", "", 404, "account_not_found"},
		{"missing transfer", "GET", "/v1/wallet/transfers/" + uuid.NewString(), "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(tt.method, tt.path, tt.ctype, tt.body), tt.status, tt.code)
		})
	}
	if r := e.do("GET", "/readyz", "", ""); r.Status != 200 {
		t.Fatalf("readyz: %d %s", r.Status, r.Raw)
	}
}

// A balance may reach money.MaxBalance (999999999999999999.99 in USD) but
// not pass it: a deposit or same-shard transfer that would is refused with
// 422 balance_limit_exceeded, and nothing changes.
func TestBalanceCeiling(t *testing.T) {
	e := mustEnv(t)
	const ceiling = "999999999999999999.99"
	a, b := idOn(0), idOn(0)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "1.00", "USD")
	e.mustDeposit(b, "1.00", "USD")
	// Reaching the ceiling with deposits takes 1,001 maximal ones (an amount
	// has at most 15 integer digits), so start a near it directly.
	if _, err := e.shards[0].Exec("UPDATE accounts SET balance = ? WHERE account_id = ?", "999999999999999000.00", a); err != nil {
		t.Fatal(err)
	}
	deposit := func(amount string) response {
		return e.post("/v1/accounts/"+a+"/deposits", map[string]string{"amount": amount, "currency": "USD", "transaction_id": uuid.NewString()})
	}
	if r := deposit("999.98"); r.Status != http.StatusOK || r.Body["balance_after"] != "999999999999999999.98" {
		t.Fatalf("deposit to just below the ceiling: %d %s", r.Status, r.Raw)
	}

	before := e.snapshot()
	over := deposit("0.02")
	wantProblem(t, over, 422, "balance_limit_exceeded")
	if over.Body["limit"] != ceiling {
		t.Errorf("the problem must name the limit: %s", over.Raw)
	}
	wantProblem(t, e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": b, "to_account": a,
		"amount": "0.02", "currency": "USD", "transaction_id": uuid.NewString()}), 422, "balance_limit_exceeded")
	if after := e.snapshot(); after != before {
		t.Fatalf("refused credits changed state:\n%s\n%s", before, after)
	}
	if got := e.balance(a); got != "999999999999999999.98" {
		t.Fatalf("balance %s after refused credits", got)
	}

	// The ceiling itself is allowed; a cent more is not, by deposit or transfer.
	if r := deposit("0.01"); r.Status != http.StatusOK || r.Body["balance_after"] != ceiling {
		t.Fatalf("deposit up to the ceiling: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, deposit("0.01"), 422, "balance_limit_exceeded")
	wantProblem(t, e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": b, "to_account": a,
		"amount": "0.01", "currency": "USD", "transaction_id": uuid.NewString()}), 422, "balance_limit_exceeded")
	if got, other := e.balance(a), e.balance(b); got != ceiling || other != "1.00" {
		t.Fatalf("balances %s / %s, want %s / 1.00", got, other, ceiling)
	}
}
