package stream_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// The lag collector reports what a durable consumer has not been delivered
// yet and what it holds unacknowledged.
func TestLagReportsBacklog(t *testing.T) {
	js := mustJetStream(t)
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream.Name, jetstream.ConsumerConfig{Durable: "lagging", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		publish(t, js, id)
	}
	lag := stream.NewLag(js, "lagging", "missing")
	if p, a := testenv.Gauge(t, lag, "wallet_consumer_pending_messages"), testenv.Gauge(t, lag, "wallet_consumer_ack_pending_messages"); p != 3 || a != 0 {
		t.Fatalf("before a fetch: pending %v, ack pending %v; want 3, 0", p, a)
	}
	batch, err := cons.Fetch(2)
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}
	if p, a := testenv.Gauge(t, lag, "wallet_consumer_pending_messages"), testenv.Gauge(t, lag, "wallet_consumer_ack_pending_messages"); p != 1 || a != 2 {
		t.Fatalf("after fetching two: pending %v, ack pending %v; want 1, 2", p, a)
	}
}
