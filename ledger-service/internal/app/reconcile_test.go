package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/app"
	ledgerdomain "github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/ledger-service/internal/reconcile"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/shardread"
)

// shards is account-service's read side as reconcile sees it
// (reconcile.ShardReader), answered from a model of the shards: the
// account-service handler behind it has its own tests
// (account-service/internal/httpapi, TestReconcileReadSide and the
// contract test), and this test is about the ledger side.
type shards struct {
	accounts []map[string]*shardread.Account
	money    []map[string]*shardread.CurrencySums
}

func newShards(n int) *shards {
	s := &shards{}
	for range n {
		s.accounts = append(s.accounts, map[string]*shardread.Account{})
		s.money = append(s.money, map[string]*shardread.CurrencySums{})
	}
	return s
}

func (s *shards) sums(sh int, cur string) *shardread.CurrencySums {
	if s.money[sh][cur] == nil {
		s.money[sh][cur] = &shardread.CurrencySums{Currency: cur}
	}
	return s.money[sh][cur]
}

// change moves account id's balance by amount (a decimal string).
func (s *shards) change(id, amount string) {
	sh := shard.Of(id, len(s.accounts))
	a := s.accounts[sh][id]
	a.Balance, a.Version = a.Balance.Add(decimal.RequireFromString(amount)), a.Version+1
}

func (s *shards) Summary(_ context.Context, sh int, _ time.Time) (shardread.Summary, error) {
	out := shardread.Summary{Shard: sh, Currencies: []shardread.CurrencySums{}}
	byCur := map[string]shardread.CurrencySums{}
	for cur, m := range s.money[sh] {
		byCur[cur] = *m // sent, received, pending
	}
	for _, a := range s.accounts[sh] {
		out.Accounts++
		out.Versions += a.Version
		c := byCur[a.Currency]
		c.Currency, c.Accounts, c.Balances = a.Currency, c.Accounts+1, c.Balances.Add(a.Balance)
		byCur[a.Currency] = c
	}
	for _, c := range byCur {
		out.Currencies = append(out.Currencies, c)
	}
	return out, nil
}

func (s *shards) Accounts(_ context.Context, sh int, after string, limit int) (shardread.Accounts, error) {
	out := shardread.Accounts{Shard: sh}
	var ids []string
	for id := range s.accounts[sh] {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
		out.NextAfter = ids[limit-1]
	}
	for _, id := range ids {
		out.Accounts = append(out.Accounts, *s.accounts[sh][id])
	}
	return out, nil
}

func (s *shards) Lookup(_ context.Context, sh int, ids []string) ([]shardread.Account, error) {
	var out []shardread.Account
	for _, id := range ids {
		if a := s.accounts[sh][id]; a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

func (s *shards) Outbox(_ context.Context, sh int, _ time.Time) (shardread.Outbox, error) {
	return shardread.Outbox{Shard: sh}, nil
}

// idOn returns an account id on shard sh of n.
func idOn(sh, n int, name string) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-%d", name, i); shard.Of(id, n) == sh {
			return id
		}
	}
}

