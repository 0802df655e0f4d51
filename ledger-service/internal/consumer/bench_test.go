package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/testenv"
)

// Events per second from the stream into the ledger: b.N deposits wait in
// the stream, then the consumer starts and applies them all. Run with
//
//	go test -run '^$' -bench Consume -benchtime 20000x ./ledger-service/internal/consumer/
func BenchmarkConsume(b *testing.B) {
	store, _ := ledgertest.MustStore(b)
	js := mustJetStream(b)
	for i := range b.N {
		e := ledgertest.Deposited(fmt.Sprintf("acct-%d", i%100), "1.00", "USD")
		if _, err := js.PublishMsgAsync(e.Msg()); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := New(js, store, func(context.Context, jetstream.Msg, error) error { return nil }, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	b.ResetTimer()
	go func() { done <- c.Run(ctx) }()
	testenv.Eventually(b, time.Minute, 5*time.Millisecond, func() error { return drained(js) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
