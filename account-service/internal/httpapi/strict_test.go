package httpapi_test

import (
	"net/http"
	"testing"
)

// Duplicate keys and keys in another letter case are refused on every route
// that takes a body, and nothing changes: a proxy or an audit log that reads
// the first "amount" must see the request that is executed.
func TestStrictJSON(t *testing.T) {
	e := mustEnv(t)
	a, b := idOn(0), idOn(0)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "10.00", "USD")
	tx := `"transaction_id":"8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c01"`
	tests := []struct{ name, method, path, body string }{
		{"deposit duplicate amount", "POST", "/v1/accounts/" + a + "/deposits", `{"amount":"1.00","amount":"7.00","currency":"USD",` + tx + `}`},
		{"deposit AMOUNT", "POST", "/v1/accounts/" + a + "/deposits", `{"AMOUNT":"1.00","currency":"USD",` + tx + `}`},
		{"withdrawal Transaction_ID", "POST", "/v1/accounts/" + a + "/withdrawals", `{"amount":"1.00","currency":"USD","Transaction_ID":"8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c01"}`},
		{"withdrawal duplicate currency", "POST", "/v1/accounts/" + a + "/withdrawals", `{"amount":"1.00","currency":"USD","currency":"EUR",` + tx + `}`},
		{"transfer duplicate to_account", "POST", "/v1/wallet/balance_transfer", `{"from_account":"` + a + `","to_account":"` + b + `","to_account":"` + a + `","amount":"1.00","currency":"USD",` + tx + `}`},
		{"transfer From_Account", "POST", "/v1/wallet/balance_transfer", `{"From_Account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD",` + tx + `}`},
		{"open duplicate owner", "POST", "/v1/accounts", `{"owner_id":"u1","owner_id":"u2","currency":"USD"}`},
		{"open Currency", "POST", "/v1/accounts", `{"owner_id":"u1","Currency":"USD"}`},
		{"patch duplicate status", "PATCH", "/v1/accounts/" + a, `{"status":"active","status":"frozen"}`},
		{"patch STATUS", "PATCH", "/v1/accounts/" + a, `{"STATUS":"frozen"}`},
	}
	before := e.snapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(tt.method, tt.path, "application/json", tt.body), http.StatusBadRequest, "invalid_request")
		})
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused requests changed state:\n%s\n%s", before, after)
	}
	if got := e.balance(a); got != "10.00" {
		t.Fatalf("balance %s, want 10.00", got)
	}
	if r := e.do("GET", "/v1/accounts/"+a, "", ""); r.Body["status"] != "active" {
		t.Fatalf("status %v, want active", r.Body["status"])
	}
}
