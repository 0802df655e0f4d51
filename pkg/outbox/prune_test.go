package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/testenv"
)

// Prune deletes published rows older than the retention, more than one
// batch of them, and never an unpublished row however old.
func TestPruneDeletesOnlyExpiredPublishedRows(t *testing.T) {
	f := mustFixture(t)
	f.append(t, 2*outbox.PruneBatch+10)
	ctx := context.Background()
	// 2,000 rows published an hour ago, 10 unpublished, then 5 published now.
	if _, err := f.db.Exec("UPDATE outbox SET published_at = NOW(6) - INTERVAL 1 HOUR ORDER BY id LIMIT ?", 2*outbox.PruneBatch); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec("UPDATE outbox SET occurred_at = NOW(6) - INTERVAL 2 HOUR"); err != nil {
		t.Fatal(err)
	}
	fresh := f.append(t, 5)
	if _, err := f.db.Exec("UPDATE outbox SET published_at = NOW(6) WHERE event_id IN (?,?,?,?,?)",
		fresh[0], fresh[1], fresh[2], fresh[3], fresh[4]); err != nil {
		t.Fatal(err)
	}
	n, err := outbox.Prune(ctx, f.db, time.Minute)
	if err != nil || n != 2*outbox.PruneBatch {
		t.Fatalf("Prune = %d, %v; want %d", n, err, 2*outbox.PruneBatch)
	}
	var published, unpublished int
	if err := f.db.QueryRow("SELECT COALESCE(SUM(published_at IS NOT NULL),0), COALESCE(SUM(published_at IS NULL),0) FROM outbox").
		Scan(&published, &unpublished); err != nil {
		t.Fatal(err)
	}
	if published != 5 || unpublished != 10 {
		t.Fatalf("left %d published, %d unpublished; want 5 and 10", published, unpublished)
	}
}

// Under continuous appends with a 200ms retention, the relay publishes every
// row exactly once while the table keeps a small fraction of what it
// published, and empties once the writes stop.
func TestRelayKeepsOutboxBoundedUnderLoad(t *testing.T) {
	f := mustFixture(t)
	r := newRelay(t, f, outbox.RelayConfig{BatchSize: 500, PollInterval: 10 * time.Millisecond,
		LeaseTTL: time.Second, Owner: "t", Retention: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Writes go on for 3 s and until 1,000 rows were published: a relay
	// starved by a loaded machine publishes less, but what it published
	// it must prune all the same.
	var written, retained, published int64
	stop, limit := time.Now().Add(3*time.Second), time.Now().Add(60*time.Second)
	for time.Now().Before(stop) || (published < 1000 && time.Now().Before(limit)) {
		f.append(t, 50)
		written += 50
		if err := f.db.Get(&retained, "SELECT COALESCE(SUM(published_at IS NOT NULL), 0) FROM outbox"); err != nil {
			t.Fatal(err)
		}
		info, err := f.stream.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		published = int64(info.State.Msgs)
	}
	t.Logf("%d rows written; when the writes stopped, %d published and %d of them still in the outbox", written, published, retained)
	if retained > published/2 {
		t.Fatalf("the outbox kept %d of the %d rows published while the writes went on: not pruned", retained, published)
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		return f.wantStreamMsgs(uint64(written))
	})
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		return f.wantOutboxRows(0)
	})
	f.wantUniqueMsgIDs(t, int(written))
}

func (f fixture) wantStreamMsgs(n uint64) error {
	info, err := f.stream.Info(context.Background())
	if err != nil {
		return err
	}
	if info.State.Msgs != n {
		return fmt.Errorf("stream holds %d messages, want %d", info.State.Msgs, n)
	}
	return nil
}

func (f fixture) wantOutboxRows(n int) error {
	var rows int
	if err := f.db.Get(&rows, "SELECT COUNT(*) FROM outbox"); err != nil {
		return err
	}
	if rows != n {
		return fmt.Errorf("outbox holds %d rows, want %d", rows, n)
	}
	return nil
}

// wantUniqueMsgIDs checks that the stream's first n messages carry n
// different event ids.
func (f fixture) wantUniqueMsgIDs(t *testing.T, n int) {
	t.Helper()
	seen := map[string]bool{}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m, err := f.stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get("Nats-Msg-Id")
		if seen[id] {
			t.Fatalf("event %s is in the stream twice", id)
		}
		seen[id] = true
	}
}
