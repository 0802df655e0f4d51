package groupcommit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

// echo answers each operation with its own transaction id, and records
// which operations each batch held.
type echo struct {
	mu      sync.Mutex
	batches [][]string
}

func (e *echo) Apply(_ context.Context, _ int, ops []account.Op) ([]account.Result, error) {
	res := make([]account.Result, len(ops))
	var ids []string
	for i, op := range ops {
		ids = append(ids, op.Movement.TransactionID)
		res[i].Movement.TransactionID = op.Movement.TransactionID
	}
	e.mu.Lock()
	e.batches = append(e.batches, ids)
	e.mu.Unlock()
	return res, nil
}

func manyOps(n, shards int) ([]int, []account.Op) {
	sh := make([]int, n)
	ops := make([]account.Op, n)
	for i := range ops {
		sh[i] = i % shards
		ops[i] = move(fmt.Sprint(i))
	}
	return sh, ops
}

// TryMany answers every operation in the order given, across shards, and
// shares batches: a bulk larger than the queue waits for room instead of
// being refused.
func TestTryManyAnswersInOrder(t *testing.T) {
	e := &echo{}
	w, err := New(e, Fixed{0, 1, 2}, Config{QueueDepth: 4, MaxBatch: 8}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	sh, ops := manyOps(100, 3)
	res := w.TryMany(context.Background(), sh, ops)
	for i, r := range res {
		if r.Err != nil || r.Movement.TransactionID != fmt.Sprint(i) {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	total := 0
	for _, b := range e.batches {
		total += len(b)
	}
	if total != 100 || len(e.batches) >= 100 {
		t.Fatalf("%d operations in %d batches: want 100 sharing batches", total, len(e.batches))
	}
}

// held is an Applier that holds each batch until released, telling when
// it started one.
type held struct {
	echo
	started chan struct{}
	release chan struct{}
}

func (h *held) Apply(ctx context.Context, sh int, ops []account.Op) ([]account.Result, error) {
	h.started <- struct{}{}
	<-h.release
	return h.echo.Apply(ctx, sh, ops)
}

// When a queue stays full past ManyWait, what found no room is refused
// with 503 and a Retry-After, and what was queued is answered by its
// batch.
func TestTryManyRefusesWhenFull(t *testing.T) {
	h := &held{started: make(chan struct{}, 10), release: make(chan struct{})}
	w, err := New(h, Fixed{0}, Config{QueueDepth: 2, MaxBatch: 8, ManyWait: time.Millisecond}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	first := make(chan account.Result)
	go func() { first <- w.Try(context.Background(), 0, move("first")) }()
	<-h.started // the writer holds "first": nothing leaves the queue now

	done := make(chan []account.Result)
	sh, ops := manyOps(5, 1)
	before := testutil.ToFloat64(refused)
	go func() { done <- w.TryMany(context.Background(), sh, ops) }()
	testenv.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		if n := testutil.ToFloat64(refused) - before; n < 3 {
			return fmt.Errorf("%v refused so far, want 3", n)
		}
		return nil
	})
	select {
	case <-done:
		t.Fatal("TryMany answered before its queued operations' batch ran")
	default:
	}
	close(h.release)
	res := <-done
	if r := <-first; r.Err != nil {
		t.Fatalf("first: %v", r.Err)
	}
	for i, r := range res {
		if i < 2 {
			if r.Err != nil || r.Movement.TransactionID != fmt.Sprint(i) {
				t.Errorf("queued %d = %+v", i, r)
			}
			continue
		}
		if !problem.Is(r.Err, problem.Unavailable) || problem.RetryAfter(r.Err) != 1 {
			t.Errorf("unqueued %d = %v, want unavailable with Retry-After 1", i, r.Err)
		}
	}
}

// Operations offered after Close are refused, not left waiting.
func TestTryManyAfterClose(t *testing.T) {
	w := mustWriter(t, &echo{})
	w.Close()
	sh, ops := manyOps(3, 1)
	for i, r := range w.TryMany(context.Background(), sh, ops) {
		if r.Err != ErrStopped {
			t.Errorf("%d: %v, want ErrStopped", i, r.Err)
		}
	}
}
