package httpapi

import (
	"context"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/problem"
)

// Policy is account-service's authorization table, read from routes():
// who may call which route at all. What a customer may touch within a
// route (its own accounts only) is decided by ownAccount below and, for a
// transfer looked up by id, by account.Lookup (the query carries the
// owner).
func Policy() auth.Policy {
	allowed := map[string][]auth.Role{}
	for _, rt := range routes() {
		allowed[rt.method+" "+rt.path] = rt.roles
	}
	return auth.HealthPolicy(allowed)
}

// customer returns the subject when the caller is a customer, whose
// access is limited to the accounts it owns.
func customer(ctx context.Context) (string, bool) {
	c, ok := auth.FromContext(ctx)
	if !ok || c.Role != auth.Customer {
		return "", false
	}
	return c.Subject, true
}

// notFound is the answer to a customer asking for an account it does not
// own: word for word what a missing account gets, so it learns nothing.
func notFound(id string) error {
	return problem.New(problem.AccountNotFound, "account %s does not exist", id)
}

// ownAccount refuses a customer an account owned by someone else.
func ownAccount(ctx context.Context, a account.Account) error {
	if sub, ok := customer(ctx); ok && a.OwnerID != sub {
		return notFound(a.ID)
	}
	return nil
}

// ownSource refuses a customer a transfer from an account it does not own,
// before anything is written. checked, if not nil, remembers each source's
// answer, so a bulk request reads each of its source accounts once.
func (s *Server) ownSource(ctx context.Context, from string, checked map[string]error) error {
	if _, ok := customer(ctx); !ok {
		return nil
	}
	if err, ok := checked[from]; ok {
		return err
	}
	a, err := s.store.Get(ctx, from)
	if err == nil {
		err = ownAccount(ctx, a)
	}
	if checked != nil {
		checked[from] = err
	}
	return err
}
