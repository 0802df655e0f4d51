package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
)

// effects maps evts onto their effects, failing the test on a malformed one.
func effects(t testing.TB, evts []events.Event) []ledger.Effect {
	t.Helper()
	effs := make([]ledger.Effect, len(evts))
	for i, e := range evts {
		eff, err := ledger.FromEvent(e)
		if err != nil {
			t.Fatalf("FromEvent(%s): %v", e.Type, err)
		}
		effs[i] = eff
	}
	return effs
}

// fallbacks reads wallet_ledger_batch_fallbacks_total.
func fallbacks(t testing.TB) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "wallet_ledger_batch_fallbacks_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// applyBatch applies effs as one batch and fails the test if the batch
// transaction failed: the one-by-one fallback would hide a wrong batch.
func applyBatch(t testing.TB, s *mysql.Store, effs []ledger.Effect) []ledger.Outcome {
	t.Helper()
	before := fallbacks(t)
	out := s.ApplyBatch(context.Background(), effs)
	if fallbacks(t) != before {
		t.Fatalf("the batch of %d fell back to one by one", len(effs))
	}
	return out
}

// mustApplyBatch applies evts as one batch and returns whether each was
// applied, failing the test on any error.
func mustApplyBatch(t *testing.T, s *mysql.Store, evts ...events.Event) []bool {
	t.Helper()
	out := applyBatch(t, s, effects(t, evts))
	applied := make([]bool, len(out))
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("ApplyBatch: event %d (%s): %v", i, evts[i].Type, o.Err)
		}
		applied[i] = o.Applied
	}
	return applied
}

// history generates a realistic mixed sequence: accounts in two currencies,
// deposits, withdrawals, same-shard transfers and cross-shard sagas that
// complete or are rejected and refunded, redriven steps, status changes.
func history(n int) []events.Event {
	r := rand.New(rand.NewPCG(1, 2))
	var evts []events.Event
	accounts := map[string][]string{}
	for _, cur := range []string{"USD", "EUR"} {
		for i := range 12 {
			id := fmt.Sprintf("%s-%02d", strings.ToLower(cur), i)
			accounts[cur] = append(accounts[cur], id)
			evts = append(evts, ledgertest.Opened(id, cur))
		}
	}
	amount := func() string { return fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)) }
	for len(evts) < n {
		cur := []string{"USD", "EUR"}[r.IntN(2)]
		a, b := accounts[cur][r.IntN(12)], accounts[cur][r.IntN(12)]
		tx := ledgertest.NewID()
		switch k := r.IntN(10); {
		case k < 3:
			evts = append(evts, ledgertest.Deposited(a, amount(), cur))
		case k < 4:
			evts = append(evts, ledgertest.Withdrawn(a, amount(), cur))
		case k < 6:
			evts = append(evts, ledgertest.Transfer(events.TransferCompleted, tx, a, b, amount(), cur, 1, 1))
		case k < 8:
			amt := amount()
			debited := ledgertest.Transfer(events.TransferDebited, tx, a, b, amt, cur, 0, 1)
			redriven := debited
			redriven.ID = ledgertest.NewID()
			evts = append(evts, debited, redriven,
				ledgertest.Transfer(events.TransferCredited, tx, a, b, amt, cur, 0, 1),
				ledgertest.Transfer(events.TransferCompleted, tx, a, b, amt, cur, 0, 1))
		case k < 9:
			amt := amount()
			evts = append(evts, ledgertest.Transfer(events.TransferDebited, tx, a, b, amt, cur, 0, 1),
				ledgertest.Transfer(events.TransferCreditRejected, tx, a, b, amt, cur, 0, 1),
				ledgertest.Transfer(events.TransferFailed, tx, a, b, amt, cur, 0, 1))
		default:
			evts = append(evts, ledgertest.Event(events.AccountStatusChanged, a, events.Account{AccountID: a}))
		}
	}
	return evts
}

// dump is a store's whole content in a comparable form, without ids.
func dump(t *testing.T, db *sqlx.DB) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"accounts": "SELECT CONCAT_WS(' ', account_id, currency, balance) FROM ledger_accounts ORDER BY account_id",
		"journals": `SELECT CONCAT_WS(' ', event_id, event_type, transaction_id, origin_account, occurred_at)
			FROM journal_transactions ORDER BY id`,
		"entries": `SELECT CONCAT_WS(' ', j.event_id, e.account_id, e.currency, e.amount, e.balance_after, e.occurred_at)
			FROM journal_entries e JOIN journal_transactions j ON j.id = e.journal_id ORDER BY e.id`,
		"inbox": "SELECT event_id FROM inbox ORDER BY event_id",
	}
	out := map[string][]string{}
	for name, q := range queries {
		var rows []string
		if err := db.Select(&rows, q); err != nil {
			t.Fatalf("dump %s: %v", name, err)
		}
		out[name] = rows
	}
	return out
}