// Reconcile checks each partition and the totals: over 4 shards in 2
// partitions, with transfers within a partition and across partitions (one
// still in flight), it exits 0; with one partition's journal tampered
// with — an entry's amount, a balance — it exits 1 and every finding names
// that partition (or the totals), none the other.
func TestReconcilePartitions(t *testing.T) {
	const nShards, usd = 4, "USD"
	sh := newShards(nShards)
	var parts []reconcile.Partition
	var stores []*mysql.Store
	var dbs []*sqlx.DB
	for p := range 2 {
		s, db := ledgertest.MustStore(t, deadletter.Migrations())
		stores, dbs = append(stores, s), append(dbs, db)
		parts = append(parts, reconcile.Partition{N: p, DB: db, Stream: fmt.Sprintf("WALLET_%d", p)})
	}
	// apply books e in the partition of the shard that emitted it.
	apply := func(fromShard int, e events.Event) {
		t.Helper()
		eff, err := ledgerdomain.FromEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stores[events.Partition(fromShard, nShards, len(parts))].Apply(context.Background(), eff); err != nil {
			t.Fatalf("apply %s: %v", e.Type, err)
		}
	}
	a0, a1, b2, b3 := idOn(0, nShards, "a"), idOn(1, nShards, "a"), idOn(2, nShards, "b"), idOn(3, nShards, "b")
	for i, id := range []string{a0, a1, b2, b3} {
		sh.accounts[i][id] = &shardread.Account{AccountID: id, Currency: usd}
		apply(i, ledgertest.Opened(id, usd))
	}
	apply(0, ledgertest.Deposited(a0, "100", usd))
	sh.change(a0, "100")
	apply(2, ledgertest.Deposited(b2, "50", usd))
	sh.change(b2, "50")
	// Within partition 0 (shard 0 → 1), completed.
	apply(0, ledgertest.Transfer(events.TransferDebited, "t1", a0, a1, "10", usd, 0, 1))
	apply(1, ledgertest.Transfer(events.TransferCredited, "t1", a0, a1, "10", usd, 0, 1))
	sh.change(a0, "-10")
	sh.change(a1, "10")
	// Partition 0 → 1 (shard 0 → 2), completed: partition 0's @in_flight
	// keeps +20, partition 1's −20.
	apply(0, ledgertest.Transfer(events.TransferDebited, "t2", a0, b2, "20", usd, 0, 2))
	apply(2, ledgertest.Transfer(events.TransferCredited, "t2", a0, b2, "20", usd, 0, 2))
	sh.change(a0, "-20")
	sh.change(b2, "20")
	sh.sums(0, usd).Sent = decimal.RequireFromString("30")
	sh.sums(1, usd).Received = decimal.RequireFromString("10")
	sh.sums(2, usd).Received = decimal.RequireFromString("20")
	// Partition 1 → 0 (shard 2 → 1), debited and in flight.
	apply(2, ledgertest.Transfer(events.TransferDebited, "t3", b2, a1, "5", usd, 2, 1))
	sh.change(b2, "-5")
	sh.sums(2, usd).Sent = decimal.RequireFromString("5")
	sh.sums(2, usd).Pending, sh.sums(2, usd).PendingCount = decimal.RequireFromString("5"), 1

	src := reconcile.Sources{Partitions: parts, Shards: nShards, Accounts: sh, Settled: func(context.Context) error { return nil }}
	run := func() (reconcile.Report, string, error) {
		t.Helper()
		var out, progress bytes.Buffer
		err := app.RunReconcile(context.Background(), dbs[0], src, app.ReconcileOptions{JSON: true,
			Check: reconcile.Options{SettleTimeout: time.Second, Rounds: 1}}, &out, &progress, slog.New(slog.NewTextHandler(io.Discard, nil)))
		var rep reconcile.Report
		if out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("report: %v\n%s", jerr, out.String())
			}
		}
		return rep, progress.String(), err
	}

	rep, log, err := run()
	if err != nil || rep.Discrepancies() != 0 || len(rep.Counts) != 0 {
		t.Fatalf("clean: %v, findings %v %+v\n%s", err, rep.Counts, rep.Findings, log)
	}
	if len(rep.Currencies) != 1 || rep.Currencies[0].InFlight != "5.0000" || rep.Currencies[0].Wallets != "145.0000" {
		t.Errorf("totals %+v", rep.Currencies)
	}
	want := map[int]string{0: "20.0000", 1: "-15.0000"}
	for _, p := range rep.Partitions {
		if p.InFlight != want[p.Partition] || p.ShardNetSent != want[p.Partition] {
			t.Errorf("partition %d: %+v, want in flight %s", p.Partition, p, want[p.Partition])
		}
	}

	for _, tc := range []struct {
		name         string
		partition    int
		inject, undo string
		args         []any
		kinds        []reconcile.Kind
	}{
		{"an entry's amount", 1,
			"UPDATE journal_entries SET amount = amount + 1 WHERE account_id = ? ORDER BY id DESC LIMIT 1",
			"UPDATE journal_entries SET amount = amount - 1 WHERE account_id = ? ORDER BY id DESC LIMIT 1", []any{b2},
			[]reconcile.Kind{reconcile.EntriesMismatch, reconcile.UnbalancedJournal}},
		{"the clearing account's balance", 0,
			"UPDATE ledger_accounts SET balance = balance + 3 WHERE account_id = ?",
			"UPDATE ledger_accounts SET balance = balance - 3 WHERE account_id = ?", []any{ledgerdomain.InFlight(usd)},
			[]reconcile.Kind{reconcile.Conservation, reconcile.EntriesMismatch, reconcile.InFlightMismatch, reconcile.UnbalancedJournal}},
		{"a wallet's balance", 1,
			"UPDATE ledger_accounts SET balance = balance + 2 WHERE account_id = ?",
			"UPDATE ledger_accounts SET balance = balance - 2 WHERE account_id = ?", []any{b3},
			[]reconcile.Kind{reconcile.BalanceMismatch, reconcile.Conservation, reconcile.EntriesMismatch, reconcile.UnbalancedJournal}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustExec(t, dbs[tc.partition], tc.inject, tc.args...)
			rep, log, err := run()
			mustExec(t, dbs[tc.partition], tc.undo, tc.args...)
			if err != service.ExitCode(1) {
				t.Fatalf("exit %v, want exit status 1\n%s", err, log)
			}
			var kinds []reconcile.Kind
			for k := range rep.Counts {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("findings %v, want %v: %+v", rep.Counts, tc.kinds, rep.Findings)
			}
			name := fmt.Sprintf("partition %d", tc.partition)
			for _, f := range rep.Findings {
				if !strings.HasPrefix(f.Where, name) && f.Where != "total" {
					t.Errorf("finding in %q, want %s: %+v", f.Where, name, f)
				}
			}
		})
	}
	if rep, log, err := run(); err != nil || len(rep.Counts) != 0 {
		t.Fatalf("undone: %v, findings %v\n%s", err, rep.Counts, log)
	}
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
