//go:build wallet_bug_no_msg_id

package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/outbox"
)

// In a wallet_bug_no_msg_id build a relay that dies after JetStream
// acknowledged its rows and before it marked them leaves its successor to
// publish them again, and the stream keeps both copies.
func TestBugNoMsgIDDuplicatesRepublishedRows(t *testing.T) {
	f := mustFixture(t)
	f.append(t, 5)
	cfg := outbox.RelayConfig{BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second}
	crashing := cfg
	crashing.BeforeMark = func() { panic("crash before mark") }
	func() {
		defer func() { _ = recover() }()
		_, _ = newRelay(t, f, crashing).RelayOnce(context.Background(), 0)
	}()
	if n, err := newRelay(t, f, cfg).RelayOnce(context.Background(), 0); err != nil || n != 5 {
		t.Fatalf("second relay marked %d, err %v", n, err)
	}
	if got := f.count(t); got != 10 {
		t.Fatalf("stream holds %d messages, want the 5 rows twice", got)
	}
	m, err := f.stream.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get("Nats-Msg-Id"); id != "" {
		t.Fatalf("first message has Nats-Msg-Id %q, want none", id)
	}
}
