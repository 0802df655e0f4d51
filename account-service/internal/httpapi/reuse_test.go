package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// Transaction ids are scoped to the source account. One id used by four
// source accounts on three shards, two of them cross-shard to the same
// destination shard (which also uses the id for a transfer of its own), is
// four transfers: each settles on its own, reads back unblended with
// ?from_account=, and a lookup by the id alone is ambiguous, never a mix.
func TestTransactionIDReusedFromSeveralSources(t *testing.T) {
	e := mustEnv(t)
	txID := uuid.NewString()
	a0, a1, b1, a2 := idOn(0), idOn(1), idOn(1), idOn(2)
	d2a, d2b, c1, c2 := idOn(2), idOn(2), idOn(1), idOn(2)
	for _, id := range []string{a0, a1, b1, a2, d2a, d2b, c1, c2} {
		e.mustOpen(id, "USD")
	}
	transfers := []struct {
		from, to, amount string
		cross            bool
	}{
		{a0, d2a, "1.00", true}, // shard 0 → 2
		{a1, d2b, "2.00", true}, // shard 1 → 2: the same destination shard, the same id
		{b1, c1, "3.00", false}, // shard 1, beside a1's cross-shard transfer
		{a2, c2, "4.00", false}, // shard 2, the destination shard of the first two
	}
	bodies := make([]map[string]string, len(transfers))
	for i, tr := range transfers {
		e.mustDeposit(tr.from, "100.00", "USD")
		bodies[i] = map[string]string{"from_account": tr.from, "to_account": tr.to, "amount": tr.amount, "currency": "USD", "transaction_id": txID}
		r := e.post("/v1/wallet/balance_transfer", bodies[i])
		want := http.StatusOK
		if tr.cross {
			want = http.StatusAccepted
		}
		if r.Status != want {
			t.Fatalf("transfer %d: %d %s, want %d", i, r.Status, r.Raw, want)
		}
	}
	e.runSaga()

	want := map[string]string{a0: "99.00", a1: "98.00", b1: "97.00", a2: "96.00", d2a: "1.00", d2b: "2.00", c1: "3.00", c2: "4.00"}
	checkBalances := func(when string) {
		t.Helper()
		for id, b := range want {
			if got := e.balance(id); got != b {
				t.Fatalf("%s: %s holds %s, want %s", when, id, got, b)
			}
		}
	}
	checkBalances("settled")

	for i, tr := range transfers {
		r := e.do(http.MethodGet, "/v1/wallet/transfers/"+txID+"?from_account="+tr.from, "", "")
		if r.Status != http.StatusOK || r.Body["status"] != "completed" || r.Body["from_account"] != tr.from ||
			r.Body["to_account"] != tr.to || r.Body["amount"] != tr.amount {
			t.Fatalf("transfer %d: %d %s", i, r.Status, r.Raw)
		}
		var steps []string
		for _, s := range r.Body["steps"].([]any) {
			st := s.(map[string]any)
			steps = append(steps, st["step"].(string)+"@"+formatShard(st["shard"]))
		}
		src, dst := formatShard(r.Body["from_shard"]), formatShard(r.Body["to_shard"])
		wantSteps := []string{"completed@" + src}
		if tr.cross {
			wantSteps = []string{"debited@" + src, "credited@" + dst, "completed@" + src}
		}
		if !slices.Equal(steps, wantSteps) {
			t.Fatalf("transfer %d: steps %v, want %v (only its own)", i, steps, wantSteps)
		}
	}

	// By the id alone: ambiguous, naming the source accounts to choose from.
	r := e.do(http.MethodGet, "/v1/wallet/transfers/"+txID, "", "")
	wantProblem(t, r, http.StatusConflict, "ambiguous_transaction_id")
	var froms []string
	for _, f := range r.Body["from_accounts"].([]any) {
		froms = append(froms, f.(string))
	}
	slices.Sort(froms)
	wantFroms := []string{a0, a1, b1, a2}
	slices.Sort(wantFroms)
	if !slices.Equal(froms, wantFroms) {
		t.Fatalf("from_accounts %v, want %v", froms, wantFroms)
	}
	// An account that sent nothing under the id (a destination, or a
	// stranger) is not_found; a malformed one is invalid_request.
	wantProblem(t, e.do(http.MethodGet, "/v1/wallet/transfers/"+txID+"?from_account="+d2a, "", ""), http.StatusNotFound, "not_found")
	wantProblem(t, e.do(http.MethodGet, "/v1/wallet/transfers/"+txID+"?from_account="+idOn(3), "", ""), http.StatusNotFound, "not_found")
	wantProblem(t, e.do(http.MethodGet, "/v1/wallet/transfers/"+txID+"?from_account=bad%21id", "", ""), http.StatusBadRequest, "invalid_request")

	// Retries replay each transfer's outcome; redelivered and redriven
	// debits credit nothing again.
	for i, b := range bodies {
		if r := e.post("/v1/wallet/balance_transfer", b); r.Status != http.StatusOK || r.Body["status"] != "success" || r.Body["to_account"] != b["to_account"] {
			t.Fatalf("retry %d: %d %s", i, r.Status, r.Raw)
		}
	}
	e.redeliverDebits()
	e.runSaga()
	checkBalances("after retries and redeliveries")

	// The same source account with another body is still a conflict.
	other := map[string]string{"from_account": a1, "to_account": d2a, "amount": "2.00", "currency": "USD", "transaction_id": txID}
	wantProblem(t, e.post("/v1/wallet/balance_transfer", other), http.StatusUnprocessableEntity, "idempotency_conflict")

	// An id used once needs no from_account.
	once := map[string]string{"from_account": a0, "to_account": d2b, "amount": "1.00", "currency": "USD", "transaction_id": uuid.NewString()}
	if r := e.post("/v1/wallet/balance_transfer", once); r.Status != http.StatusAccepted {
		t.Fatalf("single-use id: %d %s", r.Status, r.Raw)
	}
	if r := e.do(http.MethodGet, "/v1/wallet/transfers/"+once["transaction_id"], "", ""); r.Status != http.StatusOK || r.Body["from_account"] != a0 {
		t.Fatalf("single-use id by itself: %d %s", r.Status, r.Raw)
	}
}

