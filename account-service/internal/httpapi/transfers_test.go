package httpapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestTransferSameShard(t *testing.T) {
	e := mustEnv(t)
	a, b := idOn(1), idOn(1)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "100.00", "USD")

	body := map[string]string{"from_account": a, "to_account": b, "amount": "30.25", "currency": "USD", "transaction_id": uuid.NewString()}
	first := e.post("/v1/wallet/balance_transfer", body)
	if first.Status != http.StatusOK || first.Body["status"] != "success" || first.Body["transaction_id"] != body["transaction_id"] {
		t.Fatalf("transfer: %d %s", first.Status, first.Raw)
	}
	if got := e.balance(a); got != "69.75" {
		t.Fatalf("source balance %s, want 69.75", got)
	}
	if got := e.balance(b); got != "30.25" {
		t.Fatalf("destination balance %s, want 30.25", got)
	}

	// A retry replays the outcome and moves nothing.
	before := e.snapshot()
	again := e.post("/v1/wallet/balance_transfer", body)
	if again.Status != first.Status || again.Raw != first.Raw {
		t.Fatalf("retry answered %d %s, want %d %s", again.Status, again.Raw, first.Status, first.Raw)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("retry changed state:\n%s\n%s", before, after)
	}

	// The same key with another body is a conflict.
	body["amount"] = "1.00"
	wantProblem(t, e.post("/v1/wallet/balance_transfer", body), http.StatusUnprocessableEntity, "idempotency_conflict")

	tr := e.do(http.MethodGet, "/v1/wallet/transfers/"+body["transaction_id"], "", "")
	if tr.Status != http.StatusOK || tr.Body["status"] != "completed" || tr.Body["amount"] != "30.25" {
		t.Fatalf("get transfer: %d %s", tr.Status, tr.Raw)
	}
	if steps, _ := tr.Body["steps"].([]any); len(steps) != 1 {
		t.Fatalf("steps = %v", tr.Body["steps"])
	}
}

func TestTransferRejectionsChangeNothing(t *testing.T) {
	e := mustEnv(t)
	a, b, eur, frozen := idOn(2), idOn(2), idOn(2), idOn(2)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustOpen(eur, "EUR")
	e.mustDeposit(a, "10.00", "USD")
	other := idOn(3)
	e.mustOpen(other, "USD")
	_ = frozen

	tx := func(from, to, amount, cur string) map[string]string {
		return map[string]string{"from_account": from, "to_account": to, "amount": amount, "currency": cur, "transaction_id": uuid.NewString()}
	}
	// Bad input is refused before any shard decides and records nothing; a
	// shard's refusal (recorded) adds its record under the key, nothing else.
	tests := []struct {
		name     string
		body     any
		status   int
		code     string
		recorded bool
	}{
		{"malformed JSON", `{"from_account": "x",`, 400, "invalid_request", false},
		{"not an object", `[1,2]`, 400, "invalid_request", false},
		{"unknown field", `{"from_account":"a","bogus":1}`, 400, "invalid_request", false},
		{"two objects", `{} {}`, 400, "invalid_request", false},
		{"unknown source", tx("nobody", b, "1.00", "USD"), 404, "account_not_found", true},
		{"unknown destination", tx(a, "nobody-"+idOn(2), "1.00", "USD"), 404, "account_not_found", true},
		{"insufficient funds", tx(a, b, "10.01", "USD"), 422, "insufficient_funds", true},
		{"non-numeric amount", tx(a, b, "ten", "USD"), 400, "invalid_amount", false},
		{"amount as JSON number", `{"from_account":"` + a + `","to_account":"` + b + `","amount":5,"currency":"USD","transaction_id":"` + uuid.NewString() + `"}`, 400, "invalid_amount", false},
		{"negative amount", tx(a, b, "-1.00", "USD"), 400, "invalid_amount", false},
		{"zero amount", tx(a, b, "0", "USD"), 400, "invalid_amount", false},
		{"too many decimals", tx(a, b, "1.001", "USD"), 400, "invalid_amount", false},
		{"huge amount", tx(a, b, "99999999999999999999999", "USD"), 400, "invalid_amount", false},
		{"unknown currency", tx(a, b, "1.00", "XYZ"), 400, "invalid_request", false},
		{"currency mismatch", tx(a, eur, "1.00", "USD"), 422, "currency_mismatch", true},
		{"same account", tx(a, a, "1.00", "USD"), 400, "same_account", false},
		{"transaction id not a UUID", map[string]string{"from_account": a, "to_account": b, "amount": "1", "currency": "USD", "transaction_id": "abc"}, 400, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, refused := e.snapshot(), e.refusals()
			wantProblem(t, e.post("/v1/wallet/balance_transfer", tt.body), tt.status, tt.code)
			if after := e.snapshot(); after != before {
				t.Fatalf("rejected request changed state:\n%s\n%s", before, after)
			}
			want := refused
			if tt.recorded {
				want++
			}
			if got := e.refusals(); got != want {
				t.Fatalf("%d refusals recorded, want %d", got, want)
			}
		})
	}
	r := e.post("/v1/wallet/balance_transfer", tx(a, b, "10.01", "USD"))
	if r.Body["available"] != "10.00" || r.Body["requested"] != "10.01" {
		t.Fatalf("insufficient_funds must carry available and requested: %s", r.Raw)
	}
}

