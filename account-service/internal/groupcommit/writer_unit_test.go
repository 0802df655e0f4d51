package groupcommit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/config"
)

// applyFunc adapts a function to Applier, for the writer's own logic.
type applyFunc func(ctx context.Context, shard int, ops []account.Op) ([]account.Result, error)

func (f applyFunc) Apply(ctx context.Context, shard int, ops []account.Op) ([]account.Result, error) {
	return f(ctx, shard, ops)
}

// mustWriter is a writer with account-service's configured defaults.
func mustWriter(t *testing.T, a Applier) *Writer {
	t.Helper()
	d := config.Defaults[config.AccountService]().Account
	w, err := New(a, Fixed{0}, Config{MaxBatch: d.MaxBatch, QueueDepth: d.QueueDepth}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// The writer has no defaults of its own: a zero batch or queue size is
// refused, not replaced.
func TestNewRequiresBatchAndQueueSizes(t *testing.T) {
	none := applyFunc(func(context.Context, int, []account.Op) ([]account.Result, error) { return nil, nil })
	for _, cfg := range []Config{{}, {MaxBatch: 1}, {QueueDepth: 1}} {
		if w, err := New(none, Fixed{0}, cfg, nil, slog.New(slog.DiscardHandler)); err == nil {
			w.Close()
			t.Errorf("New(%+v) = nil error, want a refusal", cfg)
		}
	}
}

func move(txID string) account.Op {
	return account.Op{Kind: account.OpMove, Movement: account.MovementRequest{TransactionID: txID}}
}

// A panic while applying a batch fails that batch, not the process; the
// writer goes on with the next one.
func TestWriterSurvivesAPanic(t *testing.T) {
	w := mustWriter(t, applyFunc(func(_ context.Context, _ int, ops []account.Op) ([]account.Result, error) {
		if ops[0].Movement.TransactionID == "boom" {
			panic("bug")
		}
		return make([]account.Result, len(ops)), nil
	}))
	if r := w.Try(context.Background(), 0, move("boom")); r.Err == nil {
		t.Fatal("a panicking batch answered success")
	}
	if r := w.Try(context.Background(), 0, move("ok")); r.Err != nil {
		t.Fatalf("the next batch: %v", r.Err)
	}
}

func TestAloneMayHelp(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("Error 1264: Out of range value"), true},
		{context.DeadlineExceeded, false},
		{errors.Join(errors.New("lock accounts"), context.Canceled), false},
	}
	for _, tt := range tests {
		if got := aloneMayHelp(tt.err); got != tt.want {
			t.Errorf("aloneMayHelp(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestOfferRefusesUnknownShards(t *testing.T) {
	w := mustWriter(t, applyFunc(func(_ context.Context, _ int, ops []account.Op) ([]account.Result, error) {
		return make([]account.Result, len(ops)), nil
	}))
	for _, sh := range []int{-1, 1, 9} {
		if r := w.Try(context.Background(), sh, move("x")); !errors.Is(r.Err, account.ErrMisrouted) {
			t.Errorf("shard %d: %v, want misrouted", sh, r.Err)
		}
	}
}

// A batch that fails as a whole runs again shard by shard, then operation
// by operation: only the operation that cannot apply fails, and the other
// shards' operations of the batch still commit.
func TestFailedBatchSplitsByShard(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	var calls [][]int // the shards of each Apply call, in order
	var mu sync.Mutex
	a := applyFunc(func(_ context.Context, _ int, ops []account.Op) ([]account.Result, error) {
		if ops[0].Movement.TransactionID == "gate" {
			close(started)
			<-release
		}
		shards := make([]int, len(ops))
		for i, op := range ops {
			shards[i] = op.Shard
		}
		mu.Lock()
		calls = append(calls, shards)
		mu.Unlock()
		for _, op := range ops {
			if op.Movement.TransactionID == "bad" {
				return nil, errors.New("Error 1264: Out of range value")
			}
		}
		return make([]account.Result, len(ops)), nil
	})
	w, err := New(a, Fixed{0, 0, 0}, Config{MaxBatch: 256, QueueDepth: 512}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	gate := make(chan account.Result, 1)
	go func() { gate <- w.Try(context.Background(), 0, move("gate")) }()
	<-started // the writer is busy: what comes next queues
	ops := []struct {
		shard int
		id    string
	}{{0, "a"}, {1, "bad"}, {1, "b"}, {2, "c"}}
	results := make(chan struct {
		id  string
		err error
	}, len(ops))
	for _, op := range ops {
		go func() {
			r := w.Try(context.Background(), op.shard, move(op.id))
			results <- struct {
				id  string
				err error
			}{op.id, r.Err}
		}()
	}
	for len(w.queues[0]) < len(ops) { // all queued behind the gate, so one batch takes them
		runtime.Gosched()
	}
	close(release)
	if r := <-gate; r.Err != nil {
		t.Fatal(r.Err)
	}
	for range ops {
		r := <-results
		if (r.err != nil) != (r.id == "bad") {
			t.Errorf("operation %s: %v", r.id, r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// gate, the whole batch (3 shards), then per shard: 0, 1 (fails: one by one), 2.
	if len(calls) < 3 || len(calls[1]) != 4 {
		t.Fatalf("apply calls %v, want the gate, then the four operations in one batch", calls)
	}
	var alone int
	for _, c := range calls[2:] {
		if len(c) == 1 {
			alone++
		}
	}
	if alone < 4 { // shard 0, shard 2, and shard 1's two operations one by one
		t.Errorf("apply calls %v, want each shard alone and then shard 1's operations one by one", calls)
	}
}
