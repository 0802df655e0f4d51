package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
)

// BenchmarkRelayBacklog measures rows/s relayed from a pre-filled outbox by
// the production loop (Run), from the first poll until no row is left
// unpublished: 500 rows without overlap was the default before, 1000 in
// chunks of 250 is the default now. Run it without the race detector, e.g.
//
//	go test -run '^$' -bench RelayBacklog -benchtime 1x ./pkg/outbox/
func BenchmarkRelayBacklog(b *testing.B) {
	for _, c := range []struct{ batch, inFlight int }{{500, 500}, {1000, 1000}, {1000, 250}} {
		b.Run(fmt.Sprintf("batch=%d/in_flight=%d", c.batch, c.inFlight), func(b *testing.B) { benchmarkBacklog(b, c.batch, c.inFlight) })
	}
}

func benchmarkBacklog(b *testing.B, batchSize, inFlight int) {
	const rows = 50_000
	f := mustFixture(b)
	for b.Loop() {
		b.StopTimer()
		mustFill(b, f.db, rows)
		b.StartTimer()
		start := time.Now()
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		r := newRelay(b, f, outbox.RelayConfig{BatchSize: batchSize, MaxInFlight: inFlight, PollInterval: 250 * time.Millisecond,
			Owner: "bench", LeaseTTL: 10 * time.Second})
		go func() { done <- r.Run(ctx) }()
		for unpublished(b, f.db) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		stop()
		<-done
		b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
	}
}

// mustFill inserts n rows in transactions of 1,000, as a busy shard would.
func mustFill(t testing.TB, db *sqlx.DB, n int) {
	t.Helper()
	ctx := context.Background()
	for done := 0; done < n; done += 1000 {
		evts := make([]events.Event, min(1000, n-done))
		for i := range evts {
			evts[i] = events.Event{ID: uuid.NewString(), Type: events.AccountDeposited, Source: "/bench", Subject: "acc",
				Topic: events.Topic(events.AccountDeposited, 0), Time: time.Now(),
				Data: []byte(fmt.Sprintf(`{"transaction_id":%q,"account_id":"acc","amount":"10.00","currency":"USD"}`, uuid.NewString()))}
		}
		err := database.InTx(ctx, db, func(tx *sqlx.Tx) error { return outbox.Writer{}.Append(ctx, tx, evts...) })
		if err != nil {
			t.Fatal(err)
		}
	}
}

func unpublished(t testing.TB, db *sqlx.DB) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkRelayWakeLatency measures, for one row at a time on an idle relay,
// the time from the writer's commit to the message reaching a subscriber,
// with and without the writer's wake-up (20ms was the poll interval before
// wake-ups).
func BenchmarkRelayWakeLatency(b *testing.B) {
	for _, c := range []struct {
		wake bool
		poll time.Duration
	}{{true, 250 * time.Millisecond}, {false, 250 * time.Millisecond}, {false, 20 * time.Millisecond}} {
		wake := c.wake
		b.Run(fmt.Sprintf("wake=%v/poll=%v", c.wake, c.poll), func(b *testing.B) {
			f := mustFixture(b)
			got := make(chan *nats.Msg, 1)
			sub, err := f.js.Conn().ChanSubscribe(events.StreamSubjects, got)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe() //nolint:errcheck
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			r := newRelay(b, f, outbox.RelayConfig{BatchSize: 1000, PollInterval: c.poll,
				Owner: "bench", LeaseTTL: 10 * time.Second})
			go func() { _ = r.Run(ctx) }()
			n := outbox.NewNotifier(f.js.Conn())
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				mustFill(b, f.db, 1)
				if wake {
					n.Committed(0)
				}
				<-got
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/row")
		})
	}
}
