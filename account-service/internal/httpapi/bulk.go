package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/web"
)

// The limits of one bulk request (ADR 0030). A thousand items of the
// longest ids take about 300 KB, so the byte limit leaves room for
// pretty-printed JSON and nothing much more.
const (
	MaxBulk     = 1000
	MaxBulkBody = 1 << 20
)

// bulkResultJSON answers one item of a bulk request as its single request
// would be answered: success and pending carry the transfer (and, pending,
// where to poll it); anything else is status "error" with the problem
// document. HTTPStatus is the single request's status code.
type bulkResultJSON struct {
	transferResultJSON
	HTTPStatus int            `json:"http_status"`
	Location   string         `json:"location,omitempty"`
	RetryAfter int            `json:"retry_after,omitempty"` // seconds, with a 503
	Problem    map[string]any `json:"problem,omitempty"`
}

// bulkTransfer handles POST /v1/wallet/transfers: up to MaxBulk transfers,
// each in the body shape of POST /v1/wallet/balance_transfer and answered
// as that would answer it, in order. The admitted items are offered to the
// group commit all at once; cross-shard ones answer pending without
// waiting for their saga.
func (s *Server) bulkTransfer(w http.ResponseWriter, r *http.Request) error {
	items, err := decodeBulk(w, r)
	if err != nil {
		return err
	}
	results := make([]bulkResultJSON, len(items))
	reqs, at := s.admitItems(r, items, results)
	if len(reqs) > 0 {
		for j, res := range s.money.Transfers(r.Context(), reqs) {
			results[at[j]] = s.bulkResult(r, reqs[j].TransactionID, res.Transfer, res.Err)
		}
	}
	web.JSON(w, http.StatusOK, struct {
		Results []bulkResultJSON `json:"results"`
	}{results})
	return nil
}

// decodeBulk reads a bulk request's envelope, leaving its items to be
// decoded one by one; only a bad envelope fails the whole request.
func decodeBulk(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, error) {
	var env struct {
		Transfers []json.RawMessage `json:"transfers"`
	}
	if err := web.DecodeJSONLimit(w, r, &env, MaxBulkBody); err != nil {
		return nil, err
	}
	if n := len(env.Transfers); n == 0 {
		return nil, problem.New(problem.InvalidRequest, "transfers must hold at least one transfer")
	} else if n > MaxBulk {
		return nil, problem.New(problem.PayloadTooLarge, "transfers holds %d transfers, more than the %d allowed", n, MaxBulk)
	}
	return env.Transfers, nil
}

// admitItems decodes each item strictly on its own and admits it as a
// single request is admitted. It answers the refused ones in results and
// returns the requests to run, with the position of each among the items.
func (s *Server) admitItems(r *http.Request, items []json.RawMessage, results []bulkResultJSON) ([]account.TransferRequest, []int) {
	reqs := make([]account.TransferRequest, 0, len(items))
	at := make([]int, 0, len(items))
	checked := map[string]error{}
	for i, raw := range items {
		var body transferBody
		err := web.Unmarshal(raw, &body)
		var req account.TransferRequest
		if err == nil {
			req, err = s.admit(r.Context(), body, checked)
		}
		if err != nil {
			results[i] = s.bulkProblem(r, itemTransactionID(raw, body), err)
			continue
		}
		reqs = append(reqs, req)
		at = append(at, i)
	}
	return reqs, at
}

// bulkResult answers an item from its transfer, as transferAnswer answers
// a single request.
func (s *Server) bulkResult(r *http.Request, txID string, t account.Transfer, err error) bulkResultJSON {
	if err != nil {
		return s.bulkProblem(r, txID, err)
	}
	status, res, err := transferAnswer(t)
	if err != nil {
		return s.bulkProblem(r, txID, err)
	}
	out := bulkResultJSON{transferResultJSON: res, HTTPStatus: status}
	if status == http.StatusAccepted {
		out.Location = transferPath(t)
	}
	return out
}

// bulkProblem answers an item with err's problem document, as the single
// request would have been answered (and logged).
func (s *Server) bulkProblem(r *http.Request, txID string, err error) bulkResultJSON {
	status, doc, retry := web.ProblemBody(r, s.log, err)
	return bulkResultJSON{transferResultJSON: transferResultJSON{Status: "error", TransactionID: txID},
		HTTPStatus: status, RetryAfter: retry, Problem: doc}
}

// itemTransactionID is the transaction_id to echo for an item refused
// before it was run: as decoded, or, from an item the strict decoding
// refused, the string under "transaction_id" if there is one, so the
// client sees which of its items it was. Results match items by position
// in any case.
func itemTransactionID(raw json.RawMessage, body transferBody) string {
	if body.TransactionID != "" {
		return body.TransactionID
	}
	var loose struct {
		TransactionID any `json:"transaction_id"`
	}
	if json.Unmarshal(raw, &loose) == nil {
		if id, ok := loose.TransactionID.(string); ok {
			return id
		}
	}
	return ""
}
