package httpapi_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/contract"
)

// TestContract drives every route of the real handler over real shards,
// with successes and errors, and validates each request and response
// against openapi.yaml; the router's routes must be the document's.
func TestContract(t *testing.T) {
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEnv(t)
	mustDeadLetters(t, e)
	c := contract.New(t, doc, e.url)
	c.Header.Set("Authorization", "Bearer "+e.token)
	c.CheckRoutes(e.router)

	json := http.Header{"Content-Type": {"application/json"}}
	a, b, far := idOn(0), idOn(0), idOn(1)
	tx := func() string { return uuid.NewString() }
	asU1 := http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Customer, "u1")}}
	steps := []struct {
		name string
		req  contract.Request
		want int
	}{
		{"open", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"account_id":"` + a + `","owner_id":"u1","currency":"USD"}`}, 201},
		{"open again", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"account_id":"` + a + `","owner_id":"u1","currency":"USD"}`}, 200},
		{"open b", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"account_id":"` + b + `","owner_id":"u2","currency":"USD"}`}, 201},
		{"open far", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"account_id":"` + far + `","owner_id":"u3","currency":"USD"}`}, 201},
		{"open conflict", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"account_id":"` + a + `","owner_id":"u9","currency":"USD"}`}, 409},
		{"open bad currency", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"owner_id":"u1","currency":"usd"}`, Invalid: true}, 400},
		{"open duplicate key", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"owner_id":"u1","owner_id":"u2","currency":"USD"}`, Invalid: true}, 400},
		{"open text/plain", contract.Request{Method: "POST", Path: "/v1/accounts", Header: http.Header{"Content-Type": {"text/plain"}}, Body: `{}`, Invalid: true}, 415},
		{"open too large", contract.Request{Method: "POST", Path: "/v1/accounts", Body: `{"owner_id":"` + strings.Repeat("x", 70000) + `","currency":"USD"}`, Invalid: true}, 413},
		{"get", contract.Request{Method: "GET", Path: "/v1/accounts/" + a}, 200},
		{"get without a token", contract.Request{Method: "GET", Path: "/v1/accounts/" + a, Header: http.Header{"Authorization": {"Basic eDp5"}}}, 401},
		{"get as another customer", contract.Request{Method: "GET", Path: "/v1/accounts/" + a,
			Header: http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Customer, "u2")}}}, 404},
		{"freeze as a customer", contract.Request{Method: "PATCH", Path: "/v1/accounts/" + a, Body: `{"status":"frozen"}`,
			Header: http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Customer, "u1")}}}, 403},
		{"get missing", contract.Request{Method: "GET", Path: "/v1/accounts/ghost"}, 404},
		{"get bad id", contract.Request{Method: "GET", Path: "/v1/accounts/bad.id", Invalid: true}, 400},
		{"deposit", contract.Request{Method: "POST", Path: "/v1/accounts/" + a + "/deposits", Header: json, Body: `{"amount":"10.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 200},
		{"deposit missing account", contract.Request{Method: "POST", Path: "/v1/accounts/ghost/deposits", Body: `{"amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 404},
		{"deposit amount as number", contract.Request{Method: "POST", Path: "/v1/accounts/" + a + "/deposits", Body: `{"amount":1,"currency":"USD","transaction_id":"` + tx() + `"}`, Invalid: true}, 400},
		{"deposit wrong currency", contract.Request{Method: "POST", Path: "/v1/accounts/" + a + "/deposits", Body: `{"amount":"1.00","currency":"EUR","transaction_id":"` + tx() + `"}`}, 422},
		{"withdrawal", contract.Request{Method: "POST", Path: "/v1/accounts/" + a + "/withdrawals", Body: `{"amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 200},
		{"withdrawal insufficient", contract.Request{Method: "POST", Path: "/v1/accounts/" + a + "/withdrawals", Body: `{"amount":"100.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 422},
		{"transfer same shard", contract.Request{Method: "POST", Path: "/v1/wallet/balance_transfer", Body: `{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c01"}`}, 200},
		{"transfer cross shard async", contract.Request{Method: "POST", Path: "/v1/wallet/balance_transfer", Header: http.Header{"Prefer": {"respond-async"}}, Body: `{"from_account":"` + a + `","to_account":"` + far + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 202},
		{"transfer same account", contract.Request{Method: "POST", Path: "/v1/wallet/balance_transfer", Body: `{"from_account":"` + a + `","to_account":"` + a + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 400},
		{"transfer missing field", contract.Request{Method: "POST", Path: "/v1/wallet/balance_transfer", Body: `{"from_account":"` + a + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`, Invalid: true}, 400},
		{"bulk", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Body: `{"transfers":[` +
			`{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"},` +
			`{"from_account":"` + a + `","to_account":"` + far + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"},` +
			`{"from_account":"` + a + `","to_account":"` + b + `","amount":"500.00","currency":"USD","transaction_id":"` + tx() + `"}]}`}, 200},
		{"bulk with a bad item", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Invalid: true, Body: `{"transfers":[` +
			`{"from_account":"` + a + `","to_account":"` + b + `","amount":1,"currency":"USD","transaction_id":"` + tx() + `"},` +
			`{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}]}`}, 200},
		{"bulk as another customer", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Header: http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Customer, "u2")}},
			Body: `{"transfers":[{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}]}`}, 200},
		{"bulk empty", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Body: `{"transfers":[]}`, Invalid: true}, 400},
		{"bulk malformed", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Body: `{"transfers":[`, Invalid: true}, 400},
		{"bulk too many", contract.Request{Method: "POST", Path: "/v1/wallet/transfers", Invalid: true,
			Body: `{"transfers":[` + strings.Repeat(`{"from_account":"`+a+`","to_account":"`+b+`","amount":"1.00","currency":"USD","transaction_id":"8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c02"},`, 1000) +
				`{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c02"}]}`}, 413},
		{"get transfer", contract.Request{Method: "GET", Path: "/v1/wallet/transfers/8c4a2b7e-5b0e-4a51-9e0b-6f1f3f6a1c01?from_account=" + a}, 200},
		{"get transfer missing", contract.Request{Method: "GET", Path: "/v1/wallet/transfers/" + tx()}, 404},
		{"get transfer bad id", contract.Request{Method: "GET", Path: "/v1/wallet/transfers/NOT-A-UUID", Invalid: true}, 400},
		{"list accounts", contract.Request{Method: "GET", Path: "/v1/accounts?owner_id=u1&limit=1"}, 200},
		{"list accounts as a customer", contract.Request{Method: "GET", Path: "/v1/accounts", Header: asU1}, 200},
		{"list accounts without owner_id", contract.Request{Method: "GET", Path: "/v1/accounts"}, 400},
		{"list accounts bad cursor", contract.Request{Method: "GET", Path: "/v1/accounts?owner_id=u1&cursor=nope"}, 400},
		{"list accounts limit 0", contract.Request{Method: "GET", Path: "/v1/accounts?owner_id=u1&limit=0", Invalid: true}, 400},
		{"list transfers", contract.Request{Method: "GET", Path: "/v1/accounts/" + a + "/transfers?limit=1"}, 200},
		{"list transfers as the owner", contract.Request{Method: "GET", Path: "/v1/accounts/" + a + "/transfers", Header: asU1}, 200},
		{"list transfers as another customer", contract.Request{Method: "GET", Path: "/v1/accounts/" + b + "/transfers", Header: asU1}, 404},
		{"list transfers missing account", contract.Request{Method: "GET", Path: "/v1/accounts/ghost/transfers"}, 404},
		{"list transfers bad cursor", contract.Request{Method: "GET", Path: "/v1/accounts/" + a + "/transfers?cursor=eyJrIjoiYWNjb3VudHMiLCJpZCI6ImEifQ"}, 400},
		{"list transfers limit 501", contract.Request{Method: "GET", Path: "/v1/accounts/" + a + "/transfers?limit=501", Invalid: true}, 400},
		{"freeze", contract.Request{Method: "PATCH", Path: "/v1/accounts/" + b, Body: `{"status":"frozen"}`}, 200},
		{"deposit frozen", contract.Request{Method: "POST", Path: "/v1/accounts/" + b + "/deposits", Body: `{"amount":"1.00","currency":"USD","transaction_id":"` + tx() + `"}`}, 422},
		{"unfreeze", contract.Request{Method: "PATCH", Path: "/v1/accounts/" + b, Body: `{"status":"active"}`}, 200},
		{"close not empty", contract.Request{Method: "PATCH", Path: "/v1/accounts/" + b, Body: `{"status":"closed"}`}, 409},
		{"patch bad status", contract.Request{Method: "PATCH", Path: "/v1/accounts/" + b, Body: `{"status":"gone"}`, Invalid: true}, 400},
		{"patch missing", contract.Request{Method: "PATCH", Path: "/v1/accounts/ghost", Body: `{"status":"frozen"}`}, 404},
		{"reconcile summary", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0?pending_before=2030-01-01T00:00:00Z"}, 200},
		{"reconcile summary no shard", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/99"}, 404},
		{"reconcile summary bad instant", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0?pending_before=yesterday", Invalid: true}, 400},
		{"reconcile summary as a customer", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0", Header: asU1}, 403},
		{"reconcile accounts", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0/accounts?limit=1"}, 200},
		{"reconcile accounts next", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0/accounts?after=" + a}, 200},
		{"reconcile accounts lookup", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0/accounts?id=" + a + "&id=ghost"}, 200},
		{"reconcile accounts lookup and page", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0/accounts?id=" + a + "&limit=2"}, 400},
		{"reconcile accounts limit 0", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/0/accounts?limit=0", Invalid: true}, 400},
		{"reconcile outbox", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/1/outbox?unpublished_before=2030-01-01T00:00:00Z"}, 200},
		{"reconcile outbox as a service", contract.Request{Method: "GET", Path: "/v1/admin/reconcile/shards/1/outbox",
			Header: http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Service, "ledger")}}}, 403},
		{"healthz", contract.Request{Method: "GET", Path: "/healthz"}, 200},
		{"readyz", contract.Request{Method: "GET", Path: "/readyz"}, 200},
		{"metrics", contract.Request{Method: "GET", Path: "/metrics"}, 200},
		{"openapi", contract.Request{Method: "GET", Path: "/openapi.yaml"}, 200},
		{"pprof index", contract.Request{Method: "GET", Path: "/debug/pprof/"}, 200},
		{"pprof heap", contract.Request{Method: "GET", Path: "/debug/pprof/heap?debug=1"}, 200},
		{"pprof cmdline", contract.Request{Method: "GET", Path: "/debug/pprof/cmdline"}, 200},
		{"pprof symbol", contract.Request{Method: "GET", Path: "/debug/pprof/symbol"}, 200},
		{"pprof profile", contract.Request{Method: "GET", Path: "/debug/pprof/profile?seconds=1"}, 200},
		{"pprof trace", contract.Request{Method: "GET", Path: "/debug/pprof/trace?seconds=1"}, 200},
	}
	for _, s := range steps {
		if r := c.Do(s.req); r.Status != s.want {
			t.Errorf("%s: %d %s, want %d", s.name, r.Status, r.Body, s.want)
		}
	}
	c.CheckDriven()
	if r := c.Do(contract.Request{Method: "GET", Path: "/openapi.yaml"}); string(r.Body) != string(doc) {
		t.Error("/openapi.yaml does not serve openapi.yaml")
	}
}
