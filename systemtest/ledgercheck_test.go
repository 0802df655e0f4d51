package systemtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/testenv"
)

// The per-partition ledger check passes a ledger whose partitions each
// hold their shards' money, and names the partition or the total when a
// wallet sits in the wrong partition, a credit is missing or a journal
// does not balance.
func TestLedgerPartitionCheck(t *testing.T) {
	t.Parallel()
	// a (shard 0) got 100 and sent 30 to b (shard 1): partition 0 debited
	// a into its @in_flight, partition 1 credited b out of its own.
	shards := map[string]shardAccount{
		"a": {ID: "a", Currency: "USD", Balance: decimal.RequireFromString("70"), Shard: 0},
		"b": {ID: "b", Currency: "USD", Balance: decimal.RequireFromString("30"), Shard: 1},
	}
	type row struct {
		p       int
		account string
		balance string
	}
	clean := []row{{0, "a", "70"}, {0, "@world:USD", "-100"}, {0, "@in_flight:USD", "30"}, {1, "b", "30"}, {1, "@in_flight:USD", "-30"}}
	for _, tc := range []struct {
		name    string
		ledger  []row
		entries []row // journal entries beyond those summing to each account's balance
		want    []string
	}{
		{name: "clean", ledger: clean},
		{name: "wrong partition", ledger: []row{{0, "a", "70"}, {0, "@world:USD", "-100"}, {0, "@in_flight:USD", "30"}, {2, "b", "30"}, {2, "@in_flight:USD", "-30"}},
			want: []string{"partition 1 USD: the ledger's wallets sum to 0, its shards' balances to 30", "partition 2 USD: the ledger's wallets sum to 30, its shards' balances to 0"}},
		{name: "credit missing", ledger: clean[:3],
			want: []string{"partition 1 USD: the ledger's wallets sum to 0", "total USD: the ledgers' wallets sum to 70", "total USD: the partitions' @in_flight sum to 30, the shards have 0 in flight"}},
		{name: "unbalanced journal", ledger: clean, entries: []row{{3, "c", "5"}},
			want: []string{"partition 3 USD: the journal does not balance: its accounts sum to 0, its entries to 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsns := testenv.Databases(t, Partitions+1)
			f := &Fleet{t: t, direct: make([]string, 4)}
			for p := range Partitions {
				db := testenv.MustOpen(t, dsns[p])
				for _, q := range []string{"CREATE TABLE ledger_accounts (account_id VARCHAR(64) PRIMARY KEY, currency CHAR(3), balance DECIMAL(24,4))",
					"CREATE TABLE journal_entries (account_id VARCHAR(64), currency CHAR(3), amount DECIMAL(24,4))"} {
					db.MustExec(q)
				}
				f.Ledgers = append(f.Ledgers, db)
			}
			for _, r := range tc.ledger {
				f.Ledgers[r.p].MustExec("INSERT INTO ledger_accounts VALUES (?, 'USD', ?)", r.account, r.balance)
				f.Ledgers[r.p].MustExec("INSERT INTO journal_entries VALUES (?, 'USD', ?)", r.account, r.balance)
			}
			for _, r := range tc.entries {
				f.Ledgers[r.p].MustExec("INSERT INTO journal_entries VALUES (?, 'USD', ?)", r.account, r.balance)
			}
			shard := testenv.MustOpen(t, dsns[Partitions])
			shard.MustExec("CREATE TABLE transfers (currency CHAR(3), amount DECIMAL(24,4), status VARCHAR(16), from_shard INT)")
			shard.MustExec("INSERT INTO transfers VALUES ('USD', 30, 'completed', 0)")
			live := []*sqlx.DB{shard, shard, shard, shard}

			fs := newFindings()
			lines, err := f.checkLedgerPartitions(context.Background(), live, shards, fs)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != Partitions+1 {
				t.Errorf("figures %q: want a line per partition and the total", lines)
			}
			got := fs.Samples[InvLedgerPartitions]
			if len(tc.want) == 0 && len(fs.Violated()) > 0 {
				t.Fatalf("a clean ledger violates %s", fs)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no finding %q; found %q", w, got)
				}
			}
		})
	}
}
