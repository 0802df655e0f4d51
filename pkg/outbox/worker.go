package outbox

import (
	"context"
	"github.com/walletco/wallet/pkg/lease"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// parallelSteps bounds the shards of one server stepped at once, and so the
// server's connections the relay uses to publish (a step may hold two: its
// read or mark, and the previous chunk's mark).
const parallelSteps = 8

// worker publishes the shards of one database server while this relay holds
// the server's lease. It works in rounds: it steps each shard that has rows
// waiting (its last batch was full or set a row aside), was woken, or was
// found with unpublished rows by the server's probe, which asks about all
// the server's shards in one query at most once per PollInterval. Idle, a
// server costs that one query per PollInterval.
type worker struct {
	r     *Relay
	name  string // the server's
	log   *slog.Logger
	lease *lease.Lease
	// held is whether this relay holds the lease now, for the prune loop.
	held atomic.Bool
	// wake is poked by the router; dirty, guarded by the router's mutex,
	// holds the shards woken since the last round.
	wake  chan struct{}
	dirty map[int]struct{}

	shards map[int]*shardState // the server's shards as of the last round
	gen    uint64              // rounds so far
	routed bool                // the router sends this worker its shards' wake-ups

	nextProbe time.Time // when the server is next asked which shards to poll
	probeErrs int       // failed probes in a row
	failures  int       // failed lease renewals in a row

	leaseHeld prometheus.Gauge
	errors    prometheus.Counter
}

// shardState is what a worker knows of one shard between rounds.
type shardState struct {
	s *shardRelay
	// ready: rows are waiting (a full batch, or a row was set aside), so
	// the shard is stepped in the next round without asking.
	ready bool
	// failures in a row, and when the shard is stepped again after them.
	failures int
	retryAt  time.Time
	// due: stepped in this round; gen: the last round that found the
	// shard on the server.
	due bool
	gen uint64
}

func (r *Relay) newWorker(name string) *worker {
	return &worker{r: r, name: name, log: r.log.With("server", name),
		lease: &lease.Lease{Bucket: r.leases, Key: name, Value: r.value},
		wake:  make(chan struct{}, 1), dirty: map[int]struct{}{}, shards: map[int]*shardState{},
		leaseHeld: leaseHeld.WithLabelValues(name), errors: serverErrors.WithLabelValues(name)}
}

// run publishes the server's shards until ctx ends or the server is no
// longer placed, then gives the lease up.
func (w *worker) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var prune sync.WaitGroup
	defer func() {
		cancel()
		prune.Wait()
		w.unroute()
		w.leaseHeld.Set(0)
		w.lease.Release(context.WithoutCancel(ctx))
	}()
	if w.r.cfg.Retention > 0 {
		prune.Add(1)
		go func() {
			defer prune.Done()
			w.pruneLoop(ctx)
		}()
	}
	for ctx.Err() == nil {
		srv, ok := w.r.server(w.name)
		if !ok {
			w.log.Info("outbox relay: the server is no longer placed; its worker stops")
			return
		}
		if err := srv.check(); err != nil {
			w.errors.Inc()
			w.log.Error("outbox relay", "err", err)
			w.unroute()
			pause(ctx, w.r.cfg.LeaseTTL/4, nil)
			continue
		}
		wasHeld := w.held.Load()
		held, err := w.lease.Hold(ctx)
		w.held.Store(held)
		if !held {
			w.leaseHeld.Set(0)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			w.unroute()
			w.failures++
			w.errors.Inc()
			wait := backoff(w.failures)
			w.log.Warn("outbox relay: lease", "err", err, "retry_in", wait)
			pause(ctx, wait, nil)
			continue
		case err != nil:
			return
		case !held:
			w.failures = 0
			if wasHeld {
				w.log.Warn("outbox relay: lease lost; another relay publishes the server's shards")
			}
			w.unroute()
			pause(ctx, w.r.cfg.LeaseTTL/4, nil) // another relay publishes this server
			continue
		}
		w.failures = 0
		if !wasHeld {
			w.log.Info("outbox relay: lease taken; publishing the server's shards", "shards", len(srv.Shards))
			w.nextProbe = time.Time{} // ask about every shard at once
		}
		w.leaseHeld.Set(1)
		if wait := w.round(ctx, srv); wait > 0 {
			pause(ctx, wait, w.wake)
		}
	}
}

