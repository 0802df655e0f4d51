package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shardread"
	"github.com/walletco/wallet/pkg/web"
)

// The reconciliation read side (pkg/shardread): ledger-service reconcile
// learns each shard's money here instead of reading the shard's tables.
// Operators only (routes.go).

// Default ages after which a pending transfer or an unpublished outbox row
// is stale, when the caller names no instant: the saga redrives after 30s,
// the relay publishes within milliseconds.
const (
	defaultPendingAge     = 10 * time.Minute
	defaultUnpublishedAge = time.Minute
)

// pathShard reads {shard}: a shard number of this deployment.
func (s *Server) pathShard(r *http.Request) (int, error) {
	raw := mux.Vars(r)["shard"]
	sh, err := strconv.Atoi(raw)
	if err != nil || sh < 0 || sh >= s.store.Shards() || strconv.Itoa(sh) != raw {
		return 0, problem.New(problem.NotFound, "shard %q does not exist: shards are 0 to %d", raw, s.store.Shards()-1)
	}
	return sh, nil
}

// instant reads the RFC 3339 query parameter name, or now − age without it.
func instant(r *http.Request, name string, age time.Duration) (time.Time, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return time.Now().Add(-age), nil
	}
	t, err := time.Parse(time.RFC3339Nano, q.Get(name))
	if err != nil {
		return time.Time{}, problem.New(problem.InvalidRequest, "%s must be an RFC 3339 instant, got %q", name, q.Get(name))
	}
	return t, nil
}

// reconcileSummary handles GET /v1/admin/reconcile/shards/{shard}.
func (s *Server) reconcileSummary(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.pathShard(r)
	if err != nil {
		return err
	}
	before, err := instant(r, "pending_before", defaultPendingAge)
	if err != nil {
		return err
	}
	out, err := s.store.ReconcileSummary(r.Context(), sh, before)
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}

// reconcileAccounts handles GET /v1/admin/reconcile/shards/{shard}/accounts:
// a page by account id (?after=, ?limit=), or the accounts of repeated ?id=.
func (s *Server) reconcileAccounts(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.pathShard(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := shardread.MaxLimit
	if v := q.Get("limit"); q.Has("limit") {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > shardread.MaxLimit {
			return problem.New(problem.InvalidRequest, "limit must be an integer from 1 to %d, got %q", shardread.MaxLimit, v)
		}
	}
	ids := q["id"]
	switch {
	case len(ids) > shardread.MaxLimit:
		return problem.New(problem.InvalidRequest, "at most %d ids per lookup, got %d", shardread.MaxLimit, len(ids))
	case len(ids) > 0 && (q.Has("after") || q.Has("limit")):
		return problem.New(problem.InvalidRequest, "id looks accounts up; after and limit page through them: not both")
	case q.Has("after") && !account.ValidID(q.Get("after")):
		return problem.New(problem.InvalidRequest, "after must match ^[A-Za-z0-9_-]{1,64}$")
	}
	for _, id := range ids {
		if !account.ValidID(id) {
			return problem.New(problem.InvalidRequest, "id %q must match ^[A-Za-z0-9_-]{1,64}$", id)
		}
	}
	page, next, err := s.store.ReconcileAccounts(r.Context(), sh, q.Get("after"), ids, limit)
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, shardread.Accounts{Shard: sh, Accounts: page, NextAfter: next})
	return nil
}

// reconcileOutbox handles GET /v1/admin/reconcile/shards/{shard}/outbox.
func (s *Server) reconcileOutbox(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.pathShard(r)
	if err != nil {
		return err
	}
	before, err := instant(r, "unpublished_before", defaultUnpublishedAge)
	if err != nil {
		return err
	}
	out, err := s.store.ReconcileOutbox(r.Context(), sh, before)
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}
