package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func setup(t *testing.T) (*sqlx.DB, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), db, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	js := testenv.MustJetStream(t)
	s, err := stream.EnsurePartitions(context.Background(), js, stream.Config{Partitions: 2, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return db, js, s[1]
}

// The subject the tests' messages use: partition 1's, whose stream setup
// returns.
const (
	debited = "wallet.1.transfer.debited.0"
	opened  = "wallet.1.account.opened.0"
)

// A message a consumer keeps failing until JetStream drops it after
// MaxDeliver is recorded from the max-deliveries advisory, with the
// message's subject, headers and data fetched from the stream, in the
// database the consumer's owner picks for that message; it can then be
// replayed once, under a new Nats-Msg-Id and the same ce-id.
func TestAdvisoryBecomesDeadLetterAndReplaysOnce(t *testing.T) {
	db, js, s := setup(t)
	other := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), other, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const consumer = "saga"
	// The consumer takes several shards' messages; its owner picks the
	// database by the message (the saga: by its account).
	owner := func(m *jetstream.RawStreamMsg) database.DB {
		if m != nil && m.Subject == debited {
			return db
		}
		return other
	}
	// The advisory stream is outbox-relay provision's.
	if _, err := provision.Apply(ctx, js, []provision.Resource{provision.Advisories(provision.Settings{Stream: stream.Config{Replicas: 1, Partitions: 2}})},
		slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	watched := make(chan error, 1)
	go func() {
		watched <- deadletter.WatchAdvisories(ctx, js, "dead-letters-test", map[string]deadletter.Owner{consumer: owner},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, err := js.Consumer(ctx, deadletter.AdvisoryStream, "dead-letters-test")
		return err
	})
	// Each partition's stream has its own saga: the dead letter names it.
	label := stream.ConsumerLabel(stream.PartitionName(1), consumer)
	before := testutil.ToFloat64(deadletter.Recorded.WithLabelValues(label))

	cons, err := js.CreateOrUpdateConsumer(ctx, stream.PartitionName(1), jetstream.ConsumerConfig{Durable: consumer,
		FilterSubject: debited, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 2, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(debited)
	m.Header.Set("ce-id", "ev-1")
	m.Header.Set(nats.MsgIdHdr, "ev-1")
	m.Data = []byte(`{"amount":"5.00"}`)
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for delivery := 1; delivery <= 2; delivery++ {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			_ = msg.Nak()
		}
		if got != 1 {
			t.Fatalf("delivery %d: got %d messages", delivery, got)
		}
	}
	// The server drops the message (and advises so) when it would deliver
	// it a third time, i.e. on the next pull: a running consumer always
	// has one waiting.
	if batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond)); err == nil {
		for msg := range batch.Messages() {
			t.Fatalf("delivered again after MaxDeliver: %s", msg.Subject())
		}
	}

	var letters []deadletter.Letter
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		letters, err = deadletter.List(ctx, db, false)
		if err == nil && len(letters) != 1 {
			err = fmt.Errorf("%d dead letters, want 1", len(letters))
		}
		return err
	})
	if elsewhere, err := deadletter.List(ctx, other, true); err != nil || len(elsewhere) != 0 {
		t.Fatalf("the other database holds %d dead letters (%v), want none", len(elsewhere), err)
	}
	l := letters[0]
	if l.Consumer != label || l.Subject != debited || l.Data != `{"amount":"5.00"}` ||
		l.StreamSeq == nil || *l.StreamSeq != ack.Sequence || !strings.Contains(l.Reason, "MaxDeliver") ||
		!strings.Contains(l.Headers, "ev-1") || l.Status() != "open" {
		t.Fatalf("dead letter = %+v", l)
	}
	if got := testutil.ToFloat64(deadletter.Recorded.WithLabelValues(label)) - before; got != 1 {
		t.Fatalf("wallet_dead_letters_total rose by %v, want 1", got)
	}

	rack, err := deadletter.Replay(ctx, db, js, l.ID, "replay-test-1")
	if err != nil {
		t.Fatal(err)
	}
	if rack.Sequence <= ack.Sequence || rack.Duplicate {
		t.Fatalf("replay ack %+v: want a new stream message after %d", rack, ack.Sequence)
	}
	replayed, err := s.GetMsg(ctx, rack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Header.Get("ce-id") != "ev-1" || replayed.Header.Get(nats.MsgIdHdr) != "replay-test-1" || string(replayed.Data) != l.Data {
		t.Fatalf("replayed message %v %s", replayed.Header, replayed.Data)
	}
	if _, err := deadletter.Replay(ctx, db, js, l.ID, "replay-test-1"); !errors.Is(err, deadletter.ErrHandled) {
		t.Fatalf("second replay: %v, want ErrHandled", err)
	}
	if err := deadletter.Discard(ctx, db, l.ID); !errors.Is(err, deadletter.ErrHandled) {
		t.Fatalf("discard after replay: %v, want ErrHandled", err)
	}
	if _, err := deadletter.Replay(ctx, db, js, l.ID+100, "x"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Fatalf("replay of an unknown id: %v, want ErrNotFound", err)
	}
	info, _ := s.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want the original and one replay", info.State.Msgs)
	}
	if open, _ := deadletter.List(ctx, db, false); len(open) != 0 {
		t.Fatalf("%d open dead letters after the replay", len(open))
	}
	if all, _ := deadletter.List(ctx, db, true); len(all) != 1 || all[0].Status() != deadletter.Replayed {
		t.Fatalf("all dead letters = %+v", all)
	}
	cancel()
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
}

// A poison message whose bytes are not text (invalid UTF-8), with a cause as
// long and as broken, is still recorded, byte for byte: a record that fails
// for its data would be retried for ever and keep the consumer's ack floor
// from moving.
func TestPoisonOfAnyBytesIsRecorded(t *testing.T) {
	db, js, _ := setup(t)
	ctx := context.Background()
	data := []byte{'{', 0xff, 0xfe, 0x00, 0xc3, '}'}
	if _, err := js.Publish(ctx, opened, data); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream.PartitionName(1), jetstream.ConsumerConfig{Durable: "poison-bytes",
		FilterSubject: opened, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("malformed: " + string(data) + strings.Repeat("x", 70000))
	if err := deadletter.Handler(db, "poison-bytes")(ctx, msg, cause); err != nil {
		t.Fatalf("record: %v", err)
	}
	var got []byte
	if err := db.Get(&got, "SELECT data FROM dead_letters WHERE consumer = 'poison-bytes'"); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Fatalf("recorded data %x, want %x", got, data)
	}
}
