package inbox_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
)

// Seen reports the ids a consumer Added, per consumer, across more ids than
// one statement takes; Add of an id already there fails and adds nothing.
func TestSeenAndAdd(t *testing.T) {
	db := mustInbox(t)
	ctx := context.Background()
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprintf("e%d", i)
	}
	inTx := func(fn func(tx *sqlx.Tx) error) error { return database.InTx(ctx, db, fn) }
	if err := inTx(func(tx *sqlx.Tx) error { return inbox.Add(ctx, tx, "ledger", ids[:2000]) }); err != nil {
		t.Fatal(err)
	}
	seen := func(consumer string) []string {
		t.Helper()
		var got map[string]bool
		if err := inTx(func(tx *sqlx.Tx) (err error) { got, err = inbox.Seen(ctx, tx, consumer, ids); return err }); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(got))
	}
	if got := seen("ledger"); !slices.Equal(got, slices.Sorted(slices.Values(ids[:2000]))) {
		t.Fatalf("ledger saw %d ids, want the 2000 added", len(got))
	}
	if got := seen("saga"); len(got) != 0 {
		t.Fatalf("another consumer saw %d ids, want none", len(got))
	}

	err := inTx(func(tx *sqlx.Tx) error { return inbox.Add(ctx, tx, "ledger", []string{"new", ids[0]}) })
	if !database.IsDuplicate(err) {
		t.Fatalf("Add of an id already recorded: %v, want a duplicate-key error", err)
	}
	if n := count(t, db, "ledger"); n != 2000 {
		t.Fatalf("%d rows after the failed Add, want 2000", n)
	}
	if err := inTx(func(tx *sqlx.Tx) error { return inbox.Add(ctx, tx, "ledger", nil) }); err != nil {
		t.Fatalf("Add of nothing: %v", err)
	}
}
