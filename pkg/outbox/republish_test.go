package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/outbox"
)

// Republish sends the rows published within the window again and leaves
// older and unpublished rows alone. Within the stream's duplicate window
// every copy is dropped; after it the copies get new stream sequences (the
// consumers' inbox and business keys drop them).
func TestRepublishSendsRecentlyPublishedRows(t *testing.T) {
	f := mustFixtureWindow(t, time.Second)
	ctx := context.Background()
	f.append(t, 30)
	r := newRelay(t, f, outbox.RelayConfig{BatchSize: 100, PollInterval: time.Millisecond, Owner: "t", LeaseTTL: time.Second})
	if n, err := r.RelayOnce(ctx, 0); err != nil || n != 30 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	// 10 of them published long ago, 5 more not published yet.
	if _, err := f.db.Exec("UPDATE outbox SET published_at = NOW(6) - INTERVAL 1 HOUR ORDER BY id LIMIT 10"); err != nil {
		t.Fatal(err)
	}
	f.append(t, 5)

	got, err := outbox.Republish(ctx, f.db, f.js, outbox.Route{Shard: 0, Shards: 1, Partitions: 1}, time.Minute, 7, 10*time.Second)
	if err != nil || got.Sent != 20 || got.Duplicates != 20 {
		t.Fatalf("within the duplicate window: Republish = %+v, %v; want 20 sent, 20 duplicates", got, err)
	}
	if err := f.wantStreamMsgs(30); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the duplicate window
	got, err = outbox.Republish(ctx, f.db, f.js, outbox.Route{Shard: 0, Shards: 1, Partitions: 1}, time.Minute, 7, 10*time.Second)
	if err != nil || got.Sent != 20 || got.Duplicates != 0 {
		t.Fatalf("after the duplicate window: Republish = %+v, %v; want 20 new", got, err)
	}
	if err := f.wantStreamMsgs(50); err != nil {
		t.Fatal(err)
	}
	// The copies are the rows 11..30, in id order.
	var want []string
	if err := f.db.Select(&want, "SELECT event_id FROM outbox ORDER BY id LIMIT 20 OFFSET 10"); err != nil {
		t.Fatal(err)
	}
	for i, id := range want {
		m, err := f.stream.GetMsg(ctx, uint64(31+i))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("ce-id") != id {
			t.Fatalf("copy %d is %s, want %s", i, m.Header.Get("ce-id"), id)
		}
	}
	var unpublished int
	if err := f.db.Get(&unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"); err != nil || unpublished != 5 {
		t.Fatalf("%d unpublished rows (%v), want the 5 left to the relay", unpublished, err)
	}
}