func TestConcurrentTransfersKeepMoney(t *testing.T) {
	e := mustEnv(t)
	ids := []string{idOn(3), idOn(3), idOn(3), idOn(3)}
	for _, id := range ids {
		e.mustOpen(id, "USD")
		e.mustDeposit(id, "50.00", "USD")
	}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := ids[i%4], ids[(i*3+1)%4]
			if from == to {
				return
			}
			r := e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": from, "to_account": to,
				"amount": "7.00", "currency": "USD", "transaction_id": uuid.NewString()})
			if r.Status != http.StatusOK && r.Body["code"] != "insufficient_funds" {
				t.Errorf("transfer %d: %d %s", i, r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	var sum, negatives int
	if err := e.shards[3].QueryRow("SELECT CAST(SUM(balance) AS SIGNED), SUM(balance < 0) FROM accounts").Scan(&sum, &negatives); err != nil {
		t.Fatal(err)
	}
	if sum != 200 || negatives != 0 {
		t.Fatalf("sum %d negatives %d, want 200 and 0", sum, negatives)
	}
}

func TestCrossShardTransferStartsSaga(t *testing.T) {
	e := mustEnv(t)
	a, b := idOn(0), idOn(1)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "20.00", "USD")
	body := map[string]string{"from_account": a, "to_account": b, "amount": "5.00", "currency": "USD", "transaction_id": uuid.NewString()}
	r := e.post("/v1/wallet/balance_transfer", body)
	if r.Status != http.StatusAccepted || r.Body["status"] != "pending" || r.Header.Get("Location") != "/v1/wallet/transfers/"+body["transaction_id"]+"?from_account="+a {
		t.Fatalf("cross-shard transfer: %d %v %s", r.Status, r.Header, r.Raw)
	}
	// The debit is visible at once, as money in flight.
	if got := e.balance(a); got != "15.00" {
		t.Fatalf("source balance %s, want 15.00", got)
	}
	var topic string
	if err := e.shards[0].Get(&topic, "SELECT topic FROM outbox WHERE event_type = 'transfer.debited'"); err != nil || topic != "wallet.transfer.debited.1" {
		t.Fatalf("debited event topic %q (%v), want the destination shard's", topic, err)
	}
	tr := e.do(http.MethodGet, "/v1/wallet/transfers/"+body["transaction_id"], "", "")
	if tr.Status != http.StatusOK || tr.Body["status"] != "pending" || tr.Body["from_shard"] != float64(0) || tr.Body["to_shard"] != float64(1) {
		t.Fatalf("get transfer: %d %s", tr.Status, tr.Raw)
	}
	// A retry while pending answers pending again and debits nothing more.
	if again := e.post("/v1/wallet/balance_transfer", body); again.Status != http.StatusAccepted || again.Raw != r.Raw {
		t.Fatalf("retry: %d %s", again.Status, again.Raw)
	}
	if got := e.balance(a); got != "15.00" {
		t.Fatalf("source balance after retry %s", got)
	}
	// A frozen source is refused before any saga starts.
	if p := e.do(http.MethodPatch, "/v1/accounts/"+a, "application/json", `{"status":"frozen"}`); p.Status != 200 || p.Body["status"] != "frozen" {
		t.Fatalf("freeze: %d %s", p.Status, p.Raw)
	}
	body["transaction_id"] = uuid.NewString()
	wantProblem(t, e.post("/v1/wallet/balance_transfer", body), 422, "account_frozen")
}

