package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// item is one bulk item's JSON, as a single transfer's body.
func item(from, to, amount, currency, txID string) string {
	return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%q,"currency":%q,"transaction_id":%q}`, from, to, amount, currency, txID)
}

// bulk posts items (JSON texts) as one bulk request.
func (e *env) bulk(items ...string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/v1/wallet/transfers", "application/json", `{"transfers":[`+strings.Join(items, ",")+`]}`)
}

// mustResults returns a 200 bulk answer's results, one per item.
func mustResults(t *testing.T, r response, n int) []map[string]any {
	t.Helper()
	var body struct {
		Results []map[string]any `json:"results"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Raw), &body) != nil || len(body.Results) != n {
		t.Fatalf("bulk: %d %s, want 200 with %d results", r.Status, r.Raw, n)
	}
	return body.Results
}

// wantItem checks one result: its status ("success", "pending" or
// "error"), its single request's status code and, for an error, the code.
func wantItem(t *testing.T, res map[string]any, txID, status string, httpStatus int, code string) {
	t.Helper()
	if res["status"] != status || res["http_status"] != float64(httpStatus) || (txID != "" && res["transaction_id"] != txID) {
		t.Errorf("result %v, want %s %d for %s", res, status, httpStatus, txID)
		return
	}
	p, _ := res["problem"].(map[string]any)
	if code == "" {
		if p != nil {
			t.Errorf("result %v has a problem", res)
		}
		return
	}
	if p == nil || p["code"] != code || p["status"] != float64(httpStatus) {
		t.Errorf("result %v, want problem %s", res, code)
	}
}

