package tick_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/tick"
)

func TestEveryRunsRepeatedlyUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick.Every(ctx, time.Millisecond, func(context.Context) {
			if calls.Add(1) == 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return within 10s of its context ending")
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("f ran %d times, want 3 (it must not run once ctx has ended)", n)
	}
}

func TestEveryWaitsOnePeriodBeforeTheFirstCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	called := false
	tick.Every(ctx, time.Hour, func(context.Context) { called = true })
	if called {
		t.Fatal("f ran before its first period passed")
	}
}

func TestEveryReturnsAtOnceOnAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tick.Every(ctx, time.Nanosecond, func(context.Context) { t.Error("f ran on an ended context") })
}

func TestEveryDoesNotOverlapCalls(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var running, overlaps, calls atomic.Int32
	tick.Every(ctx, time.Microsecond, func(context.Context) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(2 * time.Millisecond) // longer than d
		running.Add(-1)
		if calls.Add(1) == 5 {
			cancel()
		}
	})
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d calls overlapped", n)
	}
}
