package deadletter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// A poison message whose dead letter cannot be recorded (the database
// connection is closed) is not terminated: it is nak'd with a delay,
// counted, and delivered again until the record succeeds; only then is it
// terminated, recorded once.
func TestPoisonIsKeptUntilItsDeadLetterIsRecorded(t *testing.T) {
	db, js, _ := setup(t)
	broken, err := sqlx.Open("mysql", "wallet:wallet@tcp(127.0.0.1:1)/none")
	if err != nil {
		t.Fatal(err)
	}
	broken.Close() // every statement now fails: "sql: database is closed"
	var target atomic.Pointer[sqlx.DB]
	target.Store(broken)
	const durable = "poison-unrecorded"
	poison := func(ctx context.Context, m jetstream.Msg, cause error) error {
		return deadletter.Handler(target.Load(), durable)(ctx, m, cause)
	}
	unrecorded := stream.Messages.WithLabelValues(stream.ConsumerLabel(stream.PartitionName(1), durable), "poison_unrecorded")
	before := testutil.ToFloat64(unrecorded)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cfg := jetstream.ConsumerConfig{Durable: durable, FilterSubject: "wallet.1.account.deposited.0", AckPolicy: jetstream.AckExplicitPolicy}
		done <- stream.Consume(ctx, js, cfg, func(context.Context, events.Event) error { return nil },
			stream.Options{Poison: poison, Stream: stream.PartitionName(1)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
	if _, err := js.Publish(ctx, "wallet.1.account.deposited.0", []byte("garbage")); err != nil { // no CloudEvents headers: undecodable
		t.Fatal(err)
	}
	// Delivered, not recorded, nak'd, delivered again.
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := testutil.ToFloat64(unrecorded) - before; n < 2 {
			return fmt.Errorf("%v unrecorded deliveries, want 2", n)
		}
		return nil
	})
	if n := deadLetters(t, db, durable); n != 0 {
		t.Fatalf("%d dead letters recorded through a closed connection", n)
	}
	target.Store(db) // the database is back
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := deadLetters(t, db, durable); n != 1 {
			return fmt.Errorf("%d dead letters, want 1", n)
		}
		info, err := js.Consumer(ctx, stream.PartitionName(1), durable)
		if err != nil {
			return err
		}
		if st := info.CachedInfo(); st.NumAckPending != 0 || st.NumPending != 0 {
			return fmt.Errorf("pending %d, awaiting ack %d: not terminated", st.NumPending, st.NumAckPending)
		}
		return nil
	})
}

func deadLetters(t *testing.T, db *sqlx.DB, consumer string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM dead_letters WHERE consumer = ?", consumer); err != nil {
		t.Fatal(err)
	}
	return n
}
