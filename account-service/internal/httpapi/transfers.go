package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/web"
)

// transferResultJSON is a transfer request's answer when it did not fail:
// success or pending. Every member is set in a single request's answer; a
// bulk item that failed has none but status and transaction_id.
type transferResultJSON struct {
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id,omitempty"`
	FromAccount   string `json:"from_account,omitempty"`
	ToAccount     string `json:"to_account,omitempty"`
	Amount        string `json:"amount,omitempty"`
	Currency      string `json:"currency,omitempty"`
}

// transferBody is the body of POST /v1/wallet/balance_transfer (the
// seed's) and of each item of POST /v1/wallet/transfers.
type transferBody struct {
	FromAccount   string `json:"from_account"`
	ToAccount     string `json:"to_account"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	TransactionID string `json:"transaction_id"`
}

// transfer handles POST /v1/wallet/balance_transfer with the seed's body.
func (s *Server) transfer(w http.ResponseWriter, r *http.Request) error {
	var body transferBody
	if err := web.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := s.admit(r.Context(), body, nil)
	if err != nil {
		return err
	}
	t, err := s.money.Transfer(r.Context(), req)
	if err == nil && !respondAsync(r) {
		t, err = s.await(r.Context(), t)
	}
	if err != nil {
		return err
	}
	status, res, err := transferAnswer(t)
	if err != nil {
		return err
	}
	if status == http.StatusAccepted {
		w.Header().Set("Location", transferPath(t))
	}
	web.JSON(w, status, res)
	return nil
}

// admit turns a transfer body into the request to run, or into the answer
// given before any shard decides (nothing is recorded for it): bad input,
// or a customer's source account that is not its own. checked, if not nil,
// keeps the source accounts checked so far in one bulk request.
func (s *Server) admit(ctx context.Context, body transferBody, checked map[string]error) (account.TransferRequest, error) {
	req := account.TransferRequest{TransactionID: body.TransactionID, From: body.FromAccount, To: body.ToAccount}
	if err := req.Validate(); err != nil {
		return req, err
	}
	amt, err := account.ParseAmount(body.Amount, body.Currency)
	if err != nil {
		return req, err
	}
	req.Amount = amt
	return req, s.ownSource(ctx, req.From, checked)
}

// respondAsync reports an RFC 7240 "Prefer: respond-async" header.
func respondAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "respond-async") {
				return true
			}
		}
	}
	return false
}

// await waits up to TransferWait for a pending transfer's saga to end. The
// Waiter hands over the ended transfer when this process settled it; a
// saga settled by another instance is seen by re-reading the transfer
// every 250ms.
func (s *Server) await(ctx context.Context, t account.Transfer) (account.Transfer, error) {
	if t.Status != account.Pending || s.opts.TransferWait <= 0 {
		return t, nil
	}
	done, stop := s.waiter.Watch(t.Key())
	defer stop()
	timeout := time.NewTimer(s.opts.TransferWait)
	defer timeout.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case ended, ok := <-done:
			if ok && ended.Status != account.Pending {
				return ended, nil
			}
			done = nil // closed: stop selecting it
		case <-poll.C:
		case <-timeout.C:
			return t, nil
		case <-ctx.Done():
			return t, nil
		}
		now, err := s.store.Refresh(ctx, t)
		if err != nil {
			// The debit is committed: answer pending rather than fail.
			s.log.WarnContext(ctx, "read transfer while waiting", "transaction_id", t.TransactionID, "err", err)
			return t, nil
		}
		if now.Status != account.Pending {
			return now, nil
		}
	}
}

// transferAnswer is how a transfer request is answered from the
// transfer's state: 200 success or 202 pending (poll transferPath) with
// the result, or the failure's problem as the error.
func transferAnswer(t account.Transfer) (int, transferResultJSON, error) {
	res := transferResultJSON{TransactionID: t.TransactionID, FromAccount: t.From, ToAccount: t.To,
		Amount: t.Amount.String(), Currency: t.Amount.Currency()}
	switch t.Status {
	case account.Completed:
		res.Status = "success"
		return http.StatusOK, res, nil
	case account.Failed:
		return 0, transferResultJSON{}, problem.New(t.Reason, "transfer %s failed (%s); the debit was refunded", t.TransactionID, t.Reason).
			With("transaction_id", t.TransactionID).With("transfer_status", "failed")
	case account.Refused:
		// A replay answers with the stored problem before this; a refused
		// transfer must never read as pending.
		if t.Refusal != nil {
			return 0, transferResultJSON{}, t.Refusal.Err()
		}
		return 0, transferResultJSON{}, problem.New(t.Reason, "transfer %s was refused (%s)", t.TransactionID, t.Reason)
	default:
		res.Status = "pending"
		return http.StatusAccepted, res, nil
	}
}

// transferPath is where a transfer can be read. It names the source
// account: transaction ids are scoped to it, and without it the same id
// used from another account would make the answer ambiguous.
func transferPath(t account.Transfer) string {
	return "/v1/wallet/transfers/" + t.TransactionID + "?" + url.Values{"from_account": {t.From}}.Encode()
}

type stepJSON struct {
	Step  string    `json:"step"`
	Shard int       `json:"shard"`
	At    time.Time `json:"at"`
}

type transferJSON struct {
	TransactionID string     `json:"transaction_id"`
	Status        string     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	FromAccount   string     `json:"from_account"`
	ToAccount     string     `json:"to_account"`
	Amount        string     `json:"amount"`
	Currency      string     `json:"currency"`
	FromShard     int        `json:"from_shard"`
	ToShard       int        `json:"to_shard"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Steps         []stepJSON `json:"steps"`
}

// getTransfer handles GET /v1/wallet/transfers/{transaction_id}: the one
// transfer under the id, or with ?from_account= the one sent from that
// account (ids are scoped to the source account). It never blends two: an
// id used from several accounts without from_account is
// 409 ambiguous_transaction_id. A customer's query is scoped to its own
// accounts before anything is read out (see account.Lookup).
func (s *Server) getTransfer(w http.ResponseWriter, r *http.Request) error {
	txID := mux.Vars(r)["transaction_id"]
	if err := account.ValidTransactionID(txID); err != nil {
		return err
	}
	q := r.URL.Query()
	from := q.Get("from_account")
	if q.Has("from_account") && !account.ValidID(from) {
		return problem.New(problem.InvalidRequest, "from_account must match ^[A-Za-z0-9_-]{1,64}$")
	}
	owner, _ := customer(r.Context())
	t, err := s.store.GetTransfer(r.Context(), account.TransferQuery{TransactionID: txID, From: from, Owner: owner})
	if err != nil {
		return err
	}
	out := transferJSON{TransactionID: t.TransactionID, Status: string(t.Status), Reason: string(t.Reason),
		FromAccount: t.From, ToAccount: t.To, Amount: t.Amount.String(), Currency: t.Amount.Currency(),
		FromShard: t.FromShard, ToShard: t.ToShard, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Steps: make([]stepJSON, 0, len(t.Steps))}
	for _, st := range t.Steps {
		out.Steps = append(out.Steps, stepJSON{Step: st.Name, Shard: st.Shard, At: st.At})
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}