// One request with every kind of outcome: each item is answered as its
// single request would be, in order; a bad item fails alone; an id twice
// in the request moves money once and answers the same twice; a retry of
// the whole request replays every item and changes nothing; the
// cross-shard item answers pending at once and completes through the saga.
func TestBulkMixedOutcomes(t *testing.T) {
	e := mustEnv(t)
	a, b, eur, far, ghost := idOn(0), idOn(0), idOn(0), idOn(1), idOn(0)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustOpen(eur, "EUR")
	e.mustOpen(far, "USD")
	e.mustDeposit(a, "100.00", "USD")
	frozen := idOn(2)
	e.mustOpen(frozen, "USD")
	if r := e.do(http.MethodPatch, "/v1/accounts/"+frozen, "application/json", `{"status":"frozen"}`); r.Status != http.StatusOK {
		t.Fatalf("freeze: %d %s", r.Status, r.Raw)
	}

	ok, poor, unknown, mismatch, cross, dup := uuid.NewString(), uuid.NewString(), uuid.NewString(),
		uuid.NewString(), uuid.NewString(), uuid.NewString()
	items := []string{
		item(a, b, "10.00", "USD", ok),
		item(a, b, "1000.00", "USD", poor),
		item(a, ghost, "1.00", "USD", unknown),
		item(a, eur, "1.00", "USD", mismatch),
		item(a, b, "ten", "USD", uuid.NewString()),
		`{"from_account":"` + a + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"` + uuid.NewString() + `","memo":"x"}`,
		`{"from_account":"` + a + `","from_account":"` + b + `","to_account":"` + b + `","amount":"1.00","currency":"USD","transaction_id":"` + uuid.NewString() + `"}`,
		`{"from_account":"` + a + `","to_account":"` + b + `","amount":1,"currency":"USD","transaction_id":"` + uuid.NewString() + `"}`,
		`7`,
		item(a, a, "1.00", "USD", uuid.NewString()),
		item(a, far, "5.00", "USD", cross),
		item(a, b, "1.00", "USD", dup),
		item(a, b, "1.00", "USD", dup),
		item(a, b, "2.00", "USD", dup),
		item(b, a, "0.50", "USD", ok),
		item(a, frozen, "3.00", "USD", uuid.NewString()),
	}
	first := e.bulk(items...)
	res := mustResults(t, first, len(items))
	wantItem(t, res[0], ok, "success", 200, "")
	wantItem(t, res[1], poor, "error", 422, "insufficient_funds")
	wantItem(t, res[2], unknown, "error", 404, "account_not_found")
	wantItem(t, res[3], mismatch, "error", 422, "currency_mismatch")
	wantItem(t, res[4], "", "error", 400, "invalid_amount")
	wantItem(t, res[5], "", "error", 400, "invalid_request")
	wantItem(t, res[6], "", "error", 400, "invalid_request")
	wantItem(t, res[7], "", "error", 400, "invalid_amount")
	wantItem(t, res[8], "", "error", 400, "invalid_request")
	wantItem(t, res[9], "", "error", 400, "same_account")
	wantItem(t, res[10], cross, "pending", 202, "")
	wantItem(t, res[11], dup, "success", 200, "")
	wantItem(t, res[12], dup, "success", 200, "")
	wantItem(t, res[13], dup, "error", 422, "idempotency_conflict")
	wantItem(t, res[14], ok, "success", 200, "") // the same id from another source is another transfer
	wantItem(t, res[15], "", "pending", 202, "")
	if p := res[1]["problem"].(map[string]any); p["available"] == nil || p["requested"] != "1000.00" {
		t.Errorf("insufficient_funds without its figures: %v", p)
	}
	if res[10]["location"] != "/v1/wallet/transfers/"+cross+"?from_account="+a || res[10]["amount"] != "5.00" {
		t.Errorf("pending item: %v", res[10])
	}
	if fmt.Sprint(res[11]) != fmt.Sprint(res[12]) {
		t.Errorf("one id twice answered %v and %v", res[11], res[12])
	}
	if got := e.balance(a); got != "81.50" {
		t.Errorf("source %s, want 81.50: 100 - 10 - 5 - 3 (in flight) - 1 (once) + 0.50", got)
	}
	if got := e.balance(b); got != "10.50" {
		t.Errorf("destination %s, want 10.50", got)
	}

	// The same request again replays every item.
	before := e.snapshot()
	if again := e.bulk(items...); again.Raw != first.Raw {
		t.Fatalf("the retried request answered\n%s\nwant\n%s", again.Raw, first.Raw)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("the retry changed state:\n%s\n%s", before, after)
	}

	// The saga completes one cross-shard item and fails the other (its
	// destination is frozen: refunded); their replays say so.
	e.runSaga()
	if got := e.balance(far); got != "5.00" {
		t.Fatalf("cross-shard destination %s, want 5.00", got)
	}
	if got := e.balance(a); got != "84.50" {
		t.Fatalf("source %s, want 84.50 after the refund", got)
	}
	res = mustResults(t, e.bulk(items[10], items[15]), 2)
	wantItem(t, res[0], cross, "success", 200, "")
	wantItem(t, res[1], "", "error", 422, "account_frozen")
	if p := res[1]["problem"].(map[string]any); p["transfer_status"] != "failed" {
		t.Errorf("a failed saga's replay: %v", p)
	}
}

// A customer's items from an account it does not own answer 404 as the
// single request would, before anything is recorded; its other items go
// through.
func TestBulkChecksEachSource(t *testing.T) {
	e := mustEnv(t)
	alice, alice2, bob := idOn(2), idOn(2), idOn(2)
	e.openFor(alice, "u-alice")
	e.openFor(alice2, "u-alice")
	e.openFor(bob, "u-bob")
	cust := e.as(authtest.Token(t, auth.Customer, "u-alice"))

	refused := e.refusals()
	res := mustResults(t, cust.bulk(
		item(alice, bob, "1.00", "USD", uuid.NewString()),
		item(bob, alice, "50.00", "USD", uuid.NewString()),
		item(alice2, bob, "2.00", "USD", uuid.NewString()),
		item(bob, alice2, "50.00", "USD", uuid.NewString()),
		item("nobody", alice, "1.00", "USD", uuid.NewString()),
	), 5)
	wantItem(t, res[0], "", "success", 200, "")
	wantItem(t, res[1], "", "error", 404, "account_not_found")
	wantItem(t, res[2], "", "success", 200, "")
	wantItem(t, res[3], "", "error", 404, "account_not_found")
	wantItem(t, res[4], "", "error", 404, "account_not_found")
	if d := res[1]["problem"].(map[string]any)["detail"]; d != "account "+bob+" does not exist" {
		t.Errorf("another's account must read as a missing one: %v", d)
	}
	if got := e.balance(bob); got != "103.00" {
		t.Errorf("bob has %s, want 103.00: his money must not move", got)
	}
	if got := e.refusals(); got != refused {
		t.Errorf("%d refusals recorded, want none: refused before any shard decides", got-refused)
	}
}

// What fails the request as a whole: a bad envelope, no transfers, more
// than 1,000 or a body over 1 MiB. Nothing is run for any of them.
func TestBulkEnvelope(t *testing.T) {
	e := mustEnv(t)
	a, b := idOn(3), idOn(3)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "100.00", "USD")
	good := item(a, b, "1.00", "USD", uuid.NewString())
	many := make([]string, 1001)
	for i := range many {
		many[i] = item(a, b, "0.01", "USD", uuid.NewString())
	}
	tests := []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"malformed", "application/json", `{"transfers":[` + good, 400, "invalid_request"},
		{"malformed item", "application/json", `{"transfers":[` + good + `,{"amount":}]}`, 400, "invalid_request"},
		{"not an object", "application/json", `[` + good + `]`, 400, "invalid_request"},
		{"transfers not a list", "application/json", `{"transfers":` + good + `}`, 400, "invalid_request"},
		{"unknown member", "application/json", `{"transfers":[` + good + `],"dry_run":true}`, 400, "invalid_request"},
		{"duplicate transfers", "application/json", `{"transfers":[` + good + `],"transfers":[]}`, 400, "invalid_request"},
		{"Transfers", "application/json", `{"Transfers":[` + good + `]}`, 400, "invalid_request"},
		{"empty", "application/json", `{"transfers":[]}`, 400, "invalid_request"},
		{"null", "application/json", `{"transfers":null}`, 400, "invalid_request"},
		{"missing", "application/json", `{}`, 400, "invalid_request"},
		{"text/plain", "text/plain", `{"transfers":[` + good + `]}`, 415, "unsupported_media_type"},
		{"1,001 transfers", "application/json", `{"transfers":[` + strings.Join(many, ",") + `]}`, 413, "payload_too_large"},
		{"over 1 MiB", "application/json", `{"transfers":[` + good + `]` + strings.Repeat(" ", 1<<20) + `}`, 413, "payload_too_large"},
	}
	before := e.snapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(http.MethodPost, "/v1/wallet/transfers", tt.ctype, tt.body), tt.status, tt.code)
		})
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused requests changed state:\n%s\n%s", before, after)
	}

	// 1,000 is allowed, more than a shard's queue holds: they wait for room.
	res := mustResults(t, e.bulk(many[:1000]...), 1000)
	for i, r := range res {
		if r["status"] != "success" {
			t.Fatalf("item %d: %v", i, r)
		}
	}
	if got := e.balance(b); got != "10.00" {
		t.Fatalf("destination %s, want 10.00", got)
	}
}
