package stream_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func mustJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := testenv.MustJetStream(t)
	if _, err := stream.Ensure(context.Background(), js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, id string) {
	t.Helper()
	e := events.Event{ID: id, Type: events.AccountDeposited, Source: "/test", Subject: "a",
		Topic: events.Topic(events.AccountDeposited, 0), Time: time.Now(), Data: []byte(`{}`)}
	if _, err := js.PublishMsg(context.Background(), e.Msg()); err != nil {
		t.Fatal(err)
	}
}

// A transient failure is retried with back-off until it succeeds; a message
// that cannot be decoded is terminated, handed to the poison handler and
// does not hold back the message behind it.
func TestConsumeRetriesTransientAndTerminatesPoison(t *testing.T) {
	js := mustJetStream(t)
	var mu sync.Mutex
	attempts := map[string]int{}
	var handled []string
	poisoned := make(chan string, 1)
	h := func(_ context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.ID]++
		if e.ID == "flaky" && attempts[e.ID] < 3 {
			return errors.New("database down")
		}
		handled = append(handled, e.ID)
		return nil
	}
	poison := func(_ context.Context, m jetstream.Msg, err error) error { poisoned <- m.Subject(); return nil }

	publish(t, js, "flaky")
	if _, err := js.Publish(context.Background(), "wallet.account.deposited.0", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "after-poison")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 10}
	go func() {
		done <- stream.Consume(ctx, js, cfg, h, stream.Options{Poison: poison}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	select {
	case subj := <-poisoned:
		if subj != "wallet.account.deposited.0" {
			t.Fatalf("poisoned %s", subj)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the garbage message was never terminated")
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) != 2 || attempts["flaky"] != 3 || attempts["after-poison"] != 1 {
			return errors.New("waiting: handled " + strings.Join(handled, " "))
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Everything settled: nothing left to redeliver.
	c, err := js.Consumer(context.Background(), stream.Name, "test")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := c.Info(context.Background())
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer still holds %d unacked, %d pending", info.NumAckPending, info.NumPending)
	}
}

// InOrder retries a failing message in place: the one behind it waits.
func TestConsumeInOrderHoldsBackLaterMessages(t *testing.T) {
	js := mustJetStream(t)
	var mu sync.Mutex
	var handled []string
	failures := 2
	h := func(_ context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if e.ID == "first" && failures > 0 {
			failures--
			return errors.New("database down")
		}
		handled = append(handled, e.ID)
		return nil
	}
	publish(t, js, "first")
	publish(t, js, "second")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := jetstream.ConsumerConfig{Durable: "ordered", AckPolicy: jetstream.AckExplicitPolicy}
	go func() {
		_ = stream.Consume(ctx, js, cfg, h, stream.Options{InOrder: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) < 2 {
			return errors.New("waiting")
		}
		return nil
	})
	if handled[0] != "first" || handled[1] != "second" {
		t.Fatalf("handled %v, want first before second", handled)
	}
}
