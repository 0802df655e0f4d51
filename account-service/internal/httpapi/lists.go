package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/web"
)

// Page sizes of the list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// cursor is a list position as the client holds it: opaque (base64url of
// this JSON), and bound to the list it came from by its kind.
type cursor struct {
	Kind string    `json:"k"`
	ID   string    `json:"id,omitempty"` // accounts: the last account id
	At   time.Time `json:"at,omitzero"`  // transfers: the last one's created_at
	Tx   string    `json:"tx,omitempty"`
	From string    `json:"from,omitempty"`
}

const (
	accountsCursor  = "accounts"
	transfersCursor = "transfers"
)

func (c cursor) encode() string {
	raw, _ := json.Marshal(c) // a struct of strings and a time: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

// pageParams reads ?limit= and ?cursor= of a list of kind; an absent cursor
// is the zero cursor (the first page).
func pageParams(r *http.Request, kind string) (limit int, c *cursor, err error) {
	q := r.URL.Query()
	limit = DefaultLimit
	if v := q.Get("limit"); q.Has("limit") {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxLimit {
			return 0, nil, problem.New(problem.InvalidRequest, "limit must be an integer from 1 to %d, got %q", MaxLimit, v)
		}
	}
	if !q.Has("cursor") {
		return limit, nil, nil
	}
	bad := problem.New(problem.InvalidRequest, "cursor %q is not one this list returned", q.Get("cursor"))
	raw, err := base64.RawURLEncoding.DecodeString(q.Get("cursor"))
	c = &cursor{}
	if err != nil || json.Unmarshal(raw, c) != nil || c.Kind != kind {
		return 0, nil, bad
	}
	switch kind {
	case accountsCursor:
		if !account.ValidID(c.ID) {
			return 0, nil, bad
		}
	case transfersCursor:
		if c.At.IsZero() || c.Tx == "" || len(c.Tx) > 64 || !account.ValidID(c.From) {
			return 0, nil, bad
		}
	}
	return limit, c, nil
}

type accountsJSON struct {
	Accounts   []accountJSON `json:"accounts"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// listAccounts handles GET /v1/accounts: a customer's own accounts, or, for
// operators and services, those of ?owner_id= (required), by account id.
// A customer naming another owner gets what an owner without accounts gets.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	limit, c, err := pageParams(r, accountsCursor)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	owner, isCustomer := customer(r.Context())
	switch {
	case isCustomer && q.Has("owner_id") && q.Get("owner_id") != owner:
		web.JSON(w, http.StatusOK, accountsJSON{Accounts: []accountJSON{}})
		return nil
	case !isCustomer && !account.ValidID(q.Get("owner_id")):
		return problem.New(problem.InvalidRequest, "owner_id is required and must match ^[A-Za-z0-9_-]{1,64}$")
	case !isCustomer:
		owner = q.Get("owner_id")
	}
	after := ""
	if c != nil {
		after = c.ID
	}
	page, more, err := s.store.Accounts(r.Context(), owner, after, limit)
	if err != nil {
		return err
	}
	out := accountsJSON{Accounts: make([]accountJSON, len(page))}
	for i, a := range page {
		out.Accounts[i] = toAccountJSON(a)
	}
	if more {
		out.NextCursor = cursor{Kind: accountsCursor, ID: page[len(page)-1].ID}.encode()
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}

type listedJSON struct {
	TransactionID string    `json:"transaction_id"`
	Direction     string    `json:"direction"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	FromAccount   string    `json:"from_account"`
	ToAccount     string    `json:"to_account"`
	Amount        string    `json:"amount"`
	Currency      string    `json:"currency"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

type accountTransfersJSON struct {
	AccountID  string       `json:"account_id"`
	Transfers  []listedJSON `json:"transfers"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// listAccountTransfers handles GET /v1/accounts/{id}/transfers: the
// transfers the account sent and those it received, newest first (see
// mysql.Store.AccountTransfers for what is listed).
func (s *Server) listAccountTransfers(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	limit, c, err := pageParams(r, transfersCursor)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	var after *account.TransferCursor
	if c != nil {
		after = &account.TransferCursor{CreatedAt: c.At, TransactionID: c.Tx, From: c.From}
	}
	page, more, err := s.store.AccountTransfers(r.Context(), id, after, limit)
	if err != nil {
		return err
	}
	out := accountTransfersJSON{AccountID: id, Transfers: make([]listedJSON, len(page))}
	for i, t := range page {
		out.Transfers[i] = listedJSON{TransactionID: t.TransactionID, Direction: string(t.Direction), Status: string(t.Status),
			Reason: string(t.Reason), FromAccount: t.From, ToAccount: t.To, Amount: t.Amount.String(), Currency: t.Amount.Currency(),
			CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	}
	if more {
		last := page[len(page)-1]
		out.NextCursor = cursor{Kind: transfersCursor, At: last.CreatedAt, Tx: last.TransactionID, From: last.From}.encode()
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}
