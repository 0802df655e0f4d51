package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// bulkPath is account-service's bulk transfer endpoint: {"transfers":[…]}
// in, {"results":[…]} out, one result per transfer in the same order.
const bulkPath = "/v1/wallet/transfers"

// transferBody is one transfer in the single request's body shape.
type transferBody struct {
	FromAccount   string `json:"from_account"`
	ToAccount     string `json:"to_account"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	TransactionID string `json:"transaction_id"`
}

// ItemReply is one transfer's answer within a bulk answer.
type ItemReply struct {
	TransactionID string
	Reply
}

// BulkTransfer posts items in one request. It returns one reply per item,
// in order: each item's own outcome when the request was answered 200, the
// request's status and code for every item otherwise (a 413 or a 503 refuses
// them all). An answer that breaks the contract (not one result per item, or
// not in the order sent) is an error.
func (a *API) BulkTransfer(ctx context.Context, items []transferBody) ([]ItemReply, error) {
	status, raw, err := a.send(ctx, bulkPath, map[string]any{"transfers": items})
	if err != nil {
		return nil, err
	}
	out := make([]ItemReply, len(items))
	if status != http.StatusOK {
		code := "(unparsable body)"
		var o outcome
		if json.Unmarshal(raw, &o) == nil {
			_, code = o.reply()
		}
		for i, it := range items {
			out[i] = ItemReply{TransactionID: it.TransactionID, Reply: Reply{Status: status, Code: code}}
		}
		return out, nil
	}
	var body struct {
		Results []outcome `json:"results"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("bulk answer: %w", err)
	}
	if len(body.Results) != len(items) {
		return nil, fmt.Errorf("bulk answer: %d results for %d transfers", len(body.Results), len(items))
	}
	for i, r := range body.Results {
		if r.TransactionID != items[i].TransactionID {
			return nil, fmt.Errorf("bulk answer: result %d is for transaction %q, sent %q", i, r.TransactionID, items[i].TransactionID)
		}
		s, code := r.reply()
		out[i] = ItemReply{TransactionID: r.TransactionID, Reply: Reply{Status: s, Code: code}}
	}
	return out, nil
}

// bulkOnce sends pairs as one bulk request and records each transfer's
// outcome, with the request's latency as each one's: every transfer of it
// was answered only then.
func bulkOnce(ctx context.Context, api *API, rec *Recorder, pairs []Pair, amount string) {
	items := make([]transferBody, len(pairs))
	for i, p := range pairs {
		items[i] = transferBody{FromAccount: p.From, ToAccount: p.To, Amount: amount, Currency: "USD", TransactionID: uuid.NewString()}
	}
	start := time.Now()
	replies, err := api.BulkTransfer(ctx, items)
	took := time.Since(start)
	for i, p := range pairs {
		if err != nil {
			rec.TransportError(kindOf(p), err, took)
			continue
		}
		rec.Reply(kindOf(p), replies[i].Status, replies[i].Code, took)
	}
}

// bulkLoop runs clients goroutines for d, client c sending to
// targets[c % len(targets)], each sending a bulk request of perRequest
// transfers as soon as its last one was answered.
func bulkLoop(ctx context.Context, targets []Route, clients, perRequest int, d time.Duration, amount string) Load {
	rec := NewRecorder()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	var requests atomic.Int64
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(c)))
			pairs := make([]Pair, perRequest)
			t := targets[c%len(targets)]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				for i := range pairs {
					pairs[i] = t.Picker.Next(rng)
				}
				bulkOnce(ctx, t.API, rec, pairs, amount)
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	return Load{Start: start, End: time.Now(), Replies: rec.Summary(), Requests: requests.Load()}
}
