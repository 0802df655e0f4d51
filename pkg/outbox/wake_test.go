package outbox_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/testenv"
)

// With an hour-long poll interval, only the wake-up can make the relay see
// a row committed while it idles.
func TestRelayWakeUpEndsIdleWait(t *testing.T) {
	f := mustFixture(t)
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: time.Hour, Owner: "t", LeaseTTL: 10 * time.Second}))
	// The relay takes the lease, polls the empty outbox and idles. Should the
	// row below commit before that poll, the test passes without proving
	// anything; it cannot fail falsely.
	f.waitHolder(t, "shard0", "t")
	time.Sleep(100 * time.Millisecond)

	f.append(t, 1)
	outbox.NewNotifier(f.js.Conn()).Committed(0)
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := unpublished(t, f.db); n != 0 || f.count(t) != 1 {
			return fmt.Errorf("%d rows unpublished, stream holds %d", n, f.count(t))
		}
		return nil
	})
}

func TestWakeSubjectIsNotStored(t *testing.T) {
	s := outbox.WakeSubject(3)
	if s != "outbox.committed.3" || strings.HasPrefix(s, strings.TrimSuffix(events.StreamSubjects, ">")) {
		t.Fatalf("WakeSubject(3) = %q: it must lie outside the stream's %s", s, events.StreamSubjects)
	}
}

// mustCount subscribes to shard's wake-ups and counts them.
func mustCount(t *testing.T, nc *nats.Conn, shard int) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	sub, err := nc.Subscribe(outbox.WakeSubject(shard), func(*nats.Msg) { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestNotifierCoalescesBursts(t *testing.T) {
	f := mustFixture(t)
	nc := f.js.Conn()
	got := mustCount(t, nc, 7)
	other := mustCount(t, nc, 8)
	n := outbox.NewNotifier(nc)
	const calls = 10_000
	for range calls {
		n.Committed(7)
	}
	testenv.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got.Load() == 0 {
			return fmt.Errorf("no wake-up received")
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // let the burst's last wake-up arrive
	if got.Load() >= calls/10 || other.Load() != 0 {
		t.Fatalf("%d commits sent %d wake-ups on shard 7 and %d on shard 8; want a few, all on 7", calls, got.Load(), other.Load())
	}
}

// A commit that comes while a wake-up was just sent, inside the quiet
// spell, is announced by a later one.
func TestNotifierAnnouncesEveryCommit(t *testing.T) {
	f := mustFixture(t)
	nc := f.js.Conn()
	got := mustCount(t, nc, 2)
	n := outbox.NewNotifier(nc)
	for i := range int64(20) {
		n.Committed(2)
		testenv.Eventually(t, 5*time.Second, time.Millisecond, func() error {
			if got.Load() <= i {
				return fmt.Errorf("commit %d not announced", i+1)
			}
			return nil
		})
	}
	var nilNotifier *outbox.Notifier
	nilNotifier.Committed(2) // does nothing, does not panic
}
