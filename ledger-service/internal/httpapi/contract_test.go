package httpapi_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/contract"
)

// TestContract drives every route of the real handler over a real ledger,
// with successes and errors, and validates each request and response
// against openapi.yaml; the router's routes must be the document's.
func TestContract(t *testing.T) {
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := mustServer(t)
	c := contract.New(t, doc, srv.URL)
	c.Header.Set("Authorization", "Bearer "+authtest.Operator(t))
	c.CheckRoutes(srv.Config.Handler.(*mux.Router))
	steps := []struct {
		name string
		req  contract.Request
		want int
	}{
		{"balance", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/balance"}, 200},
		{"balance with a bad token", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/balance",
			Header: http.Header{"Authorization": {"Bearer not-a-token"}}}, 401},
		{"balance of another customer", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/balance",
			Header: http.Header{"Authorization": {"Bearer " + authtest.Token(t, auth.Customer, "u-bob")}}}, 404},
		{"balance as of", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/balance?as_of=2026-05-01T10:30:00Z"}, 200},
		{"balance bad as_of", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/balance?as_of=yesterday"}, 400},
		{"balance unknown account", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/nobody/balance"}, 404},
		{"entries", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/entries"}, 200},
		{"entries page", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/entries?limit=2"}, 200},
		{"entries at the limit", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/entries?limit=500"}, 200},
		{"entries beyond the limit", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/entries?limit=501", Invalid: true}, 400},
		{"entries bad cursor", contract.Request{Method: "GET", Path: "/v1/ledger/accounts/alice/entries?cursor=x"}, 400},
		{"transfer", contract.Request{Method: "GET", Path: "/v1/ledger/transfers/tx-1"}, 200},
		{"transfer from", contract.Request{Method: "GET", Path: "/v1/ledger/transfers/tx-1?from_account=alice"}, 200},
		{"transfer unknown", contract.Request{Method: "GET", Path: "/v1/ledger/transfers/tx-none"}, 404},
		{"healthz", contract.Request{Method: "GET", Path: "/healthz"}, 200},
		{"readyz", contract.Request{Method: "GET", Path: "/readyz"}, 200},
		{"metrics", contract.Request{Method: "GET", Path: "/metrics"}, 200},
		{"openapi", contract.Request{Method: "GET", Path: "/openapi.yaml"}, 200},
		{"pprof index", contract.Request{Method: "GET", Path: "/debug/pprof/"}, 200},
		{"pprof goroutine", contract.Request{Method: "GET", Path: "/debug/pprof/goroutine?debug=1"}, 200},
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
}
