package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/testenv"
)

// outboxIDs returns the event ids of every outbox row in id order.
func (f fixture) outboxIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	if err := f.db.Select(&ids, "SELECT event_id FROM outbox ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	return ids
}

// streamIDs returns the ce-id of every message in the stream, in stream order.
func (f fixture) streamIDs(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	total := f.count(t)
	cons, err := f.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for uint64(len(ids)) < total {
		// No more than are left: a fetch of more waits out its MaxWait.
		batch, err := cons.Fetch(int(min(total-uint64(len(ids)), 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			ids = append(ids, msg.Headers().Get("ce-id"))
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// run starts r.Run and stops it when the test ends.
func run(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

func (f fixture) waitAllPublished(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := unpublished(t, f.db); n != 0 {
			return fmt.Errorf("%d rows unpublished", n)
		}
		return nil
	})
}

// A backlog much larger than a batch goes out in many batches and chunks,
// each row exactly once and in id order.
func TestRelayLargeBacklogOnceInOrder(t *testing.T) {
	f := mustFixture(t)
	mustFill(t, f.db, 10_000) // ten transactions of 1,000
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 700, MaxInFlight: 64, PollInterval: 10 * time.Millisecond,
		Owner: "t", LeaseTTL: 10 * time.Second}))
	f.waitAllPublished(t)
	want, got := f.outboxIDs(t), f.streamIDs(t)
	if len(want) != 10_000 || !slices.Equal(got, want) {
		t.Fatalf("stream holds %d messages for %d rows, or in another order than the outbox ids", len(got), len(want))
	}
}

// A row that commits late, with an id below rows already published, is still
// published while the relay is busy with a pipelined backlog.
func TestRelayPipelinedPublishesLateCommits(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	slow, err := f.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback() //nolint:errcheck // a no-op after Commit
	late := events.Event{ID: uuid.NewString(), Type: events.AccountOpened, Source: "/test", Subject: "late",
		Topic: events.Topic(events.AccountOpened, 0), Time: time.Now(), Data: []byte(`{}`)}
	if err := (outbox.Writer{}).Append(ctx, slow, late); err != nil {
		t.Fatal(err)
	}
	mustFill(t, f.db, 3000) // higher ids, committed first
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 500, MaxInFlight: 50, PollInterval: 10 * time.Millisecond,
		Owner: "t", LeaseTTL: 10 * time.Second}))
	testenv.Eventually(t, 30*time.Second, 5*time.Millisecond, func() error {
		if n := f.count(t); n == 0 {
			return fmt.Errorf("nothing published yet")
		}
		return nil
	})
	if err := slow.Commit(); err != nil { // most likely mid-backlog; any moment must work
		t.Fatal(err)
	}
	f.waitAllPublished(t)
	got := f.streamIDs(t)
	if len(got) != 3001 || !slices.Contains(got, late.ID) {
		t.Fatalf("stream holds %d messages, want 3001 including the late row %s", len(got), late.ID)
	}
	if got[0] == late.ID {
		t.Fatal("the late row went out before the rows committed ahead of it: the test did not commit it late")
	}
}

// A crash after some chunks of a batch were acknowledged, while an earlier
// chunk's mark may still run: the rows acknowledged but not marked are
// published again, and the stream keeps one copy of each in id order.
func TestRelayPipelinedCrashRepublishesOnce(t *testing.T) {
	f := mustFixture(t)
	mustFill(t, f.db, 1000)
	chunks := 0
	crash := newRelayBeforeMark(t, f, outbox.RelayConfig{BatchSize: 1000, MaxInFlight: 100, PollInterval: time.Millisecond,
		Owner: "t", LeaseTTL: time.Second}, func() {
		if chunks++; chunks == 5 {
			panic("crash before marking the fifth chunk")
		}
	})
	func() {
		defer func() { _ = recover() }()
		_, _ = crash.RelayOnce(context.Background(), 0)
	}()
	if n := f.count(t); n != 500 {
		t.Fatalf("stream holds %d after the crash, want the 5 acknowledged chunks (500)", n)
	}
	// Chunks 1-3 are marked, chunk 4's mark was running, chunk 5 is not.
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := unpublished(t, f.db); n != 600 {
			return fmt.Errorf("%d rows unpublished, want 600 once the running mark ended", n)
		}
		return nil
	})
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 1000, MaxInFlight: 100, PollInterval: time.Millisecond,
		Owner: "t", LeaseTTL: time.Second}))
	f.waitAllPublished(t)
	if want, got := f.outboxIDs(t), f.streamIDs(t); !slices.Equal(got, want) {
		t.Fatalf("stream holds %d messages for %d rows, or out of id order: a re-publish got through", len(got), len(want))
	}
}
