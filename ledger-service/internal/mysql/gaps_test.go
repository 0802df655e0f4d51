package mysql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
)

// A detected gap is one open row, brought up to date while a limit makes it
// longer; a skip must start at the position + 1, completes the row and
// moves the position; reset-position forgets detected gaps, not skips.
func TestGapRecordsAndSkips(t *testing.T) {
	store, db := ledgertest.MustStore(t)
	ctx := context.Background()
	for _, e := range []ledger.Effect{{EventID: "e1", Seq: 1}, {EventID: "e2", Seq: 2}} {
		if o := store.ApplyBatch(ctx, []ledger.Effect{e}); o[0].Err != nil {
			t.Fatal(o[0].Err)
		}
	}
	now := time.Now()
	g := gap.Gap{Stream: "WALLET_1", Partition: 1, First: 3, Last: 4, Cause: gap.CauseBelowFirst, Detected: now}
	if err := store.RecordGap(ctx, g); err != nil {
		t.Fatal(err)
	}
	g.Last = 9 // max_age dropped more meanwhile
	if err := store.RecordGap(ctx, g); err != nil {
		t.Fatal(err)
	}
	recs, err := store.Gaps(ctx)
	if err != nil || len(recs) != 1 || recs[0].First != 3 || recs[0].Last != 9 || recs[0].Skipped() || recs[0].Partition != 1 {
		t.Fatalf("gaps %+v (%v), want one open 3..9 of partition 1", recs, err)
	}

	if _, err := store.SkipGap(ctx, mysql.Skip{Stream: "WALLET_1", Partition: 1, First: 4, Last: 9, Reason: "r", By: "me"}); !errors.Is(err, mysql.ErrNotNext) {
		t.Errorf("skip from 4 at position 2: %v, want ErrNotNext", err)
	}
	rec, err := store.SkipGap(ctx, mysql.Skip{Stream: "WALLET_1", Partition: 1, First: 3, Last: 9, Cause: gap.CauseBelowFirst, Reason: "lost to max_age", By: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Skipped() || rec.ID != recs[0].ID || rec.Reason.String != "lost to max_age" || rec.SkippedBy.String != "me" || !rec.DetectedAt.Valid || rec.Known.Valid {
		t.Errorf("skip record %+v, want the detected row completed", rec)
	}
	if pos, known, err := store.Position(ctx); err != nil || !known || pos != 9 {
		t.Errorf("position %d %v %v, want 9", pos, known, err)
	}
	// The ledger goes on at 10; 3..9 are turns taken.
	if o := store.ApplyBatch(ctx, []ledger.Effect{{EventID: "e10", Seq: 10}}); o[0].Err != nil || !o[0].Applied {
		t.Errorf("message 10 after the skip: %+v", o[0])
	}

	// A skip nobody detected (forced) is a row of its own.
	if _, err := store.SkipGap(ctx, mysql.Skip{Stream: "WALLET_1", Partition: 1, First: 11, Last: 11, Reason: "forced", By: "me", Forced: true, Known: "a deposit"}); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordGap(ctx, gap.Gap{Stream: "WALLET_1", Partition: 1, First: 13, Last: 13, Cause: gap.CauseDeleted, Detected: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.ResetPosition(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []string
	if err := db.Select(&rows, "SELECT CONCAT(first_seq, '..', last_seq, ' ', forced, ' ', COALESCE(known_events, '')) FROM ledger_gaps ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0] != "3..9 0 " || rows[1] != "11..11 1 a deposit" {
		t.Errorf("after reset-position: %q, want the two skips", rows)
	}
}
