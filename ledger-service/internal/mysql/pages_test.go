package mysql_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
)

// walk reads every page of accountID's entries with limit, newest first,
// following the cursor, and returns the entries and how many pages it took.
func walk(t *testing.T, s *mysql.Store, accountID string, limit int) ([]ledger.Entry, int) {
	t.Helper()
	es, pages, err := walkPages(s, accountID, limit)
	if err != nil {
		t.Fatal(err)
	}
	return es, pages
}

// walkPages is walk for goroutines that are not the test's.
func walkPages(s *mysql.Store, accountID string, limit int) ([]ledger.Entry, int, error) {
	var all []ledger.Entry
	var before int64
	for pages := 1; ; pages++ {
		p, err := s.Entries(context.Background(), accountID, before, limit)
		if err != nil {
			return nil, 0, fmt.Errorf("Entries(%s, before %d, limit %d): %w", accountID, before, limit, err)
		}
		if len(p.Entries) > limit {
			return nil, 0, fmt.Errorf("page %d holds %d entries, limit %d", pages, len(p.Entries), limit)
		}
		if p.Next != 0 && (len(p.Entries) != limit || p.Next != p.Entries[len(p.Entries)-1].ID) {
			return nil, 0, fmt.Errorf("page %d: %d entries with cursor %d; a cursor must follow a full page and be its last entry", pages, len(p.Entries), p.Next)
		}
		all = append(all, p.Entries...)
		if p.Next == 0 {
			return all, pages, nil
		}
		before = p.Next
	}
}

// checkChain fails the test unless chainErr finds nothing.
func checkChain(t *testing.T, es []ledger.Entry, start decimal.Decimal) {
	t.Helper()
	if err := chainErr(es, start); err != nil {
		t.Fatal(err)
	}
}

// chainErr reports an error unless es are strictly newest first (nothing
// repeated) and each entry's balance_after is the next older one's plus
// its amount (nothing skipped in between); the oldest must start from start.
func chainErr(es []ledger.Entry, start decimal.Decimal) error {
	for i, e := range es {
		older := start
		if i+1 < len(es) {
			older = es[i+1].BalanceAfter
			if es[i+1].ID >= e.ID {
				return fmt.Errorf("entry %d (id %d) is followed by id %d: repeated or out of order", i, e.ID, es[i+1].ID)
			}
		}
		if !older.Add(e.Amount).Equal(e.BalanceAfter) {
			return fmt.Errorf("entry %d (id %d): %s + %s != balance_after %s: an entry in between is missing", i, e.ID, older, e.Amount, e.BalanceAfter)
		}
	}
	return nil
}

// Pages at every boundary: limit 1, n−1, n and n+1, and a cursor at the
// last entry of a page, give the operations performed, newest first, each
// once, with no empty trailing page.
func TestEntriesPageBoundaries(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	const n = 6
	mustApply(t, s, ledgertest.Opened("erin", "USD"))
	// The operations, oldest first: erin's amounts and her balances after.
	ops := []events.Event{
		ledgertest.Deposited("erin", "10.00", "USD"),
		ledgertest.Withdrawn("erin", "3.00", "USD"),
		ledgertest.Transfer(events.TransferCompleted, ledgertest.NewID(), "erin", "fay", "2.50", "USD", 0, 0),
		ledgertest.Transfer(events.TransferCompleted, ledgertest.NewID(), "fay", "erin", "1.25", "USD", 0, 0),
		ledgertest.Transfer(events.TransferDebited, ledgertest.NewID(), "erin", "gus", "4.00", "USD", 0, 1),
		ledgertest.Deposited("erin", "0.01", "USD"),
	}
	amounts := []string{"10", "-3", "-2.5", "1.25", "-4", "0.01"}
	mustApply(t, s, ledgertest.Deposited("fay", "5.00", "USD"))
	for _, e := range ops {
		mustApply(t, s, e)
	}
	// newest first, as the API pages them
	var want []string
	balance := decimal.Zero
	for _, a := range amounts {
		balance = balance.Add(decimal.RequireFromString(a))
		want = append([]string{a + "→" + balance.String()}, want...)
	}
	for _, limit := range []int{1, 2, n - 1, n, n + 1, 500} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			es, pages := walk(t, s, "erin", limit)
			var got []string
			for _, e := range es {
				got = append(got, e.Amount.String()+"→"+e.BalanceAfter.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("entries %v, want %v", got, want)
			}
			if wantPages := (n + limit - 1) / limit; pages != wantPages {
				t.Fatalf("%d pages, want %d (no empty page after a full last one)", pages, wantPages)
			}
			checkChain(t, es, decimal.Zero)
		})
	}
	all, _ := walk(t, s, "erin", n)
	// A cursor at the last entry of a page starts the next page just below it.
	p, err := s.Entries(ctx, "erin", all[1].ID, 2)
	if err != nil || len(p.Entries) != 2 || p.Entries[0].ID != all[2].ID || p.Entries[1].ID != all[3].ID || p.Next != all[3].ID {
		t.Fatalf("page after cursor %d: %+v next %d (%v), want ids %d, %d", all[1].ID, p.Entries, p.Next, err, all[2].ID, all[3].ID)
	}
	// A cursor at the oldest entry: an empty last page, no cursor.
	if p, err := s.Entries(ctx, "erin", all[n-1].ID, 3); err != nil || len(p.Entries) != 0 || p.Next != 0 {
		t.Fatalf("below the oldest: %d entries next %d (%v), want none", len(p.Entries), p.Next, err)
	}
	// An account without entries: one empty page.
	mustApply(t, s, ledgertest.Opened("hal", "USD"))
	if es, pages := walk(t, s, "hal", 3); len(es) != 0 || pages != 1 {
		t.Fatalf("hal: %d entries in %d pages, want 0 in 1", len(es), pages)
	}
}

