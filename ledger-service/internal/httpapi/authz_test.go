package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// owners stands in for the shards' accounts tables.
type owners map[string]string

func (o owners) Owner(_ context.Context, id string) (string, error) { return o[id], nil }

func TestLedgerAccess(t *testing.T) {
	srv := mustServer(t)
	alice := authtest.Token(t, auth.Customer, "u-alice")
	mallory := authtest.Token(t, auth.Customer, "u-mallory")
	service := authtest.Token(t, auth.Service, "account-service")
	tests := []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"no token", "/v1/ledger/accounts/alice/balance", "", http.StatusUnauthorized, "unauthorized"},
		{"bad token", "/v1/ledger/accounts/alice/balance", "not-a-jwt", http.StatusUnauthorized, "unauthorized"},
		{"owner reads balance", "/v1/ledger/accounts/alice/balance", alice, http.StatusOK, ""},
		{"owner reads entries", "/v1/ledger/accounts/alice/entries", alice, http.StatusOK, ""},
		{"another customer's balance", "/v1/ledger/accounts/alice/balance", mallory, http.StatusNotFound, "account_not_found"},
		{"another customer's entries", "/v1/ledger/accounts/alice/entries", mallory, http.StatusNotFound, "account_not_found"},
		{"system account to a customer", "/v1/ledger/accounts/@world:USD/balance", alice, http.StatusNotFound, "account_not_found"},
		{"transfer journal to a customer", "/v1/ledger/transfers/tx-1", alice, http.StatusForbidden, "forbidden"},
		{"transfer journal to a service", "/v1/ledger/transfers/tx-1", service, http.StatusOK, ""},
		{"profile to a service", "/debug/pprof/cmdline", service, http.StatusForbidden, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := getAs(t, srv, tt.path, tt.token)
			if status != tt.status || (tt.code != "" && body["code"] != tt.code) {
				t.Fatalf("%d %v, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	// A missing account and another's read the same, word for word.
	_, _, other := getAs(t, srv, "/v1/ledger/accounts/alice/balance", mallory)
	_, _, missing := getAs(t, srv, "/v1/ledger/accounts/alice/balance", authtest.Token(t, auth.Customer, "u-none"))
	if other["detail"] != missing["detail"] {
		t.Errorf("another's account %v, a customer's missing one %v", other, missing)
	}
}

// /readyz shows its details to operators only.
func TestReadyDetailsForOperators(t *testing.T) {
	srv := mustServer(t)
	for _, tok := range []string{"", authtest.Token(t, auth.Customer, "u-alice")} {
		_, _, body := getAs(t, srv, "/readyz", tok)
		if len(body) != 1 || body["status"] != "ready" {
			t.Errorf("anonymous or customer /readyz: %v, want the status alone", body)
		}
	}
}
