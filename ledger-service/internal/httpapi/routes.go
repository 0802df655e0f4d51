package httpapi

import (
	"net/http"

	"github.com/walletco/wallet/pkg/auth"
)

// route is one API route: the router serves it and Policy allows it from
// this one row, and the contract test holds openapi.yaml to the same list.
type route struct {
	method, path string
	roles        []auth.Role
	handle       func(s *Server, w http.ResponseWriter, r *http.Request)
}

// routes is ledger-service's API. Customers may read the balance and
// entries of their own accounts (ownAccount checks it); transfers'
// journals span several owners' and system accounts, so they are for the
// bank's staff and services.
func routes() []route {
	anyone := []auth.Role{auth.Customer, auth.Operator, auth.Service}
	staff := []auth.Role{auth.Operator, auth.Service}
	return []route{
		{http.MethodGet, "/v1/ledger/accounts/{id}/balance", anyone, (*Server).balance},
		{http.MethodGet, "/v1/ledger/accounts/{id}/entries", anyone, (*Server).entries},
		{http.MethodGet, "/v1/ledger/transfers/{transaction_id}", staff, (*Server).transfer},
	}
}