// A refused request's key keeps its refusal: the same request again gets
// the same status and body, even after a deposit would let it through (so a
// late copy of it cannot move money after the client was told no); another
// body under the key is an idempotency_conflict; a new key is judged now.
func TestRefusalIsReplayed(t *testing.T) {
	e := mustEnv(t)
	for _, cross := range []bool{false, true} {
		a, b := idOn(2), idOn(2)
		if cross {
			b = idOn(3)
		}
		e.mustOpen(a, "USD")
		e.mustOpen(b, "USD")
		e.mustDeposit(a, "1.00", "USD")
		body := map[string]string{"from_account": a, "to_account": b, "amount": "5.00", "currency": "USD", "transaction_id": uuid.NewString()}
		first := e.post("/v1/wallet/balance_transfer", body)
		wantProblem(t, first, 422, "insufficient_funds")
		e.mustDeposit(a, "10.00", "USD")
		if again := e.post("/v1/wallet/balance_transfer", body); again.Status != first.Status || again.Raw != first.Raw {
			t.Errorf("cross-shard %v: the retry answered %d %s, want the refusal %d %s", cross, again.Status, again.Raw, first.Status, first.Raw)
		}
		got := e.do(http.MethodGet, "/v1/wallet/transfers/"+body["transaction_id"]+"?from_account="+a, "", "")
		if got.Status != 200 || got.Body["status"] != "refused" || got.Body["reason"] != "insufficient_funds" || len(got.Body["steps"].([]any)) != 0 {
			t.Errorf("cross-shard %v: GET of the refused transfer: %d %s", cross, got.Status, got.Raw)
		}
		body["amount"] = "4.00"
		wantProblem(t, e.post("/v1/wallet/balance_transfer", body), 422, "idempotency_conflict")
		body["transaction_id"] = uuid.NewString()
		if r := e.post("/v1/wallet/balance_transfer", body); r.Status != 200 && r.Status != 202 {
			t.Errorf("cross-shard %v: a new key answered %d %s, want the transfer made", cross, r.Status, r.Raw)
		}
		w := map[string]string{"amount": "50.00", "currency": "USD", "transaction_id": uuid.NewString()}
		refused := e.post("/v1/accounts/"+a+"/withdrawals", w)
		wantProblem(t, refused, 422, "insufficient_funds")
		e.mustDeposit(a, "100.00", "USD")
		if again := e.post("/v1/accounts/"+a+"/withdrawals", w); again.Raw != refused.Raw {
			t.Errorf("the withdrawal's retry answered %d %s, want the refusal %s", again.Status, again.Raw, refused.Raw)
		}
	}
}

