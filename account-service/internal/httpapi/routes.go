package httpapi

import (
	"net/http"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/shardread"
)

// route is one API route: the router serves it and Policy allows it from
// this one row, and the contract test holds openapi.yaml to the same list.
type route struct {
	method, path string
	roles        []auth.Role
	handle       func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// routes is account-service's API. Staff open, fund, freeze and close
// accounts; customers read and move money from their own accounts (the
// handlers check ownership, see authz.go). Operators also read each
// shard's money for reconciliation (reconcile.go).
func routes() []route {
	staff := []auth.Role{auth.Operator}
	anyone := []auth.Role{auth.Customer, auth.Operator, auth.Service}
	return []route{
		{http.MethodPost, "/v1/accounts", staff, (*Server).openAccount},
		{http.MethodGet, "/v1/accounts", anyone, (*Server).listAccounts},
		{http.MethodGet, "/v1/accounts/{id}", anyone, (*Server).getAccount},
		{http.MethodPatch, "/v1/accounts/{id}", staff, (*Server).patchAccount},
		{http.MethodGet, "/v1/accounts/{id}/transfers", anyone, (*Server).listAccountTransfers},
		{http.MethodPost, "/v1/accounts/{id}/deposits", staff, (*Server).deposit},
		{http.MethodPost, "/v1/accounts/{id}/withdrawals", staff, (*Server).withdraw},
		{http.MethodPost, "/v1/wallet/balance_transfer", anyone, (*Server).transfer},
		{http.MethodPost, "/v1/wallet/transfers", anyone, (*Server).bulkTransfer},
		{http.MethodGet, "/v1/wallet/transfers/{transaction_id}", anyone, (*Server).getTransfer},
		// Reconciliation's read side: operators only (ledger-service
		// reconcile runs with an operator's token).
		{http.MethodGet, shardread.SummaryPath, staff, (*Server).reconcileSummary},
		{http.MethodGet, shardread.AccountsPath, staff, (*Server).reconcileAccounts},
		{http.MethodGet, shardread.OutboxPath, staff, (*Server).reconcileOutbox},
	}
}

func (s *Server) deposit(w http.ResponseWriter, r *http.Request) error {
	return s.move(account.Deposit)(w, r)
}

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) error {
	return s.move(account.Withdrawal)(w, r)
}
