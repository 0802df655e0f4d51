package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// Deleting the durable consumer while it runs (an operator's mistake) ends
// its subscription; ConsumeBatch creates it again, Health says it was
// restarted and why, and events published afterwards are consumed.
func TestConsumerRecreatedAfterDelete(t *testing.T) {
	js := mustJetStream(t)
	var mu sync.Mutex
	var handled []string
	h := func(_ context.Context, evts []events.Event) []error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evts {
			handled = append(handled, e.ID)
		}
		return make([]error, len(evts))
	}
	seen := func(id string) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if !slices.Contains(handled, id) {
				return fmt.Errorf("%s not handled; handled %v", id, handled)
			}
			return nil
		}
	}
	health := stream.NewHealth()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := jetstream.ConsumerConfig{Durable: "doomed", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy}
	go func() {
		done <- stream.ConsumeBatch(ctx, js, cfg, h, stream.BatchOptions{Health: health}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	publish(t, js, "before")
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, seen("before"))
	if err := health.Err(); err != nil {
		t.Fatalf("running consumer reported unhealthy: %v", err)
	}

	if err := js.DeleteConsumer(context.Background(), stream.Name, "doomed"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		c := health.Report()["doomed"]
		if c.Restarts < 1 || c.State != stream.StateRunning {
			return fmt.Errorf("not restarted yet: %+v", c)
		}
		return nil
	})
	if c := health.Report()["doomed"]; c.LastError == "" {
		t.Errorf("no reason recorded for the restart: %+v", c)
	}
	if _, err := js.Consumer(context.Background(), stream.Name, "doomed"); err != nil {
		t.Fatalf("consumer not recreated: %v", err)
	}
	publish(t, js, "after")
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, seen("after"))
	if err := health.Err(); err != nil {
		t.Errorf("recreated consumer reported unhealthy: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := health.Report()["doomed"]; c.State != stream.StateStopped {
		t.Errorf("after shutdown: %+v", c)
	}
}