func TestAccountLifecycle(t *testing.T) {
	e := mustEnv(t)
	a := idOn(2)
	e.mustOpen(a, "EUR")
	e.mustDeposit(a, "1.00", "EUR")
	patch := func(status string) response {
		return e.do(http.MethodPatch, "/v1/accounts/"+a, "application/json", `{"status":"`+status+`"}`)
	}
	if r := patch("frozen"); r.Status != 200 || r.Body["status"] != "frozen" {
		t.Fatalf("freeze: %d %s", r.Status, r.Raw)
	}
	dep := map[string]string{"amount": "1", "currency": "EUR", "transaction_id": uuid.NewString()}
	wantProblem(t, e.post("/v1/accounts/"+a+"/deposits", dep), 422, "account_frozen")
	if r := patch("active"); r.Status != 200 || r.Body["status"] != "active" {
		t.Fatalf("unfreeze: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, patch("closed"), 409, "account_not_empty")
	wantProblem(t, patch("gone"), 400, "invalid_request")
	e.post("/v1/accounts/"+a+"/withdrawals", map[string]string{"amount": "1.00", "currency": "EUR", "transaction_id": uuid.NewString()})
	if r := patch("closed"); r.Status != 200 || r.Body["status"] != "closed" {
		t.Fatalf("close: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, patch("active"), 422, "account_closed")
	// The refused deposit's key replays its refusal; a new key is judged now.
	wantProblem(t, e.post("/v1/accounts/"+a+"/deposits", dep), 422, "account_frozen")
	dep["transaction_id"] = uuid.NewString()
	wantProblem(t, e.post("/v1/accounts/"+a+"/deposits", dep), 422, "account_closed")
	wantProblem(t, e.do(http.MethodPatch, "/v1/accounts/ghost", "application/json", `{"status":"frozen"}`), 404, "account_not_found")
	var events int
	if err := e.shards[2].Get(&events, "SELECT COUNT(*) FROM outbox WHERE event_type = 'account.status_changed'"); err != nil || events != 3 {
		t.Fatalf("status_changed events = %d (%v), want 3", events, err)
	}
}

// Concurrent requests with one key move money once, on one shard and across
// shards, and all get the same answer.
func TestConcurrentSameKeyMovesOnce(t *testing.T) {
	tests := []struct {
		name               string
		fromShard, toShard int
		status             int
	}{
		{"same shard", 0, 0, http.StatusOK},
		{"cross-shard", 3, 2, http.StatusAccepted}, // no saga consumers here: it stays pending
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			a, b := idOn(tt.fromShard), idOn(tt.toShard)
			e.mustOpen(a, "KRW")
			e.mustOpen(b, "KRW")
			e.mustDeposit(a, "1000", "KRW")
			body := map[string]string{"from_account": a, "to_account": b, "amount": "700", "currency": "KRW", "transaction_id": uuid.NewString()}
			var wg sync.WaitGroup
			results := make([]response, 10)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = e.post("/v1/wallet/balance_transfer", body)
				}()
			}
			wg.Wait()
			for i, r := range results {
				if r.Status != tt.status || r.Raw != results[0].Raw {
					t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
				}
			}
			var outgoing int
			if err := e.shards[tt.fromShard].Get(&outgoing, "SELECT COUNT(*) FROM outbox WHERE event_type LIKE 'transfer.%'"); err != nil || outgoing != 1 {
				t.Fatalf("%d transfer events (%v), want 1", outgoing, err)
			}
			if got := e.balance(a); got != "300" {
				t.Fatalf("source balance %s, want 300", got)
			}
		})
	}
}

// A credit the destination's database refuses for its data (here a check
// constraint on the balance: a permanent error, the same on every retry)
// is rejected with invalid_data and the source refunded, instead of the
// step being retried and redriven forever.
func TestCreditRefusedByDatabaseIsRejected(t *testing.T) {
	e := mustEnv(t)
	a, b := idOn(0), idOn(1)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "20.00", "USD")
	if _, err := e.shards[1].Exec("ALTER TABLE accounts ADD CONSTRAINT test_cap CHECK (balance < 10)"); err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{"from_account": a, "to_account": b, "amount": "4.00", "currency": "USD", "transaction_id": uuid.NewString()}
	bad := map[string]string{"from_account": a, "to_account": b, "amount": "11.00", "currency": "USD", "transaction_id": uuid.NewString()}
	for _, body := range []map[string]string{ok, bad} {
		if r := e.post("/v1/wallet/balance_transfer", body); r.Status != http.StatusAccepted {
			t.Fatalf("transfer: %d %s", r.Status, r.Raw)
		}
	}
	e.runSaga()
	tr := e.do(http.MethodGet, "/v1/wallet/transfers/"+bad["transaction_id"], "", "")
	if tr.Status != http.StatusOK || tr.Body["status"] != "failed" || tr.Body["reason"] != "invalid_data" {
		t.Fatalf("refused transfer: %d %s, want failed with invalid_data", tr.Status, tr.Raw)
	}
	if tr := e.do(http.MethodGet, "/v1/wallet/transfers/"+ok["transaction_id"], "", ""); tr.Body["status"] != "completed" {
		t.Fatalf("the other transfer: %s", tr.Raw)
	}
	if got := e.balance(a); got != "16.00" {
		t.Errorf("source %s, want 16.00: refunded 11, 4 sent", got)
	}
	if got := e.balance(b); got != "4.00" {
		t.Errorf("destination %s, want 4.00", got)
	}
}
