// Package httpapi is account-service's HTTP adapter: routes, JSON shapes and
// the mapping of requests onto the account store. Errors become RFC 9457
// problems through web.WriteProblem (problem.Write), the one place codes meet HTTP statuses.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shardread"
	"github.com/walletco/wallet/pkg/web"
)

// Store is what the handlers need from storage. Methods return
// *problem.Error values for every expected failure.
type Store interface {
	Open(ctx context.Context, req account.OpenRequest) (account.Account, bool, error)
	Get(ctx context.Context, id string) (account.Account, error)
	// Accounts lists owner's accounts after account id after, by id.
	Accounts(ctx context.Context, owner, after string, limit int) ([]account.Account, bool, error)
	// AccountTransfers lists an account's transfers after cursor (nil: the
	// first page), newest first.
	AccountTransfers(ctx context.Context, id string, cursor *account.TransferCursor, limit int) ([]account.Listed, bool, error)
	// GetTransfer finds the transfer q names, as account.Lookup decides:
	// not_found, or ambiguous_transaction_id when q names no source account
	// and several (that q.Owner may see) used the id.
	GetTransfer(ctx context.Context, q account.TransferQuery) (account.Transfer, error)
	Refresh(ctx context.Context, t account.Transfer) (account.Transfer, error)
	SetStatus(ctx context.Context, id string, to account.Status) (account.Account, error)

	// The reconciliation read side (reconcile.go, pkg/shardread).
	Shards() int
	ReconcileSummary(ctx context.Context, shard int, pendingBefore time.Time) (shardread.Summary, error)
	ReconcileAccounts(ctx context.Context, shard int, after string, ids []string, limit int) ([]shardread.Account, string, error)
	ReconcileOutbox(ctx context.Context, shard int, unpublishedBefore time.Time) (shardread.Outbox, error)
}

// Money moves money: transfers, deposits and withdrawals, through the
// shards' group commit (groupcommit.Writer). Expected failures are
// *problem.Error values; a full queue is unavailable with a Retry-After.
type Money interface {
	Move(ctx context.Context, req account.MovementRequest) (account.Movement, error)
	Transfer(ctx context.Context, req account.TransferRequest) (account.Transfer, error)
	// Transfers runs each request as Transfer does, all at once, and
	// returns their results (Transfer and Err) in order.
	Transfers(ctx context.Context, reqs []account.TransferRequest) []account.Result
}

// Waiter tells when a transfer's saga may have ended (see saga.Waiter).
type Waiter interface {
	Watch(k account.Key) (<-chan account.Transfer, func())
}

// Options tune the handlers.
type Options struct {
	// TransferWait is how long a cross-shard transfer request waits for the
	// saga's outcome before answering 202 pending.
	TransferWait time.Duration
	// ReadyDetail, if set, adds members to /readyz (the saga consumers'
	// states).
	ReadyDetail func() map[string]any
	// Guard authenticates and authorizes every request (required; see
	// Policy).
	Guard *auth.Guard
}

// Server routes account-service's API.
type Server struct {
	store  Store
	money  Money
	waiter Waiter
	opts   Options
	log    *slog.Logger
}

// New returns the service's handler, health endpoints included. ready
// reports whether the shards and NATS are reachable.
func New(store Store, money Money, waiter Waiter, opts Options, log *slog.Logger, ready func(context.Context) error) (http.Handler, error) {
	if store == nil || money == nil || waiter == nil || log == nil || ready == nil || opts.Guard == nil {
		return nil, errors.New("httpapi: store, money, waiter, guard, logger and readiness check are required")
	}
	s := &Server{store: store, money: money, waiter: waiter, opts: opts, log: log}
	r := web.NewRouter(log)
	r.Use(opts.Guard.Middleware)
	var detail []func() map[string]any
	if opts.ReadyDetail != nil {
		detail = append(detail, opts.ReadyDetail)
	}
	web.Health(r, log, ready, auth.IsOperator, detail...)
	web.OpenAPI(r, openAPIDocument)
	for _, rt := range routes() {
		r.HandleFunc(rt.path, s.handle(func(w http.ResponseWriter, r *http.Request) error { return rt.handle(s, w, r) })).Methods(rt.method)
	}
	return r, nil
}

// handle adapts a handler that returns its error: every error becomes a
// problem response here, in one place.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			web.WriteProblem(w, r, s.log, err)
		}
	}
}

func pathID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !account.ValidID(id) {
		return "", problem.New(problem.InvalidRequest, "account id must match ^[A-Za-z0-9_-]{1,64}$")
	}
	return id, nil
}