// The as_of balance at each operation's time, just before it and just
// after it, is the sum of the operations that occurred by then, also when
// they were applied out of time order.
func TestBalanceAsOfFollowsOperations(t *testing.T) {
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	type op struct {
		e     events.Event
		delta string // ivy's change
	}
	at := func(e events.Event, d time.Duration) events.Event { e.Time = t0.Add(d); return e }
	ops := []op{
		{at(ledgertest.Deposited("ivy", "50.00", "USD"), 0), "50"},
		{at(ledgertest.Withdrawn("ivy", "5.00", "USD"), time.Second), "-5"},
		{at(ledgertest.Transfer(events.TransferCompleted, ledgertest.NewID(), "ivy", "jo", "7.50", "USD", 0, 0), time.Second+time.Microsecond), "-7.5"},
		{at(ledgertest.Transfer(events.TransferDebited, ledgertest.NewID(), "ivy", "kim", "2.00", "USD", 0, 1), time.Minute), "-2"},
		{at(ledgertest.Deposited("jo", "9.00", "USD"), time.Minute), "0"},
		{at(ledgertest.Transfer(events.TransferCompleted, ledgertest.NewID(), "jo", "ivy", "3.00", "USD", 0, 0), time.Hour), "3"},
	}
	// Applied in another order than they occurred (a shard's events arrive late).
	for _, i := range []int{0, 3, 1, 5, 2, 4} {
		mustApply(t, s, ops[i].e)
	}
	want := func(asOf time.Time) decimal.Decimal {
		sum := decimal.Zero
		for _, o := range ops {
			if !o.e.Time.After(asOf) {
				sum = sum.Add(decimal.RequireFromString(o.delta))
			}
		}
		return sum
	}
	for _, o := range ops {
		for _, asOf := range []time.Time{o.e.Time.Add(-time.Microsecond), o.e.Time, o.e.Time.Add(time.Microsecond)} {
			b, err := s.Balance(ctx, "ivy", asOf)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Balance.Equal(want(asOf)) {
				t.Errorf("as of %s: %s, want %s", asOf.Format(time.RFC3339Nano), b.Balance, want(asOf))
			}
		}
	}
}