// Applying a history in batches (of several sizes, the largest over the
// statements' chunk size) leaves exactly what applying it one by one does.
// Each way fills a store of its own, all at once: one by one and batches
// of one are some 3,000 transactions, which took minutes in turn on a
// loaded machine.
func TestApplyBatchEqualsOneByOne(t *testing.T) {
	evts := history(1500)
	const oneByOne = 0
	var mu sync.Mutex
	dumps := map[int]map[string][]string{} // by batch size, oneByOne for Apply
	sizes := []int{1, 7, 100, len(evts)}
	t.Run("apply", func(t *testing.T) {
		for _, size := range append([]int{oneByOne}, sizes...) {
			name := fmt.Sprintf("batches of %d", size)
			if size == oneByOne {
				name = "one by one"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s, db := ledgertest.MustStore(t)
				if size == oneByOne {
					for _, e := range evts {
						mustApply(t, s, e)
					}
				} else {
					for part := range slices.Chunk(evts, size) {
						mustApplyBatch(t, s, part...)
					}
					assertJournalBalanced(t, db)
				}
				assertBalanceAfter(t, db)
				d := dump(t, db)
				mu.Lock()
				dumps[size] = d
				mu.Unlock()
			})
		}
	})
	want := dumps[oneByOne]
	if want == nil {
		t.FailNow() // applying failed, and said why
	}
	if len(want["entries"]) < 1200 {
		t.Fatalf("history has %d entries, want more than a statement chunk", len(want["entries"]))
	}
	for _, size := range sizes {
		got := dumps[size]
		if got == nil {
			continue // its subtest failed
		}
		for table, rows := range want {
			if !slices.Equal(got[table], rows) {
				t.Errorf("batches of %d: %s differ: %d rows, want %d; first difference %s", size, table, len(got[table]), len(rows),
					firstDifference(got[table], rows))
			}
		}
	}
}

func firstDifference(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %q, want %q", i, got[i], want[i])
		}
	}
	return "in length"
}

// Redelivered events, also twice inside one batch, are applied once.
func TestApplyBatchDedupesRedeliveries(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	first := ledgertest.Deposited("alice", "10.00", "USD")
	second := ledgertest.Deposited("alice", "5.00", "USD")
	if got := mustApplyBatch(t, s, first, first, second, first); !slices.Equal(got, []bool{true, false, true, false}) {
		t.Errorf("applied %v, want [true false true false]", got)
	}
	third := ledgertest.Deposited("alice", "1.00", "USD")
	if got := mustApplyBatch(t, s, second, third, first, third); !slices.Equal(got, []bool{false, true, false, false}) {
		t.Errorf("redelivered batch applied %v, want [false true false false]", got)
	}
	assertBalance(t, s, "alice", "16")
	if n := count(t, db, "journal_transactions"); n != 3 {
		t.Errorf("%d journal transactions, want 3", n)
	}
	if n := count(t, db, "inbox"); n != 3 {
		t.Errorf("%d inbox rows, want 3", n)
	}
	assertBalanceAfter(t, db)
}

// A redriven saga step (same business key, new event id) is journaled once,
// whether the repeat comes in the same batch or a later one; both event ids
// are recorded, so their redeliveries are plain duplicates.
func TestApplyBatchRepeatedStep(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	debited := ledgertest.Transfer(events.TransferDebited, "t1", "alice", "bob", "4", "USD", 0, 1)
	redriven := debited
	redriven.ID = ledgertest.NewID()
	again := debited
	again.ID = ledgertest.NewID()
	credited := ledgertest.Transfer(events.TransferCredited, "t1", "alice", "bob", "4", "USD", 0, 1)
	if got := mustApplyBatch(t, s, ledgertest.Deposited("alice", "10", "USD"), debited, redriven, credited); !slices.Equal(got, []bool{true, true, false, true}) {
		t.Errorf("applied %v, want [true true false true]", got)
	}
	if got := mustApplyBatch(t, s, again, redriven); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("later repeats applied %v, want [false false]", got)
	}
	if n := count(t, db, "journal_transactions"); n != 3 {
		t.Errorf("%d journal transactions, want 3 (deposit, one debit, credit)", n)
	}
	if n := count(t, db, "inbox"); n != 5 {
		t.Errorf("%d inbox rows, want every event id (5)", n)
	}
	assertBalance(t, s, "alice", "6")
	assertBalance(t, s, "bob", "4")
	assertBalance(t, s, ledger.InFlight("USD"), "0")
}

