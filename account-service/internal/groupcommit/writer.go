// Package groupcommit gathers concurrent money operations per database
// server into batches, each one transaction: one writer per server takes
// what queued for any of its shards while the previous batch committed (up
// to MaxBatch), and answers each request after its batch committed. A lone
// request waits for no one; under load one commit settles hundreds, whatever
// shards they touch (ADR 0003, ADR 0030).
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/problem"
)

var (
	batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "wallet_groupcommit_batch_size",
		Help:    "Operations per group-commit transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	refused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "wallet_groupcommit_refused_total",
		Help: "Requests refused with 503 because their server's queue was full.",
	})
)

// Applier applies a batch of operations, each on its shard (Op.Shard), in
// one transaction on server (mysql.Store.Apply). An error means nothing was
// applied.
type Applier interface {
	Apply(ctx context.Context, server int, ops []account.Op) ([]account.Result, error)
}

// Config tunes the writers. Both fields are required: their defaults are
// account.max_batch and account.queue_depth in pkg/config.
type Config struct {
	// MaxBatch bounds the operations in one transaction.
	MaxBatch int
	// QueueDepth bounds the operations waiting per server; requests beyond
	// it are refused at once (503 with Retry-After) instead of piling up.
	QueueDepth int
	// ManyWait bounds how long TryMany waits for room in a full queue
	// before refusing the rest of its operations (503); 0 means manyWait.
	// Not a setting: tests shorten it.
	ManyWait time.Duration
}

// applyTimeout bounds one batch's transaction: far beyond a healthy
// commit, it only ends a batch stuck on a database that stopped answering.
const applyTimeout = 10 * time.Second

// manyWait is TryMany's default wait for room: the Retry-After a refusal
// would give.
const manyWait = time.Second

// ErrStopped answers operations offered after the writer closed.
var ErrStopped = problem.New(problem.Unavailable, "the service is shutting down; retry with the same transaction_id").WithRetryAfter(time.Second)

// errOverloaded answers requests refused because their server's queue is full.
var errOverloaded = problem.New(problem.Unavailable, "too many requests in flight; retry with the same transaction_id").WithRetryAfter(time.Second)

// Writer owns one queue and one writer goroutine per server.
type Writer struct {
	store    Applier
	cfg      Config
	route    Route
	onCommit func(ops []account.Op, res []account.Result)
	log      *slog.Logger

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool
	queues []chan *pending
	wg     sync.WaitGroup
}

type pending struct {
	ctx  context.Context
	op   account.Op
	done chan account.Result // Try and Do wait here
	many *many               // TryMany's: the result goes to many.res[at]
	at   int
}

// Route says which server holds each shard now: it may change while the
// writer runs (mysql.Store follows the placement), and Apply refuses what
// was routed by an old one.
type Route interface {
	Shards() int
	Servers() int
	Server(shard int) int
}

// Fixed is a placement that never changes: Fixed[shard] is its server.
type Fixed []int

// Shards is len(f).
func (f Fixed) Shards() int { return len(f) }

// Servers is the highest server number plus one.
func (f Fixed) Servers() int { return slices.Max(f) + 1 }

// Server is f[shard].
func (f Fixed) Server(shard int) int { return f[shard] }

// New starts a writer with a queue per server of route; Close stops it.
// onCommit, if set, runs after each batch commits (to wake the outbox
// relay, and requests waiting for a saga to end); it must not block.
func New(store Applier, route Route, cfg Config, onCommit func(ops []account.Op, res []account.Result), log *slog.Logger) (*Writer, error) {
	if store == nil || route == nil || log == nil || route.Shards() < 1 || route.Servers() < 1 {
		return nil, errors.New("groupcommit: store, route, logger and at least one shard and server are required")
	}
	if cfg.MaxBatch < 1 || cfg.QueueDepth < 1 {
		return nil, fmt.Errorf("groupcommit: MaxBatch (%d) and QueueDepth (%d) must be positive", cfg.MaxBatch, cfg.QueueDepth)
	}
	n := route.Servers()
	w := &Writer{store: store, cfg: cfg, route: route, onCommit: onCommit, log: log}
	for srv := range n {
		q := make(chan *pending, cfg.QueueDepth)
		w.queues = append(w.queues, q)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.loop(srv, q)
		}()
	}
	return w, nil
}

// Close refuses new operations, applies the ones already queued and waits
// for the last batch to commit.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, q := range w.queues {
			close(q)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// offer queues p for shard's server unless the writer is closed or that
// queue is full.
func (w *Writer) offer(shard int, p *pending) (queued bool, err error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false, ErrStopped
	}
	if shard < 0 || shard >= w.route.Shards() {
		return false, fmt.Errorf("%w: there is no shard %d", account.ErrMisrouted, shard)
	}
	p.op.Shard = shard
	select {
	case w.queues[w.route.Server(shard)] <- p:
		return true, nil
	default:
		return false, nil
	}
}

