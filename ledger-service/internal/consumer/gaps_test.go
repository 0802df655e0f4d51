package consumer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// An event delivered before its turn while the one before it is still in
// the stream (a redelivery overtaken, a reorder) is early, not a gap: it
// waits, the partition stays ready, nothing is recorded.
func TestEarlyButPresentIsNoGap(t *testing.T) {
	store, db := ledgertest.MustStore(t, deadletter.Migrations())
	js := mustJetStream(t)
	c, err := New(js, store, deadletter.Handler(db, Name), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.Partition = 3
	ctx := context.Background()
	evts := []events.Event{ledgertest.Opened("ann", "USD"), ledgertest.Deposited("ann", "1.00", "USD"), ledgertest.Deposited("ann", "2.00", "USD")}
	for i := range evts {
		ack, err := js.PublishMsg(ctx, evts[i].Msg())
		if err != nil {
			t.Fatal(err)
		}
		evts[i].Seq = ack.Sequence
	}
	if errs := c.apply(ctx, evts[:1]); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// Message 3 before 2, which the stream still holds.
	errs := c.apply(ctx, evts[2:])
	if !errors.Is(errs[0], stream.ErrEarly) {
		t.Fatalf("message 3 after 1: %v, want early", errs[0])
	}
	if g, ok := c.Gaps.Gap(); ok || c.Gaps.Err() != nil {
		t.Errorf("a reorder reported as a gap: %+v", g)
	}
	if v := testutil.ToFloat64(gapMessages.WithLabelValues("3")); v != 0 {
		t.Errorf("wallet_ledger_gap_messages{partition=3} = %v, want 0", v)
	}
	var recorded int
	if err := db.Get(&recorded, "SELECT COUNT(*) FROM ledger_gaps"); err != nil || recorded != 0 {
		t.Errorf("%d gaps recorded (%v), want none", recorded, err)
	}
	// Then 2 and 3 in turn.
	for _, e := range evts[1:] {
		if errs := c.apply(ctx, []events.Event{e}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}

	// The same with message 2 deleted: a gap, named, counted, recorded.
	more := []events.Event{ledgertest.Deposited("ann", "4.00", "USD"), ledgertest.Deposited("ann", "8.00", "USD")}
	for i := range more {
		ack, err := js.PublishMsg(ctx, more[i].Msg())
		if err != nil {
			t.Fatal(err)
		}
		more[i].Seq = ack.Sequence
	}
	s, err := js.Stream(ctx, stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, more[0].Seq); err != nil {
		t.Fatal(err)
	}
	c.Gaps.checked = c.Gaps.checked.Add(-GapCheckEvery) // the check above was less than a second ago
	if errs := c.apply(ctx, more[1:]); !errors.Is(errs[0], stream.ErrEarly) {
		t.Fatalf("message after the deleted one: %v, want early", errs[0])
	}
	g, ok := c.Gaps.Gap()
	if !ok || g.First != more[0].Seq || g.Last != more[0].Seq || g.Partition != 3 || g.Stream != stream.Name {
		t.Fatalf("gap %+v %v, want message %d of %s, partition 3", g, ok, more[0].Seq, stream.Name)
	}
	if c.Gaps.Err() == nil {
		t.Error("a gap must make the partition not ready")
	}
	if v := testutil.ToFloat64(gapMessages.WithLabelValues("3")); v != 1 {
		t.Errorf("wallet_ledger_gap_messages{partition=3} = %v, want 1", v)
	}
	if err := db.Get(&recorded, "SELECT COUNT(*) FROM ledger_gaps WHERE partition_no = 3 AND first_seq = ? AND skipped_at IS NULL", g.First); err != nil || recorded != 1 {
		t.Errorf("%d gaps recorded (%v), want 1", recorded, err)
	}
	// Checked again within the second: the stream is not asked (no spin).
	before := c.Gaps.checked
	c.apply(ctx, more[1:])
	if c.Gaps.checked != before {
		t.Error("checked again within GapCheckEvery")
	}
}
