// Package httpapi is ledger-service's read-only HTTP adapter: balances (now
// and as of an instant), account history with cursor pagination and the
// journal of a transfer. Amounts are decimal strings formatted with the
// currency's minor unit; errors are RFC 9457 problems via web.WriteProblem.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/web"
)

// Store is what the handlers read. Methods return *problem.Error values for
// expected failures: account_not_found from Balance and Entries, not_found
// from Transfer, invalid_request from Entries for a limit below 1.
type Store interface {
	Balance(ctx context.Context, accountID string, asOf time.Time) (ledger.Balance, error)
	Entries(ctx context.Context, accountID string, before int64, limit int) (ledger.Page, error)
	Transfer(ctx context.Context, transactionID, from string) ([]ledger.Journal, error)
}

// Server routes ledger-service's API.
type Server struct {
	store  Store
	owners Owners
	log    *slog.Logger
}

// New returns the service's handler, health endpoints included. guard
// admits requests (Policy); owners tells whose an account is (nil: customers
// see no account). ready reports whether the database and NATS are
// reachable; detail adds members to /readyz (the consumer's state).
func New(store Store, guard *auth.Guard, owners Owners, log *slog.Logger, ready func(context.Context) error, detail ...func() map[string]any) (http.Handler, error) {
	if store == nil || guard == nil || log == nil || ready == nil {
		return nil, errors.New("httpapi: store, guard, logger and readiness check are required")
	}
	s := &Server{store: store, owners: owners, log: log}
	r := web.NewRouter(log)
	r.Use(guard.Middleware)
	web.Health(r, log, ready, auth.IsOperator, detail...)
	web.OpenAPI(r, openAPIDocument)
	for _, rt := range routes() {
		r.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) { rt.handle(s, w, r) }).Methods(rt.method)
	}
	return r, nil
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.WriteProblem(w, r, s.log, err)
}

// entryJSON is one entry on the wire. AccountID is set where the context
// does not already say whose entry it is (a transfer's journal).
type entryJSON struct {
	EntryID       int64  `json:"entry_id"`
	JournalID     int64  `json:"journal_id"`
	EventType     string `json:"event_type"`
	TransactionID string `json:"transaction_id,omitempty"`
	AccountID     string `json:"account_id,omitempty"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	BalanceAfter  string `json:"balance_after"`
	OccurredAt    string `json:"occurred_at"`
}

func toEntryJSON(e ledger.Entry, withAccount bool) entryJSON {
	out := entryJSON{
		EntryID: e.ID, JournalID: e.JournalID, EventType: e.EventType, TransactionID: e.TransactionID,
		Amount: money.Format(e.Amount, e.Currency), Currency: e.Currency,
		BalanceAfter: money.Format(e.BalanceAfter, e.Currency), OccurredAt: timestamp(e.OccurredAt),
	}
	if withAccount {
		out.AccountID = e.AccountID
	}
	return out
}

// timestamp is the wire form of every instant: RFC 3339, UTC, with as many
// fractional digits as needed (at most microseconds, as stored).
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
