package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// poisonFixture is a fixture on a server that takes payloads of at most
// 4 KiB.
func poisonFixture(t *testing.T) fixture {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), db, outbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	js := testenv.MustJetStreamWith(t, func(o *server.Options) { o.MaxPayload = 4096 })
	s, err := stream.EnsurePartitions(context.Background(), js, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, js: js, stream: s[0], admin: js}
}

// appendOne inserts one event on topic with data and returns its id.
func (f fixture) appendOne(t *testing.T, topic, data string) string {
	t.Helper()
	e := events.Event{ID: uuid.NewString(), Type: events.AccountDeposited, Source: "/test", Subject: "acc",
		Topic: topic, Time: time.Now(), Data: []byte(data)}
	err := database.InTx(context.Background(), f.db, func(tx *sqlx.Tx) error {
		return outbox.Writer{}.Append(context.Background(), tx, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// A row that can never be published (larger than the server's max payload,
// or on a topic no partition's subjects can carry) is tried MaxAttempts times, set aside with
// its error, and the rows behind it are published in id order.
func TestRelaySetsPoisonRowsAside(t *testing.T) {
	for name, poison := range map[string]struct{ topic, data, err string }{
		"too large":       {events.Topic(events.AccountDeposited, 0), `{"pad":"` + strings.Repeat("x", 8000) + `"}`, "maximum payload"},
		"topic malformed": {"elsewhere.account.deposited.0", `{}`, "malformed event"},
	} {
		t.Run(name, func(t *testing.T) {
			f := poisonFixture(t)
			topic := events.Topic(events.AccountDeposited, 0)
			want := []string{f.appendOne(t, topic, `{"n":1}`)}
			bad := f.appendOne(t, poison.topic, poison.data)
			for i := range 4 {
				want = append(want, f.appendOne(t, topic, fmt.Sprintf(`{"n":%d}`, i+2)))
			}
			r := newRelay(t, f, outbox.RelayConfig{BatchSize: 100, MaxInFlight: 2, PollInterval: time.Millisecond,
				Owner: "t", LeaseTTL: time.Second, MaxAttempts: 3})
			before := testutil.ToFloat64(outbox.SetAside0)
			// Each pass is one attempt; the third sets the row aside. (Rows
			// behind it in its chunk may reach the stream meanwhile, in
			// order; their re-publishing is dropped as a duplicate.)
			for attempt := 1; attempt <= 3; attempt++ {
				_, err := r.RelayOnce(context.Background(), 0)
				if attempt < 3 && err == nil {
					t.Fatalf("attempt %d: no error for the poison row", attempt)
				}
				if attempt == 3 && err != nil {
					t.Fatalf("attempt 3: %v, want the row set aside", err)
				}
			}
			if n, err := r.RelayOnce(context.Background(), 0); err != nil || n != 4 {
				t.Fatalf("after setting aside: marked %d, err %v; want the 4 rows behind it", n, err)
			}
			if got := f.count(t); got != uint64(len(want)) {
				t.Fatalf("stream holds %d, want %d", got, len(want))
			}
			for i, id := range want {
				msg, err := f.stream.GetMsg(context.Background(), uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				if msg.Header.Get("ce-id") != id {
					t.Fatalf("stream message %d is %s, want %s (outbox order without the poison row)", i+1, msg.Header.Get("ce-id"), id)
				}
			}
			var row struct {
				Attempts  int     `db:"attempts"`
				LastError *string `db:"last_error"`
				SetAside  bool    `db:"set_aside"`
				Published bool    `db:"published"`
			}
			if err := f.db.Get(&row, `SELECT attempts, last_error, set_aside_at IS NOT NULL AS set_aside,
				published_at IS NOT NULL AS published FROM outbox WHERE event_id = ?`, bad); err != nil {
				t.Fatal(err)
			}
			if row.Attempts != 3 || !row.SetAside || row.Published || row.LastError == nil || !strings.Contains(*row.LastError, poison.err) {
				t.Fatalf("poison row = %+v (error %v), want 3 attempts, set aside, unpublished, error containing %q", row, deref(row.LastError), poison.err)
			}
			if got := testutil.ToFloat64(outbox.SetAside0) - before; got != 1 {
				t.Fatalf("wallet_outbox_set_aside_total rose by %v, want 1", got)
			}
			if n, err := r.RelayOnce(context.Background(), 0); err != nil || n != 0 || f.count(t) != 5 {
				t.Fatalf("a further pass marked %d (err %v), stream holds %d: the set-aside row must stay aside", n, err, f.count(t))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// When the stream itself is gone (NATS lost its state), no row is set
// aside: the relay declares the stream again and publishes them all.
func TestRelayRedeclaresAMissingStream(t *testing.T) {
	f := mustFixture(t)
	ids := f.append(t, 3)
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, stream.PartitionName(0)); err != nil {
		t.Fatal(err)
	}
	redeclared := 0
	r := newRelay(t, f, outbox.RelayConfig{BatchSize: 100, MaxInFlight: 10, PollInterval: time.Millisecond,
		Owner: "t", LeaseTTL: time.Second, MaxAttempts: 1, PublishTimeout: 2 * time.Second,
		Redeclare: func(ctx context.Context) error {
			redeclared++
			_, err := stream.EnsurePartitions(ctx, f.js, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: time.Hour})
			return err
		}})
	var marked int
	for range 5 {
		n, _ := r.RelayOnce(ctx, 0)
		if marked += n; marked == len(ids) {
			break
		}
	}
	var setAside int
	if err := f.db.Get(&setAside, "SELECT COUNT(*) FROM outbox WHERE set_aside_at IS NOT NULL"); err != nil {
		t.Fatal(err)
	}
	s, err := f.js.Stream(ctx, stream.PartitionName(0))
	if err != nil {
		t.Fatalf("stream not declared again: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if redeclared == 0 || setAside != 0 || marked != len(ids) || info.State.Msgs != uint64(len(ids)) {
		t.Fatalf("redeclared %d times, %d rows set aside, %d marked, stream holds %d; want the stream back with all %d rows",
			redeclared, setAside, marked, info.State.Msgs, len(ids))
	}
}
