package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Load is how one load phase went: when it ran and what came back.
type Load struct {
	Start, End time.Time
	Replies    Replies
	Requests   int64 // HTTP requests; a bulk request carries many transfers
}

// transferOnce sends one transfer of pair and records its outcome, with the
// latency counted from since (the send time, or in the open loop the time
// the send was due).
func transferOnce(ctx context.Context, api *API, rec *Recorder, pair Pair, amount string, since time.Time) {
	r, err := api.Transfer(ctx, pair.From, pair.To, amount, uuid.NewString())
	took := time.Since(since)
	if err != nil {
		rec.TransportError(kindOf(pair), err, took)
		return
	}
	rec.Reply(kindOf(pair), r.Status, r.Code, took)
}

// kindOf is the latency class of a pair: "same" or "cross" shard.
func kindOf(p Pair) string {
	if p.Cross {
		return "cross"
	}
	return "same"
}

// Route is where a client sends and what it sends: bench -scale gives
// each node's clients the node's account-service and a picker of transfers
// from the node's accounts (a load balancer routing by shard); otherwise
// there is one.
type Route struct {
	API    *API
	Picker *Picker
}

// closedLoop runs clients goroutines for d, client c sending to
// targets[c % len(targets)], each sending its next transfer as soon as the
// last one was answered. The load ends when the last
// in-flight request has been answered, not at the deadline, so nothing sent
// is left out of the figures.
func closedLoop(ctx context.Context, targets []Route, clients int, d time.Duration, amount string) Load {
	rec := NewRecorder()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(c)))
			t := targets[c%len(targets)]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				transferOnce(ctx, t.API, rec, t.Picker.Next(rng), amount, time.Now())
			}
		})
	}
	wg.Wait()
	end := time.Now()
	sum := rec.Summary()
	return Load{Start: start, End: end, Replies: sum, Requests: sum.Sent}
}

// openLoop offers rate transfers/s for d whatever the replies, each request
// in its own goroutine. Latency runs from the moment a request was due, so a
// slow system is not excused by the generator having waited for it
// (coordinated omission). At most maxInFlight requests are outstanding; a
// send due beyond that is counted as dropped by the generator rather than
// queued, so the generator's memory stays bounded.
func openLoop(ctx context.Context, api *API, picker *Picker, rate float64, maxInFlight int, d time.Duration, amount string) Load {
	rec := NewRecorder()
	slots := make(chan struct{}, maxInFlight)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 0))
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(start.Add(d)) {
			break
		}
		// Sleep until due; when behind, send at once to catch up: the
		// schedule is fixed in advance.
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case slots <- struct{}{}:
		default:
			rec.Dropped()
			continue
		}
		pair := picker.Next(rng)
		wg.Go(func() {
			defer func() { <-slots }()
			transferOnce(ctx, api, rec, pair, amount, due)
		})
	}
	wg.Wait()
	end := time.Now()
	sum := rec.Summary()
	return Load{Start: start, End: end, Replies: sum, Requests: sum.Sent}
}
