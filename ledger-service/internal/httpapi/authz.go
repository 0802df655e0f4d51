package httpapi

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/problem"
)

// Owners tells who owns an account. The ledger keeps the owner_id that
// account.opened carries in its own accounts table, in the account's
// partition: it reads no table of account-service's.
type Owners interface {
	// Owner returns the account's owner_id, or "" when there is no such
	// account.
	Owner(ctx context.Context, accountID string) (string, error)
}

// Policy is ledger-service's authorization table, read from routes().
func Policy() auth.Policy {
	allowed := map[string][]auth.Role{}
	for _, rt := range routes() {
		allowed[rt.method+" "+rt.path] = rt.roles
	}
	return auth.HealthPolicy(allowed)
}

// ownAccount refuses a customer an account it does not own with the same
// 404 a missing account gets. System accounts (@world:USD) own no one.
func (s *Server) ownAccount(r *http.Request) error {
	c, ok := auth.FromContext(r.Context())
	if !ok || c.Role != auth.Customer {
		return nil
	}
	id := mux.Vars(r)["id"]
	if s.owners != nil {
		owner, err := s.owners.Owner(r.Context(), id)
		if err != nil {
			return err
		}
		if owner != "" && owner == c.Subject {
			return nil
		}
	}
	return problem.New(problem.AccountNotFound, "the ledger has no account %q", id)
}
