package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/web"
)

// Page sizes of GET /v1/ledger/accounts/{id}/entries.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

type balanceJSON struct {
	AccountID string `json:"account_id"`
	Currency  string `json:"currency"`
	Balance   string `json:"balance"`
	AsOf      string `json:"as_of,omitempty"`
}

// balance serves GET /v1/ledger/accounts/{id}/balance[?as_of=RFC3339].
func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	var asOf time.Time
	if v := r.URL.Query().Get("as_of"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.fail(w, r, problem.New(problem.InvalidRequest, "as_of must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", v))
			return
		}
		asOf = t
	}
	if err := s.ownAccount(r); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.store.Balance(r.Context(), mux.Vars(r)["id"], asOf)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := balanceJSON{AccountID: b.AccountID, Currency: b.Currency, Balance: money.Format(b.Balance, b.Currency)}
	if !b.AsOf.IsZero() {
		out.AsOf = timestamp(b.AsOf)
	}
	web.JSON(w, http.StatusOK, out)
}

type entriesJSON struct {
	AccountID  string      `json:"account_id"`
	Entries    []entryJSON `json:"entries"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// entries serves GET /v1/ledger/accounts/{id}/entries?limit=&cursor=, newest
// first. The cursor is opaque to clients; it is the last entry id returned.
func (s *Server) entries(w http.ResponseWriter, r *http.Request) {
	limit, before, err := pageParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.ownAccount(r); err != nil {
		s.fail(w, r, err)
		return
	}
	id := mux.Vars(r)["id"]
	p, err := s.store.Entries(r.Context(), id, before, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := entriesJSON{AccountID: id, Entries: make([]entryJSON, len(p.Entries))}
	for i, e := range p.Entries {
		out.Entries[i] = toEntryJSON(e, false)
	}
	if p.Next > 0 {
		out.NextCursor = strconv.FormatInt(p.Next, 10)
	}
	web.JSON(w, http.StatusOK, out)
}

func pageParams(r *http.Request) (limit int, before int64, err error) {
	q := r.URL.Query()
	limit = DefaultLimit
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > MaxLimit {
			return 0, 0, problem.New(problem.InvalidRequest, "limit must be an integer from 1 to %d, got %q", MaxLimit, v)
		}
	}
	if v := q.Get("cursor"); v != "" {
		before, err = strconv.ParseInt(v, 10, 64)
		if err != nil || before < 1 {
			return 0, 0, problem.New(problem.InvalidRequest, "cursor %q is not one this API returned", v)
		}
	}
	return limit, before, nil
}

type journalJSON struct {
	JournalID  int64       `json:"journal_id"`
	EventID    string      `json:"event_id"`
	EventType  string      `json:"event_type"`
	OccurredAt string      `json:"occurred_at"`
	RecordedAt string      `json:"recorded_at"`
	Entries    []entryJSON `json:"entries"`
}

type transferJSON struct {
	TransactionID string        `json:"transaction_id"`
	Journals      []journalJSON `json:"journals"`
}

// transfer serves GET /v1/ledger/transfers/{transaction_id}[?from_account=]:
// every journal transaction of one transfer in recording order, steps
// without entries (credit_rejected, a cross-shard completed) included. Ids
// are scoped to the source account; from_account picks the transfer when
// several accounts used the id (else 409 ambiguous_transaction_id).
func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["transaction_id"]
	js, err := s.store.Transfer(r.Context(), id, r.URL.Query().Get("from_account"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := transferJSON{TransactionID: id, Journals: make([]journalJSON, len(js))}
	for i, j := range js {
		jj := journalJSON{JournalID: j.ID, EventID: j.EventID, EventType: j.EventType,
			OccurredAt: timestamp(j.OccurredAt), RecordedAt: timestamp(j.RecordedAt),
			Entries: make([]entryJSON, len(j.Entries))}
		for k, e := range j.Entries {
			jj.Entries[k] = toEntryJSON(e, true)
		}
		out.Journals[i] = jj
	}
	web.JSON(w, http.StatusOK, out)
}