// An event that conflicts with the ledger fails alone: the events before and
// after it in the batch are applied, it leaves no trace, and the events
// behind it are decided as if it had never come.
func TestApplyBatchConflictInTheMiddle(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	conflict := ledgertest.Deposited("dave", "1.00", "USD") // dave is opened in EUR
	unbalanced, err := ledger.FromEvent(ledgertest.Deposited("erin", "3.00", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	unbalanced.Postings = unbalanced.Postings[1:]
	effs := append(effects(t, []events.Event{
		ledgertest.Opened("dave", "EUR"),
		ledgertest.Deposited("carol", "2.00", "USD"),
		conflict,
		ledgertest.Deposited("dave", "5.00", "EUR"),
	}), unbalanced)
	effs = append(effs, effects(t, []events.Event{ledgertest.Deposited("carol", "1.00", "USD")})...)

	out := applyBatch(t, s, effs)
	for i, o := range out {
		wantConflict := i == 2 || i == 4
		if wantConflict != errors.Is(o.Err, ledger.ErrConflict) || wantConflict == o.Applied {
			t.Errorf("event %d: %+v, want conflict %v", i, o, wantConflict)
		}
	}
	assertBalance(t, s, "dave", "5")
	assertBalance(t, s, "carol", "3")
	assertBalance(t, s, ledger.World("EUR"), "-5")
	assertBalance(t, s, ledger.World("USD"), "-3")
	var inboxed int
	if err := db.Get(&inboxed, "SELECT COUNT(*) FROM inbox WHERE event_id IN (?, ?)", conflict.ID, unbalanced.EventID); err != nil {
		t.Fatal(err)
	}
	if inboxed != 0 {
		t.Errorf("%d conflicting events in the inbox, want none", inboxed)
	}
	if n := count(t, db, "ledger_accounts"); n != 4 {
		t.Errorf("%d ledger accounts, want 4 (dave, carol and the two @world): conflicts create none", n)
	}
	assertBalanceAfter(t, db)
}

// When the batch transaction fails for a reason no event names (here a
// value the schema refuses: data too long, a permanent error), the events
// are applied one by one: the bad one is set aside as a conflict (the
// consumer keeps it as a dead letter), it takes its turn in the stream's
// sequence, and the events before and behind it are applied.
func TestApplyBatchSetsAsidePermanentDataErrors(t *testing.T) {
	s, db := ledgertest.MustStore(t)
	bad, err := ledger.FromEvent(ledgertest.Deposited("frank", "1.00", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	bad.EventType = strings.Repeat("x", 65) // journal_transactions.event_type is VARCHAR(64)
	before := effects(t, []events.Event{ledgertest.Deposited("gina", "2.00", "USD")})
	behind := effects(t, []events.Event{ledgertest.Deposited("gina", "3.00", "USD")})
	batch := slices.Concat(before, []ledger.Effect{bad}, behind)
	for i := range batch {
		batch[i].Seq = uint64(i + 1)
	}

	fallbacks0 := fallbacks(t)
	out := s.ApplyBatch(context.Background(), batch)
	if got := fallbacks(t) - fallbacks0; got != 1 {
		t.Errorf("fallback counter rose by %v, want 1", got)
	}
	if !out[0].Applied || out[0].Err != nil || !out[2].Applied || out[2].Err != nil {
		t.Errorf("events around the bad one: %+v, %+v, want applied", out[0], out[2])
	}
	if !errors.Is(out[1].Err, ledger.ErrConflict) || out[1].Applied {
		t.Errorf("bad event: %+v, want set aside as a conflict", out[1])
	}
	assertBalance(t, s, "gina", "5")
	if n := count(t, db, "inbox"); n != 2 {
		t.Errorf("%d inbox rows, want 2", n)
	}
	var pos uint64
	if err := db.Get(&pos, "SELECT stream_seq FROM ledger_position WHERE id = 1"); err != nil || pos != 3 {
		t.Fatalf("position %d (%v), want 3: the set-aside event took its turn", pos, err)
	}
	// A redelivery of the bad one is behind the position, and set aside
	// again: its dead letter may not have been recorded the first time.
	if got := s.ApplyBatch(context.Background(), []ledger.Effect{batch[1]}); got[0].Err == nil || got[0].Err.Error() != out[1].Err.Error() || got[0].Applied {
		t.Errorf("redelivered bad event: %+v, want set aside again as %v", got[0], out[1].Err)
	}
	next := effects(t, []events.Event{ledgertest.Deposited("gina", "4.00", "USD")})
	next[0].Seq = 4
	if got := applyBatch(t, s, next); !got[0].Applied {
		t.Errorf("the next event: %+v", got[0])
	}
	assertBalance(t, s, "gina", "9")
	assertBalanceAfter(t, db)
}
