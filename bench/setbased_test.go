package main

import (
	"context"
	"database/sql"
	"testing"

	"github.com/shopspring/decimal"
)

var one = decimal.RequireFromString("1.00")

func TestDecideBatchSkipsATransferThatLacksFunds(t *testing.T) {
	balances := map[string]decimal.Decimal{"a": decimal.RequireFromString("1.50"), "b": decimal.Zero, "c": decimal.Zero}
	pairs := []Pair{{From: "a", To: "b"}, {From: "a", To: "c"}, {From: "b", To: "c"}, {From: "c", To: "a"}}
	moved, touches := decideBatch(balances, pairs, one)
	// a pays b; a has 0.50 left and cannot pay c; b pays c with what it got;
	// c pays a back.
	if len(moved) != 3 || moved[0] != pairs[0] || moved[1] != pairs[2] || moved[2] != pairs[3] {
		t.Fatalf("moved %+v", moved)
	}
	for id, want := range map[string]string{"a": "1.5", "b": "0", "c": "0"} {
		if !balances[id].Equal(decimal.RequireFromString(want)) {
			t.Errorf("balance %s = %s, want %s", id, balances[id], want)
		}
	}
	if touches["a"] != 2 || touches["b"] != 2 || touches["c"] != 2 {
		t.Errorf("touches %v", touches)
	}
}

// baselineRows reads a baseline schema's balances, versions and row counts.
func baselineRows(t *testing.T, db *sql.DB, schema string) (map[string]string, map[string]int, int, int) {
	t.Helper()
	rows, err := db.Query("SELECT account_id, balance, version FROM " + schema + ".accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	balances, versions := map[string]string{}, map[string]int{}
	for rows.Next() {
		var id string
		var b decimal.Decimal
		var v int
		if err := rows.Scan(&id, &b, &v); err != nil {
			t.Fatal(err)
		}
		balances[id], versions[id] = b.StringFixed(2), v
	}
	var transfers, outbox int
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM "+schema+".transfers), (SELECT COUNT(*) FROM "+schema+".outbox)").
		Scan(&transfers, &outbox); err != nil {
		t.Fatal(err)
	}
	return balances, versions, transfers, outbox
}

func mustBaselineSchema(t *testing.T) (string, *sql.DB) {
	t.Helper()
	schema, db := mustSchema(t)
	mustExec(t, db, baselineDDL(schema)...)
	mustExec(t, db, "INSERT INTO "+schema+".accounts (account_id, balance) VALUES ('a', 1.50), ('b', 0), ('c', 10)")
	return schema, db
}

func TestSetBasedBatchWritesWhatTheNaiveLoopWrites(t *testing.T) {
	ctx := context.Background()
	schema, db := mustBaselineSchema(t)
	pairs := []Pair{{From: "a", To: "b"}, {From: "a", To: "c"}, {From: "c", To: "b"}}
	n, short, err := setBasedBatch(ctx, db, schema, pairs, one)
	if err != nil || n != 2 || short != 1 {
		t.Fatalf("committed %d, insufficient %d, err %v; want 2, 1", n, short, err)
	}
	balances, versions, transfers, outbox := baselineRows(t, db, schema)
	if balances["a"] != "0.50" || balances["b"] != "2.00" || balances["c"] != "9.00" {
		t.Errorf("balances %v", balances)
	}
	if versions["a"] != 1 || versions["b"] != 2 || versions["c"] != 1 {
		t.Errorf("versions %v: want one per transfer an account took part in", versions)
	}
	if transfers != 2 || outbox != 2 {
		t.Errorf("%d transfer rows, %d outbox rows; want a transfer and an event per transfer made", transfers, outbox)
	}

	// The naive loop, on the same schema: the same rows per transfer.
	moved, err := naiveTransfer(ctx, db, schema, Pair{From: "c", To: "a"}, one)
	if err != nil || !moved {
		t.Fatalf("naive: moved %v, err %v", moved, err)
	}
	if moved, err := naiveTransfer(ctx, db, schema, Pair{From: "b", To: "a"}, decimal.RequireFromString("5")); err != nil || moved {
		t.Fatalf("naive without funds: moved %v, err %v", moved, err)
	}
	balances, versions, transfers, outbox = baselineRows(t, db, schema)
	if balances["a"] != "1.50" || balances["c"] != "8.00" || versions["a"] != 2 || versions["c"] != 2 || transfers != 3 || outbox != 3 {
		t.Errorf("after the naive transfer: balances %v, versions %v, %d transfers, %d outbox rows", balances, versions, transfers, outbox)
	}
}

func TestSetBasedBatchWithoutFundsCommitsNothing(t *testing.T) {
	schema, db := mustBaselineSchema(t)
	n, short, err := setBasedBatch(context.Background(), db, schema, []Pair{{From: "b", To: "a"}, {From: "b", To: "c"}}, one)
	if err != nil || n != 0 || short != 2 {
		t.Fatalf("committed %d, insufficient %d, err %v", n, short, err)
	}
	if _, _, transfers, outbox := baselineRows(t, db, schema); transfers != 0 || outbox != 0 {
		t.Fatalf("%d transfers, %d outbox rows written", transfers, outbox)
	}
}

func TestSetBasedBatchFailsOnAnUnknownAccount(t *testing.T) {
	schema, db := mustBaselineSchema(t)
	if _, _, err := setBasedBatch(context.Background(), db, schema, []Pair{{From: "a", To: "nobody"}}, one); err == nil {
		t.Fatal("want an error for an account that does not exist")
	}
	if balances, _, transfers, _ := baselineRows(t, db, schema); balances["a"] != "1.50" || transfers != 0 {
		t.Fatalf("balances %v, %d transfers after a failed batch", balances, transfers)
	}
}