// Try queues op on shard and waits for its result; when its server's queue
// is full it refuses at once with 503 unavailable. For requests.
func (w *Writer) Try(ctx context.Context, shard int, op account.Op) account.Result {
	p := &pending{ctx: ctx, op: op, done: make(chan account.Result, 1)}
	queued, err := w.offer(shard, p)
	if err != nil {
		return account.Result{Err: err}
	}
	if !queued {
		refused.Inc()
		return account.Result{Err: errOverloaded}
	}
	return <-p.done
}

// Do queues ops on shard, waiting for room in its queue, and returns their
// results in order. For consumers, which hold back their stream instead of
// refusing. A queued operation is always answered by its batch, even if ctx
// ends meanwhile, so nothing is left half known.
func (w *Writer) Do(ctx context.Context, shard int, ops []account.Op) []account.Result {
	out := make([]account.Result, len(ops))
	ps := make([]*pending, 0, len(ops))
	var err error
	for _, op := range ops {
		p := &pending{ctx: ctx, op: op, done: make(chan account.Result, 1)}
		for err == nil {
			var queued bool
			if queued, err = w.offer(shard, p); queued {
				break
			}
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(time.Millisecond): // the queue is full: wait for room
			}
		}
		if err != nil {
			break
		}
		ps = append(ps, p)
	}
	for i := range out {
		if i < len(ps) {
			out[i] = <-ps[i].done
		} else {
			out[i].Err = err
		}
	}
	return out
}

// loop takes the first waiting operation, then whatever else is already
// queued up to MaxBatch, applies them as one batch, and starts over; it
// ends when the queue is closed and empty.
func (w *Writer) loop(srv int, q chan *pending) {
	batch := make([]*pending, 0, w.cfg.MaxBatch)
	for p := range q {
		batch = append(batch[:0], p)
	gather:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case p, ok := <-q:
				if !ok {
					break gather
				}
				batch = append(batch, p)
			default:
				break gather
			}
		}
		w.run(srv, batch)
	}
}

// run applies one batch on server srv and answers its requests. Requests
// whose caller gave up before the batch started are answered without
// running: nothing was done for them, so a retry is judged afresh. If the
// batch fails as a whole, each shard's operations run again on their own,
// and then one by one, so one operation that can never apply fails alone
// instead of taking its batch, or other shards, with it.
func (w *Writer) run(srv int, batch []*pending) {
	live := batch[:0:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.answer(account.Result{Err: err})
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	batchSize.Observe(float64(len(live)))
	res, err := w.apply(srv, live)
	if err != nil && len(live) == 1 && database.Permanent(err) {
		// The database refuses this operation's data, and would every time:
		// the domain says what to run instead, if anything.
		if next, ok := live[0].op.OnDataRefused(); ok {
			w.log.Error("operation refused by the database, running its replacement", "shard", live[0].op.Shard,
				"transaction_id", live[0].op.Event.Transfer.TransactionID, "err", err)
			live[0].op = next
			w.run(srv, live)
			return
		}
	}
	if err != nil && len(live) > 1 && aloneMayHelp(err) {
		// The failed batch applied nothing for any of them.
		if groups := byShard(live); len(groups) > 1 {
			w.log.Warn("batch failed, applying each shard's operations on their own", "server", srv, "size", len(live), "err", err)
			for _, g := range groups {
				w.run(srv, g)
			}
			return
		}
		w.log.Warn("batch failed, applying its operations one by one", "shard", live[0].op.Shard, "size", len(live), "err", err)
		for _, p := range live {
			w.run(srv, []*pending{p})
		}
		return
	}
	for i, p := range live {
		if err != nil {
			p.answer(account.Result{Err: err})
			continue
		}
		p.answer(res[i])
	}
}

// byShard splits a batch by shard, keeping each shard's operations in order.
func byShard(ps []*pending) [][]*pending {
	var groups [][]*pending
	at := map[int]int{}
	for _, p := range ps {
		i, ok := at[p.op.Shard]
		if !ok {
			i = len(groups)
			at[p.op.Shard] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], p)
	}
	return groups
}

// aloneMayHelp reports whether running a failed batch's operations one by
// one could let some of them through: not when the database is slow or
// unreachable, which would only repeat the failure once per operation.
func aloneMayHelp(err error) bool {
	return !database.Unavailable(err) && !errors.Is(err, context.Canceled)
}

func (w *Writer) apply(srv int, ps []*pending) (_ []account.Result, err error) {
	defer func() {
		// A bug in deciding or saving one batch must fail that batch, not
		// the process (and with it every server's requests).
		if p := recover(); p != nil {
			w.log.Error("group commit panicked", "server", srv, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("group commit: panic: %v", p)
		}
	}()
	ops := make([]account.Op, len(ps))
	for i, p := range ps {
		ops[i] = p.op
	}
	// The batch's own time limit, not a caller's: one caller leaving must
	// not cut off the others' transaction.
	actx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	res, err := w.store.Apply(actx, srv, ops)
	if err != nil {
		return nil, fmt.Errorf("group commit: %w", err)
	}
	if len(res) != len(ops) {
		return nil, fmt.Errorf("group commit: %d results for %d operations", len(res), len(ops))
	}
	if w.onCommit != nil {
		w.onCommit(ops, res)
	}
	return res, nil
}
