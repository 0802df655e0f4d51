package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/stream"
)

// Unsettled is the stored time of the first message after the consumer's
// ack floor while any message is unacknowledged or undelivered, and zero
// once every message is acknowledged.
func TestUnsettledFollowsTheAckFloor(t *testing.T) {
	ctx := context.Background()
	js := mustJetStream(t)
	for _, id := range []string{"e1", "e2", "e3"} {
		publish(t, js, id)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, stream.Name, jetstream.ConsumerConfig{Durable: "u", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	stored := func(seq uint64) time.Time {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return m.Time
	}
	want := func(w time.Time) {
		t.Helper()
		got, err := stream.Unsettled(ctx, js, "u")
		if err != nil || !got.Equal(w) {
			t.Fatalf("Unsettled = %v, %v; want %v", got, err, w)
		}
	}
	want(stored(1)) // nothing delivered yet
	batch, err := c.Fetch(3)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 3 {
		t.Fatalf("fetched %d messages", len(msgs))
	}
	want(stored(1)) // delivered, none acknowledged
	// The second acknowledged first: the floor stays below the first.
	if err := msgs[1].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	want(stored(1))
	if err := msgs[0].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	want(stored(3))
	if err := msgs[2].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	want(time.Time{})
	if _, err := stream.Unsettled(ctx, js, "missing"); err == nil {
		t.Fatal("Unsettled of a missing consumer must fail: its rows may still be needed")
	}
}
