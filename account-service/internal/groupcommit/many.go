package groupcommit

import (
	"context"
	"sync"
	"time"

	"github.com/walletco/wallet/account-service/internal/account"
)

// many is one TryMany call: its results by position, and how many of them
// are still to come.
type many struct {
	res []account.Result
	wg  sync.WaitGroup
}

// TryMany queues ops, ops[i] on shards[i], all of them before waiting for
// any, and returns their results in order: a bulk request offers its
// operations to the writers at once, so they share batches instead of each
// paying a round trip. A bulk request may hold more than a queue, so a full
// queue is waited on, up to ManyWait from the start; what still finds no
// room is refused with 503 unavailable, as Try refuses. A queued operation
// is always answered by its batch.
func (w *Writer) TryMany(ctx context.Context, shards []int, ops []account.Op) []account.Result {
	m := &many{res: make([]account.Result, len(ops))}
	ps := make([]pending, len(ops)) // one allocation for the lot
	m.wg.Add(len(ops))
	wait := w.cfg.ManyWait
	if wait <= 0 {
		wait = manyWait
	}
	deadline := time.Now().Add(wait)
	for i := range ops {
		p := &ps[i]
		*p = pending{ctx: ctx, op: ops[i], many: m, at: i}
		if err := w.offerUntil(ctx, shards[i], p, deadline); err != nil {
			p.answer(account.Result{Err: err})
		}
	}
	m.wg.Wait()
	return m.res
}

// offerUntil queues p on shard, waiting for room until deadline or the end
// of ctx.
func (w *Writer) offerUntil(ctx context.Context, shard int, p *pending, deadline time.Time) error {
	for {
		queued, err := w.offer(shard, p)
		if err != nil || queued {
			return err
		}
		if !time.Now().Before(deadline) {
			refused.Inc()
			return errOverloaded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond): // the queue is full: wait for room
		}
	}
}
