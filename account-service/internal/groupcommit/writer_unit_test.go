package groupcommit

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	w, err := New(a, 1, Config{MaxBatch: d.MaxBatch, QueueDepth: d.QueueDepth}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
		if w, err := New(none, 1, cfg, nil, slog.New(slog.DiscardHandler)); err == nil {
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