func formatShard(v any) string { return string(rune('0' + int(v.(float64)))) }

// sagaEvents reads the outbox's saga events (the ones another shard acts on)
// on every shard, with the ids done skipped.
func (e *env) sagaEvents(done map[string]bool) []events.Event {
	e.t.Helper()
	var out []events.Event
	for sh, db := range e.shards {
		var rows []struct {
			ID      string    `db:"event_id"`
			Type    string    `db:"event_type"`
			Topic   string    `db:"topic"`
			Data    string    `db:"data"`
			Time    time.Time `db:"occurred_at"`
			Subject string    `db:"subject"`
		}
		if err := db.Select(&rows, `SELECT event_id, event_type, topic, data, occurred_at, subject FROM outbox
			WHERE event_type IN (?, ?, ?) ORDER BY id`, events.TransferDebited, events.TransferCredited, events.TransferCreditRejected); err != nil {
			e.t.Fatalf("shard %d: read outbox: %v", sh, err)
		}
		for _, r := range rows {
			if !done[r.ID] {
				out = append(out, events.Event{ID: r.ID, Type: r.Type, Topic: r.Topic, Subject: r.Subject, Time: r.Time, Data: []byte(r.Data)})
			}
		}
	}
	return out
}

// runSaga does what the saga consumers do until no step is left: each
// round applies every new saga event, those for one shard in one batch (so
// two debits under one id reach their destination together).
func (e *env) runSaga() {
	e.t.Helper()
	done := map[string]bool{}
	if e.stepped != nil {
		done = e.stepped
	}
	for round := 0; ; round++ {
		evs := e.sagaEvents(done)
		if len(evs) == 0 {
			e.stepped = done
			return
		}
		if round > 10 {
			e.t.Fatalf("saga still has %d new events after %d rounds", len(evs), round)
		}
		byShard := map[int][]account.Op{}
		for _, ev := range evs {
			done[ev.ID] = true
			op, sh, err := account.OpFor(ev, e.f.Store.Shards())
			if err != nil {
				e.t.Fatalf("event %s: %v", ev.ID, err)
			}
			byShard[sh] = append(byShard[sh], op)
		}
		for sh, ops := range byShard {
			for i, res := range e.f.Writer.Do(context.Background(), sh, ops) {
				if res.Err != nil {
					e.t.Fatalf("shard %d op %d: %v", sh, i, res.Err)
				}
			}
		}
	}
}

// redeliverDebits applies every debit again, once as a redelivery (the same
// event id) and once as a redrive (a new one), in one batch per shard.
func (e *env) redeliverDebits() {
	e.t.Helper()
	byShard := map[int][]account.Op{}
	for _, ev := range e.sagaEvents(nil) {
		if ev.Type != events.TransferDebited {
			continue
		}
		redriven := ev
		redriven.ID = uuid.NewString()
		for _, x := range []events.Event{ev, redriven} {
			op, sh, err := account.OpFor(x, e.f.Store.Shards())
			if err != nil {
				e.t.Fatal(err)
			}
			byShard[sh] = append(byShard[sh], op)
		}
	}
	for sh, ops := range byShard {
		for i, res := range e.f.Writer.Do(context.Background(), sh, ops) {
			if res.Err != nil {
				e.t.Fatalf("shard %d redelivery %d: %v", sh, i, res.Err)
			}
		}
	}
}
