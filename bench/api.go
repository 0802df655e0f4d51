package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// API is a client of account-service over keep-alive connections.
type API struct {
	base  string
	token string
	hc    *http.Client
}

// NewAPI returns a client that keeps up to conns idle connections to the
// service, so a run of that many concurrent clients never reconnects.
func NewAPI(base, token string, conns int) *API {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	// The timeout only stops a stuck request from stalling the run; it is far
	// above the service's 2 s saga wait.
	return &API{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close drops the idle connections.
func (a *API) Close() { a.hc.CloseIdleConnections() }

// Reply is an HTTP answer: its status and its code, the problem's "code" for
// an error and the body's "status" ("success", "pending") for a 2xx.
type Reply struct {
	Status int
	Code   string
}

// post sends body as JSON and reads the whole answer, so the connection can
// be reused.
func (a *API) post(ctx context.Context, path string, body any) (Reply, error) {
	status, raw, err := a.send(ctx, path, body)
	if err != nil {
		return Reply{}, err
	}
	code := "(unparsable body)"
	var parsed outcome
	if json.Unmarshal(raw, &parsed) == nil {
		_, code = parsed.reply()
	}
	return Reply{Status: status, Code: code}, nil
}

// send posts body as JSON and returns the answer's status and body.
func (a *API) send(ctx context.Context, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, raw, nil
}

// maxAnswer bounds the body read of an answer: a bulk answer of 1,000
// problems stays well below it.
const maxAnswer = 4 << 20

// outcome is a transfer's answer as the API writes it: a 2xx body with a
// status word ("success", "pending"), or a problem with its code and HTTP
// status. A bulk result is one of these too, with its single request's
// status as http_status and a refusal's problem nested:
// {"status":"error","http_status":422,"problem":{"code":…}}.
type outcome struct {
	Code          string   `json:"code"`
	Status        any      `json:"status"` // a string in 2xx bodies and bulk results, a number in problems
	HTTPStatus    int      `json:"http_status"`
	TransactionID string   `json:"transaction_id"`
	Problem       *outcome `json:"problem"`
}

// reply returns the outcome's HTTP status, as its single request would have
// been answered (0 when the outcome does not say), and its code: the
// problem's code, else the status word.
func (o outcome) reply() (int, string) {
	status, code := o.HTTPStatus, o.Code
	switch s := o.Status.(type) {
	case float64:
		status = cmp.Or(status, int(s))
	case string:
		status = cmp.Or(status, map[string]int{"success": http.StatusOK, "pending": http.StatusAccepted}[s])
		if code == "" {
			code = s
		}
	}
	if o.Problem != nil {
		ps, pc := o.Problem.reply()
		if pc != "(no code)" {
			code = pc
		}
		status = cmp.Or(o.HTTPStatus, ps, status)
	}
	if code == "" {
		code = "(no code)"
	}
	return status, code
}

// Transfer posts one balance transfer, without Prefer: respond-async, so a
// cross-shard request waits for the saga like a real caller would.
func (a *API) Transfer(ctx context.Context, from, to, amount, txID string) (Reply, error) {
	return a.post(ctx, "/v1/wallet/balance_transfer", map[string]string{
		"from_account": from, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": txID})
}

// OpenAccount creates a USD account with the given id.
func (a *API) OpenAccount(ctx context.Context, id string) error {
	r, err := a.post(ctx, "/v1/accounts", map[string]string{"account_id": id, "owner_id": "bench-" + id, "currency": "USD"})
	return expect(r, err, http.StatusCreated, "open account "+id)
}

// Deposit puts amount into the account, keyed by txID.
func (a *API) Deposit(ctx context.Context, id, amount, txID string) error {
	r, err := a.post(ctx, "/v1/accounts/"+id+"/deposits", map[string]string{"amount": amount, "currency": "USD", "transaction_id": txID})
	return expect(r, err, 0, "deposit into "+id)
}

// expect turns an unexpected answer into an error; want 0 accepts any 2xx.
func expect(r Reply, err error, want int, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if (want == 0 && (r.Status < 200 || r.Status > 299)) || (want != 0 && r.Status != want) {
		return fmt.Errorf("%s: HTTP %d %s", what, r.Status, r.Code)
	}
	return nil
}
