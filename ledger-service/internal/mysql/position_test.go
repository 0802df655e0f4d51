package mysql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
)

// A ledger's position belongs to one stream: a new ledger takes the
// consumer's ack floor; the same stream again is accepted; a stream created
// anew, or one that ends before the position, is refused (its messages
// would be skipped as applied) until the position is reset.
func TestPositionBelongsToItsStream(t *testing.T) {
	store, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	first := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := store.StartAt(ctx, 0, 0, first); err != nil {
		t.Fatalf("a new ledger on a new stream: %v", err)
	}
	// It applies messages 1 and 2 of that stream.
	for i, e := range []ledger.Effect{{EventID: "e1", Seq: 1}, {EventID: "e2", Seq: 2}} {
		if o := store.ApplyBatch(ctx, []ledger.Effect{e}); o[0].Err != nil {
			t.Fatalf("apply %d: %v", i, o[0].Err)
		}
	}
	if err := store.StartAt(ctx, 1, 2, first); err != nil {
		t.Fatalf("restart on the same stream: %v", err)
	}
	if err := store.StartAt(ctx, 0, 5, first.Add(time.Hour)); !errors.Is(err, mysql.ErrOtherStream) {
		t.Fatalf("a stream created anew: %v, want ErrOtherStream", err)
	}
	if err := store.StartAt(ctx, 0, 1, first); !errors.Is(err, mysql.ErrOtherStream) {
		t.Fatalf("a stream that ends before the position: %v, want ErrOtherStream", err)
	}
	seq, created, err := store.ResetPosition(ctx)
	if err != nil || seq != 2 || !created.Equal(first) {
		t.Fatalf("reset: %d %s %v", seq, created, err)
	}
	if err := store.StartAt(ctx, 0, 5, first.Add(time.Hour)); err != nil {
		t.Fatalf("after a reset, the new stream is taken: %v", err)
	}
	// Message 1 of the new stream is applied, not skipped as the old one's.
	if o := store.ApplyBatch(ctx, []ledger.Effect{{EventID: "n1", Seq: 1, Journal: false}}); o[0].Err != nil || !o[0].Applied {
		t.Fatalf("message 1 of the new stream: %+v", o[0])
	}
}

// An event set aside at its turn is set aside again when it is redelivered
// behind the position (its dead letter may not have been recorded), with
// the same reason, also within the batch that set it aside; the events around
// it are skipped as applied. A reset forgets it with the position: the next
// stream's message of that number is another event.
func TestSetAsideEventIsSetAsideAgain(t *testing.T) {
	store, db := ledgertest.MustStore(t)
	ctx := context.Background()
	evts := []events.Event{ledgertest.Opened("dave", "EUR"), ledgertest.Deposited("dave", "1.00", "USD"), ledgertest.Deposited("dave", "2.00", "EUR")}
	effs := make([]ledger.Effect, len(evts))
	for i, e := range evts {
		e.Seq = uint64(i + 1)
		eff, err := ledger.FromEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		effs[i] = eff
	}
	first := store.ApplyBatch(ctx, append(effs, effs[1]))
	if !errors.Is(first[1].Err, ledger.ErrConflict) || !first[0].Applied || !first[2].Applied ||
		first[3].Err == nil || first[3].Err.Error() != first[1].Err.Error() {
		t.Fatalf("first delivery: %+v", first)
	}
	again := store.ApplyBatch(ctx, []ledger.Effect{effs[0], effs[1], effs[2], effs[1]})
	for i, o := range again {
		conflict := i == 1 || i == 3
		if o.Applied || conflict != (o.Err != nil) {
			t.Errorf("redelivery %d: %+v", i, o)
		}
		if conflict && (!errors.Is(o.Err, ledger.ErrConflict) || o.Err.Error() != first[1].Err.Error()) {
			t.Errorf("redelivery %d: %v, want %v", i, o.Err, first[1].Err)
		}
	}
	var rows int
	if err := db.Get(&rows, "SELECT COUNT(*) FROM ledger_set_aside WHERE stream_seq = 2 AND event_id = ?", effs[1].EventID); err != nil || rows != 1 {
		t.Fatalf("%d set-aside rows for message 2 (%v), want 1", rows, err)
	}

	if _, _, err := store.ResetPosition(ctx); err != nil {
		t.Fatal(err)
	}
	other := []ledger.Effect{{EventID: "n1", Seq: 1}, {EventID: "n2", Seq: 2}}
	if o := store.ApplyBatch(ctx, other); o[0].Err != nil || o[1].Err != nil {
		t.Fatalf("the next stream's messages 1 and 2: %+v", o)
	}
	if o := store.ApplyBatch(ctx, other[1:]); o[0].Err != nil || o[0].Applied {
		t.Errorf("the next stream's message 2 redelivered: %+v, want skipped as applied", o[0])
	}
}
