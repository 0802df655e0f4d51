package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A report counts every finding exactly, lists at most MaxListed of a kind,
// does not count warnings (an unverified account, a reused transaction id)
// as discrepancies, and renders the same content as
// a table and as JSON.
func TestReport(t *testing.T) {
	r := newReport(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	r.check("accounts").Checked = 3
	for i := range MaxListed + 5 {
		r.add("accounts", Finding{Kind: BalanceMismatch, Where: "shard 1", Subject: fmt.Sprintf("acc-%d", i), Detail: "shard 1.00, ledger 2.00"})
	}
	r.add("accounts", Finding{Kind: Unverified, Where: "shard 2", Subject: "hot", Detail: "kept changing"})
	if r.Counts[BalanceMismatch] != MaxListed+5 || len(r.Findings) != MaxListed+1 || r.Discrepancies() != MaxListed+5 {
		t.Fatalf("counts %v, %d listed, %d discrepancies", r.Counts, len(r.Findings), r.Discrepancies())
	}
	if c := r.check("accounts"); c.Checked != 3 || c.Findings != MaxListed+6 {
		t.Fatalf("check tally %+v", c)
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CHECK", "accounts", "balance_mismatch", "acc-0", "105 discrepancies: 105 balance_mismatch, 1 unverified (at most 100 of each kind listed)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Counts[BalanceMismatch] != MaxListed+5 || len(back.Findings) != MaxListed+1 {
		t.Fatalf("JSON round trip: %v %+v", err, back.Counts)
	}

	warned := newReport(time.Time{})
	warned.add("accounts", Finding{Kind: Unverified, Subject: "hot"})
	warned.add("transaction ids", Finding{Kind: TransactionReused, Subject: "squatted"})
	clean := newReport(time.Time{})
	for _, tt := range []struct {
		r    *Report
		want string
	}{{warned, "clean, with warnings: 1 transaction_id_reused, 1 unverified"}, {clean, "clean: no discrepancies"}} {
		if got := tt.r.verdict(); got != tt.want || tt.r.Discrepancies() != 0 {
			t.Errorf("verdict %q, want %q", got, tt.want)
		}
	}
}
