package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// 4 shards in 2 partitions: shards 0 and 1 feed WALLET_0, 2 and 3 WALLET_1.
const (
	partShards     = 4
	partPartitions = 2
)

// partitionFixture is one outbox (placed as shard) and the two partitions'
// streams.
type partitionFixture struct {
	db      *sqlx.DB
	js      jetstream.JetStream
	streams []jetstream.Stream
	shard   int
}

func newPartitionFixture(t *testing.T, shard int) partitionFixture {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), db, outbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	js := testenv.MustJetStream(t)
	ss, err := stream.EnsurePartitions(context.Background(), js, stream.Config{Partitions: partPartitions, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return partitionFixture{db: db, js: js, streams: ss, shard: shard}
}

// add writes one transfer.debited row whose next shard is next.
func (f partitionFixture) add(t *testing.T, next int) string {
	t.Helper()
	e := events.Event{ID: uuid.NewString(), Type: events.TransferDebited, Source: "/test", Subject: "tx",
		Topic: events.Topic(events.TransferDebited, next), Time: time.Now(), Data: []byte(`{}`)}
	if err := database.InTx(context.Background(), f.db, func(tx *sqlx.Tx) error {
		return outbox.Writer{}.Append(context.Background(), tx, e)
	}); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func (f partitionFixture) relay(t *testing.T) *outbox.Relay {
	t.Helper()
	servers := func() []outbox.Server {
		return []outbox.Server{{Name: "s", DB: f.db, Shards: []outbox.Shard{{N: f.shard}}}}
	}
	return newRelay(t, fixture{db: f.db, js: f.js, admin: f.js}, outbox.RelayConfig{Servers: servers, Shards: partShards, Partitions: partPartitions,
		BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second})
}

// msgs returns partition p's messages: subject → event id.
func (f partitionFixture) msgs(t *testing.T, p int) map[string]string {
	t.Helper()
	ctx := context.Background()
	info, err := f.streams[p].Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := f.streams[p].GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != m.Header.Get("ce-id") {
			t.Fatalf("%s: Nats-Msg-Id %q, ce-id %q: want the event id for both", m.Subject, id, m.Header.Get("ce-id"))
		}
		out[m.Subject] = m.Header.Get("ce-id")
	}
	return out
}

func wantMsgs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s holds %v, want %v", what, got, want)
	}
	for s, id := range want {
		if got[s] != id {
			t.Fatalf("%s holds %v, want %v", what, got, want)
		}
	}
}

// A shard's rows go to its partition's stream: shard 2's to WALLET_1.
func TestRelayPublishesToTheShardsPartition(t *testing.T) {
	f := newPartitionFixture(t, 2)
	id := f.add(t, 3) // shard 3 acts next: partition 1 too
	if n, err := f.relay(t).RelayOnce(context.Background(), 2); err != nil || n != 1 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	wantMsgs(t, "WALLET_0", f.msgs(t, 0), map[string]string{})
	wantMsgs(t, "WALLET_1", f.msgs(t, 1), map[string]string{"wallet.1.transfer.debited.3": id})
}

// A debit whose credit is taken by a shard of another partition is a fact
// in the debiting shard's partition and a saga step, with the same
// Nats-Msg-Id, in the crediting shard's; one within the partition is a
// fact only.
func TestRelayCopiesCrossPartitionStepsOnce(t *testing.T) {
	f := newPartitionFixture(t, 0)
	cross := f.add(t, 3)
	same := f.add(t, 1)
	if n, err := f.relay(t).RelayOnce(context.Background(), 0); err != nil || n != 2 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	wantMsgs(t, "WALLET_0", f.msgs(t, 0), map[string]string{
		"wallet.0.transfer.debited.3": cross,
		"wallet.0.transfer.debited.1": same,
	})
	wantMsgs(t, "WALLET_1", f.msgs(t, 1), map[string]string{"saga.1.transfer.debited.3": cross})
}

// A row is marked published only once both its copies are stored: while
// the step's partition has no stream, the fact goes out (and again, a
// duplicate, on every attempt) but the row stays unpublished.
func TestRelayMarksOnlyWhenBothCopiesAreStored(t *testing.T) {
	f := newPartitionFixture(t, 0)
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, stream.PartitionName(1)); err != nil {
		t.Fatal(err)
	}
	id := f.add(t, 2)
	r := f.relay(t)
	for range 2 {
		if n, err := r.RelayOnce(ctx, 0); err == nil || n != 0 {
			t.Fatalf("relayed %d, %v; want nothing marked, an error", n, err)
		}
	}
	var unpublished int
	if err := f.db.Get(&unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL"); err != nil || unpublished != 1 {
		t.Fatalf("%d unpublished rows (%v), want the row kept for later", unpublished, err)
	}
	wantMsgs(t, "WALLET_0", f.msgs(t, 0), map[string]string{"wallet.0.transfer.debited.2": id})

	ss, err := stream.EnsurePartitions(ctx, f.js, stream.Config{Partitions: partPartitions, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.streams = ss
	if n, err := r.RelayOnce(ctx, 0); err != nil || n != 1 {
		t.Fatalf("with both streams: relayed %d, %v", n, err)
	}
	wantMsgs(t, "WALLET_0", f.msgs(t, 0), map[string]string{"wallet.0.transfer.debited.2": id})
	wantMsgs(t, "WALLET_1", f.msgs(t, 1), map[string]string{"saga.1.transfer.debited.2": id})
}

// Republish sends a cross-partition row again as fact and step.
func TestRepublishSendsFactAndStep(t *testing.T) {
	f := newPartitionFixture(t, 1)
	ctx := context.Background()
	cross := f.add(t, 2)
	same := f.add(t, 0)
	if n, err := f.relay(t).RelayOnce(ctx, 1); err != nil || n != 2 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	// The streams lost what they had acknowledged (and their duplicate
	// windows).
	for p := range partPartitions {
		if err := f.js.DeleteStream(ctx, stream.PartitionName(p)); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := stream.EnsurePartitions(ctx, f.js, stream.Config{Partitions: partPartitions, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.streams = ss
	got, err := outbox.Republish(ctx, f.db, f.js, outbox.Route{Shard: 1, Shards: partShards, Partitions: partPartitions}, time.Minute, 10, 10*time.Second)
	if err != nil || got.Sent != 2 || got.Duplicates != 0 {
		t.Fatalf("Republish = %+v, %v; want 2 sent, none a duplicate", got, err)
	}
	wantMsgs(t, "WALLET_0", f.msgs(t, 0), map[string]string{
		"wallet.0.transfer.debited.2": cross,
		"wallet.0.transfer.debited.0": same,
	})
	wantMsgs(t, "WALLET_1", f.msgs(t, 1), map[string]string{"saga.1.transfer.debited.2": cross})
}