// While several goroutines apply batches concurrently (each in the time
// order of its own operations, batches of 1 to 8, with redeliveries),
// cursor walks of a hot account never skip or repeat an entry: every page
// continues exactly below the previous one, and each walk is exactly the
// entries at or below where it started. Meanwhile as_of balances at a time
// every goroutine has passed equal the sum of the operations that occurred
// by then.
func TestPagesAndAsOfUnderConcurrentApply(t *testing.T) {
	if testing.Short() {
		t.Skip("concurrency test")
	}
	s, _ := ledgertest.MustStore(t)
	ctx := context.Background()
	const (
		hot     = "hot"
		workers = 4
		perW    = 150
	)
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	mustApply(t, s, ledgertest.Opened(hot, "USD"))
	for _, id := range []string{"peer-0", "peer-1", "peer-2"} {
		mustApply(t, s, ledgertest.Opened(id, "USD"))
	}

	// Operation i occurs at t0 + i ms and belongs to worker i % workers, so
	// the workers' times interleave.
	type op struct {
		e     events.Event
		delta decimal.Decimal // hot's change
	}
	r := rand.New(rand.NewPCG(7, 8))
	ops := make([]op, workers*perW)
	for i := range ops {
		amount := decimal.New(int64(1+r.IntN(900)), -2)
		peer := fmt.Sprint("peer-", r.IntN(3))
		tx := ledgertest.NewID()
		var o op
		switch r.IntN(5) {
		case 0, 1:
			o = op{ledgertest.Deposited(hot, amount.StringFixed(2), "USD"), amount}
		case 2:
			o = op{ledgertest.Withdrawn(hot, amount.StringFixed(2), "USD"), amount.Neg()}
		case 3:
			o = op{ledgertest.Transfer(events.TransferCompleted, tx, hot, peer, amount.StringFixed(2), "USD", 0, 0), amount.Neg()}
		default:
			o = op{ledgertest.Transfer(events.TransferCompleted, tx, peer, hot, amount.StringFixed(2), "USD", 0, 0), amount}
		}
		o.e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		ops[i] = o
	}
	sumBy := func(asOf time.Time) decimal.Decimal {
		sum := decimal.Zero
		for _, o := range ops {
			if !o.e.Time.After(asOf) {
				sum = sum.Add(o.delta)
			}
		}
		return sum
	}

	// done[w] is the index of the last operation worker w committed (-1: none).
	var done [workers]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, workers+4)
	for w := range workers {
		done[w].Store(-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			mine := []int{}
			for i := w; i < len(ops); i += workers {
				mine = append(mine, i)
			}
			for len(mine) > 0 {
				n := min(1+r.IntN(8), len(mine))
				var batch []events.Event
				for _, i := range mine[:n] {
					batch = append(batch, ops[i].e)
				}
				if r.IntN(4) == 0 {
					batch = append(batch, batch[0]) // a redelivery in the same batch
				}
				effs := make([]ledger.Effect, len(batch))
				for k, e := range batch {
					eff, err := ledger.FromEvent(e)
					if err != nil {
						errs <- err
						return
					}
					effs[k] = eff
				}
				for k, o := range s.ApplyBatch(ctx, effs) {
					if o.Err != nil {
						errs <- fmt.Errorf("worker %d, event %d: %w", w, k, o.Err)
						return
					}
				}
				done[w].Store(int64(mine[n-1]))
				mine = mine[n:]
			}
		}()
	}
	// passed is the newest time every worker has passed: each applies its
	// operations in time order, so all those at or before it are committed.
	passed := func() (time.Time, bool) {
		low := int64(len(ops))
		for w := range workers {
			low = min(low, done[w].Load())
		}
		return t0.Add(time.Duration(low) * time.Millisecond), low >= 0
	}

	var walks, asOfs atomic.Int64
	var readers sync.WaitGroup
	var mu sync.Mutex
	var walked [][]int64 // each walk's entry ids, to compare with the final history
	for _, limit := range []int{1, 7, 50} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				es, _, err := walkPages(s, hot, limit)
				if err == nil {
					err = chainErr(es, decimal.Zero)
				}
				if err != nil {
					errs <- fmt.Errorf("walk with limit %d: %w", limit, err)
					return
				}
				ids := make([]int64, len(es))
				for i, e := range es {
					ids[i] = e.ID
				}
				mu.Lock()
				walked = append(walked, ids)
				mu.Unlock()
				walks.Add(1)
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			at, ok := passed()
			if !ok {
				continue
			}
			for _, asOf := range []time.Time{at, at.Add(-time.Millisecond / 2), at.Add(-3 * time.Millisecond)} {
				b, err := s.Balance(ctx, hot, asOf)
				if err != nil {
					errs <- err
					return
				}
				if want := sumBy(asOf); !b.Balance.Equal(want) {
					errs <- fmt.Errorf("as of %s (every worker past it): %s, want %s", asOf.Format(time.RFC3339Nano), b.Balance, want)
					return
				}
				asOfs.Add(1)
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if walks.Load() == 0 || asOfs.Load() == 0 {
		t.Fatalf("%d walks and %d as_of reads ran during the load; want some of each", walks.Load(), asOfs.Load())
	}

	// Once everything is applied: one entry per operation, newest first,
	// and every as_of agrees with the operations.
	es, _ := walk(t, s, hot, 50)
	if len(es) != len(ops) {
		t.Fatalf("%d entries, want one per operation: %d", len(es), len(ops))
	}
	checkChain(t, es, decimal.Zero)
	// Each walk taken during the load is exactly the final history from
	// where it started down: entries arrive above a walk, never inside it.
	for k, ids := range walked {
		if len(ids) == 0 {
			continue
		}
		start := slices.IndexFunc(es, func(e ledger.Entry) bool { return e.ID == ids[0] })
		if start < 0 || len(es)-start != len(ids) {
			t.Fatalf("walk %d started at id %d and saw %d entries; the final history holds %d from there", k, ids[0], len(ids), len(es)-start)
		}
		for i, id := range ids {
			if es[start+i].ID != id {
				t.Fatalf("walk %d: entry %d is id %d, the final history has %d there", k, i, id, es[start+i].ID)
			}
		}
	}
	for i := 0; i < len(ops); i += 37 {
		asOf := ops[i].e.Time
		b, err := s.Balance(ctx, hot, asOf)
		if err != nil || !b.Balance.Equal(sumBy(asOf)) {
			t.Fatalf("as of op %d: %s (%v), want %s", i, b.Balance, err, sumBy(asOf))
		}
	}
	t.Logf("%d walks and %d as_of reads during the load", walks.Load(), asOfs.Load())
}
