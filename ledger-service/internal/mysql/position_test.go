package mysql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
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