// round steps the shards due and returns how long the worker may idle
// before the next round (0: at once); a wake-up ends the idle wait.
func (w *worker) round(ctx context.Context, srv Server) time.Duration {
	w.sync(srv)
	now := time.Now()
	// mark makes shard n due unless it is waiting out failures.
	mark := func(n int) {
		if st := w.shards[n]; st != nil && !now.Before(st.retryAt) {
			st.due = true
		}
	}
	for n, st := range w.shards {
		if st.ready || st.failures > 0 {
			mark(n)
		}
	}
	for _, n := range w.r.wakes.take(w) {
		mark(n)
	}
	if !now.Before(w.nextProbe) {
		pending, err := w.probe(ctx, srv)
		w.nextProbe = now.Add(w.r.cfg.PollInterval)
		if err != nil && ctx.Err() == nil {
			w.probeErrs++
			w.errors.Inc()
			wait := max(backoff(w.probeErrs), w.r.cfg.PollInterval)
			w.nextProbe = now.Add(wait)
			w.log.Warn("outbox relay: which shards have unpublished rows", "err", err, "retry_in", wait)
			// One shard's missing table fails the whole probe: poll every
			// shard instead; a failing one backs off on its own and is left
			// out of the next probe.
			for _, sh := range srv.Shards {
				pending = append(pending, sh.N)
			}
		} else if err == nil {
			w.probeErrs = 0
		}
		for _, n := range pending {
			mark(n)
		}
	}
	// The due shards are stepped in shard order, up to parallelSteps at a
	// time: each shard's rows stay in order (one step of a shard at a
	// time), and a round of many shards is not the sum of their steps.
	slots := make(chan struct{}, parallelSteps)
	var steps sync.WaitGroup
	defer steps.Wait()
	for _, sh := range srv.Shards {
		st := w.shards[sh.N]
		if !st.due {
			continue
		}
		st.due = false
		slots <- struct{}{}
		// A long round must not outlive the lease: renew it between steps
		// when due, and stop if it is lost.
		if held, err := w.lease.Hold(ctx); !held || err != nil || ctx.Err() != nil {
			w.undue()
			return 0
		}
		steps.Add(1)
		go func() {
			defer func() { <-slots; steps.Done() }()
			w.step(ctx, st)
		}()
	}
	steps.Wait()
	// An idle worker wakes to renew its lease too.
	wait := min(time.Until(w.nextProbe), time.Until(w.lease.RenewAt()))
	for _, st := range w.shards {
		if st.ready {
			return 0
		}
		if st.failures > 0 {
			wait = min(wait, time.Until(st.retryAt))
		}
	}
	return max(wait, 0)
}

// step publishes one batch of st's shard and records what that says of the
// shard's next step.
func (w *worker) step(ctx context.Context, st *shardState) {
	n, err := st.s.step(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		st.s.m.errors.Inc()
		st.failures++
		st.ready = false
		wait := backoff(st.failures)
		st.retryAt = time.Now().Add(wait)
		st.s.log.Warn("outbox relay", "err", err, "retry_in", wait)
	case err != nil:
	default:
		st.failures, st.retryAt = 0, time.Time{}
		// A full batch: more rows are likely waiting. A set-aside row: the
		// rows behind it go out now. Otherwise the outbox was drained: the
		// next wake-up or probe says when to poll it again.
		st.ready = st.s.again || n >= w.r.cfg.BatchSize
	}
}

// probe returns the shards of srv that have rows to publish, asking the
// server once for all of them; each part reads at most one entry of the
// (published_at, id) index. Shards whose last step failed are left out:
// they are polled when their back-off ends, and one whose table is missing
// must not fail the probe of the others.
func (w *worker) probe(ctx context.Context, srv Server) ([]int, error) {
	shards := make([]Shard, 0, len(srv.Shards))
	for _, sh := range srv.Shards {
		if st := w.shards[sh.N]; st == nil || st.failures == 0 {
			shards = append(shards, sh)
		}
	}
	if len(shards) == 0 {
		return nil, nil
	}
	q := unionAll(shards, func(sh Shard) string {
		return "SELECT " + strconv.Itoa(sh.N) + " AS shard FROM " + outboxTable(sh) +
			" WHERE published_at IS NULL AND set_aside_at IS NULL LIMIT 1"
	})
	var pending []int
	err := srv.DB.SelectContext(ctx, &pending, q)
	return pending, err
}

// sync makes the worker's shards srv's: new ones are added, gone ones
// (moved to another server) dropped, and the router sends it the wake-ups
// of exactly these.
func (w *worker) sync(srv Server) {
	w.gen++
	changed := !w.routed
	for _, sh := range srv.Shards {
		table := outboxTable(sh)
		st := w.shards[sh.N]
		switch {
		case st == nil:
			if w.routed {
				w.log.Info("outbox relay: a shard moved to this server", "shard", sh.N)
			}
			st = &shardState{s: w.r.newShardRelay(sh.N, srv.DB, table)}
			w.shards[sh.N] = st
			changed = true
		case st.s.db != srv.DB || st.s.table != table:
			st.s.db, st.s.table = srv.DB, table
		}
		st.gen = w.gen
	}
	for n, st := range w.shards {
		if st.gen != w.gen {
			w.log.Info("outbox relay: a shard moved away from this server", "shard", n)
			delete(w.shards, n)
			changed = true
		}
	}
	if changed {
		ns := make([]int, 0, len(srv.Shards))
		for _, sh := range srv.Shards {
			ns = append(ns, sh.N)
		}
		w.r.wakes.route(w, ns)
		w.routed = true
	}
}

// undue clears the due marks of a round cut short.
func (w *worker) undue() {
	for _, st := range w.shards {
		st.due = false
	}
}

// unroute stops the wake-ups of the worker's shards, when it does not hold
// the lease; the next round with the lease routes them again.
func (w *worker) unroute() {
	if w.routed {
		w.r.wakes.route(w, nil)
		w.routed = false
	}
}
