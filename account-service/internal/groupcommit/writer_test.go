package groupcommit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type answer struct {
	req  account.TransferRequest
	code problem.Code // "" for success
}

// Many clients move money among a few hot accounts at once, through the
// group commit: some transfers no longer fit the running balance and fail
// alone, some are retried with their key. Afterwards money is conserved, no
// balance is negative, every answer matches what was stored, and each
// account's events form a gap-free history.
func TestConcurrentTransfersOnHotAccounts(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	ctx := context.Background()
	hot := []string{accounttest.IDOn(0), accounttest.IDOn(0), accounttest.IDOn(0)}
	for _, id := range hot {
		f.MustOpen(id, "20.00")
	}
	var mu sync.Mutex
	var answers []answer
	var wg sync.WaitGroup
	for c := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var last account.TransferRequest
			for range 25 {
				req := last
				if req.TransactionID == "" || rng.IntN(5) != 0 { // one in five retries the previous request
					i, j := rng.IntN(3), rng.IntN(2)
					if j >= i {
						j++
					}
					req = account.TransferRequest{TransactionID: uuid.NewString(), From: hot[i], To: hot[j],
						Amount: accounttest.USD(t, fmt.Sprintf("%d.00", 1+rng.IntN(9)))}
				}
				last = req
				_, err := f.Writer.Transfer(ctx, req)
				var code problem.Code
				if err != nil {
					code = problem.CodeOf(err)
				}
				mu.Lock()
				answers = append(answers, answer{req, code})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	total, refused := decimal.Zero, 0
	for _, id := range hot {
		a, err := f.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Balance.IsNegative() {
			t.Errorf("%s has a negative balance %s", id, a.Balance)
		}
		total = total.Add(a.Balance)
	}
	if !total.Equal(decimal.RequireFromString("60")) {
		t.Errorf("balances sum to %s, want 60: money was created or lost", total)
	}
	for _, a := range answers {
		var status string
		err := f.DBs[0].Get(&status, "SELECT status FROM transfers WHERE transaction_id = ?", a.req.TransactionID)
		switch a.code {
		case "":
			if err != nil || status != "completed" {
				t.Errorf("%s answered success but is stored as %q (%v)", a.req.TransactionID, status, err)
			}
		case problem.InsufficientFunds:
			refused++
			// A refused request is stored as its refusal, and moved nothing.
			if err != nil || status != "refused" {
				t.Errorf("%s was refused but stored as %q (%v)", a.req.TransactionID, status, err)
			}
		default:
			t.Errorf("%s: unexpected answer %s", a.req.TransactionID, a.code)
		}
	}
	if refused == 0 {
		t.Log("no transfer ran out of funds; the test still checked conservation and histories")
	}
	mustAnswerAlike(t, answers)
	for _, id := range hot {
		mustGapFreeHistory(t, f, id)
	}
}

// Every answer under one key is the same: a retry replays the first outcome,
// a refusal included.
func mustAnswerAlike(t *testing.T, answers []answer) {
	t.Helper()
	first := map[string]problem.Code{}
	for _, a := range answers {
		if c, ok := first[a.req.TransactionID]; !ok {
			first[a.req.TransactionID] = a.code
		} else if c != a.code {
			t.Errorf("%s answered %q, then %q", a.req.TransactionID, c, a.code)
		}
	}
}

// mustGapFreeHistory checks an account's events in outbox order: its
// version rises by exactly one per balance change (a deposit, a same-shard
// transfer, a cross-shard debit), and each balance_after is the previous
// one plus the change.
func mustGapFreeHistory(t *testing.T, f *accounttest.Fixture, id string) {
	t.Helper()
	var rows []struct {
		Type string `db:"event_type"`
		Data string `db:"data"`
	}
	if err := f.DBs[0].Select(&rows, "SELECT event_type, data FROM outbox ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	balance, version := decimal.Zero, int64(0)
	for _, r := range rows {
		var delta decimal.Decimal
		var after events.Balance
		e := events.Event{Type: r.Type, Data: []byte(r.Data)}
		switch r.Type {
		case events.AccountDeposited:
			p, _ := events.Decode[events.Movement](e)
			if p.AccountID != id {
				continue
			}
			delta, after = decimal.RequireFromString(p.Amount), events.Balance{BalanceAfter: p.BalanceAfter, Version: p.Version}
		case events.TransferCompleted, events.TransferDebited:
			p, _ := events.Decode[events.Transfer](e)
			if p.FromAccount != id && (p.ToAccount != id || r.Type == events.TransferDebited) {
				continue
			}
			delta = decimal.RequireFromString(p.Amount)
			if p.FromAccount == id {
				delta = delta.Neg()
			}
			for _, b := range p.Balances {
				if b.AccountID == id {
					after = b
				}
			}
		default:
			continue
		}
		balance, version = balance.Add(delta), version+1
		if after.Version != version || !decimal.RequireFromString(after.BalanceAfter).Equal(balance) {
			t.Fatalf("%s: event %d says %s@%d, history says %s@%d", id, version, after.BalanceAfter, after.Version, balance, version)
		}
	}
	a, _ := f.Store.Get(context.Background(), id)
	if a.Version != version || !a.Balance.Equal(balance) {
		t.Errorf("%s: stored %s@%d, events add up to %s@%d", id, a.Balance, a.Version, balance, version)
	}
}

// The same transaction_id twice in one batch moves money once; the second
// replays the first; a third with another amount is a conflict.
func TestSameKeyTwiceInOneBatch(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	a, b := accounttest.IDOn(0), accounttest.IDOn(0)
	f.MustOpen(a, "10.00")
	f.MustOpen(b, "")
	key := uuid.NewString()
	op := func(amount string) account.Op {
		return account.Op{Kind: account.OpTransfer, Transfer: account.TransferRequest{TransactionID: key, From: a, To: b, Amount: accounttest.USD(t, amount)}}
	}
	res, err := f.Store.Apply(context.Background(), 0, []account.Op{op("4.00"), op("4.00"), op("5.00")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || !problem.Is(res[2].Err, problem.IdempotencyConflict) {
		t.Fatalf("results %v / %v / %v, want ok, replay, idempotency_conflict", res[0].Err, res[1].Err, res[2].Err)
	}
	if res[1].Transfer.Status != account.Completed || res[1].Transfer.TransactionID != key {
		t.Fatalf("replay answered %+v", res[1].Transfer)
	}
	if f.Balance(a) != "6.00" || f.Balance(b) != "4.00" {
		t.Fatalf("balances %s / %s, want 6.00 / 4.00", f.Balance(a), f.Balance(b))
	}
	var n int
	_ = f.DBs[0].Get(&n, "SELECT COUNT(*) FROM outbox WHERE subject = ?", key)
	if n != 1 {
		t.Fatalf("%d events for the key, want 1", n)
	}
}

// A deadlock (1213) with another transaction rolls the batch back and runs
// it again whole: the transfer is applied once.
func TestDeadlockRetriesTheBatch(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	ctx := context.Background()
	a, b := accounttest.IDOn(0), accounttest.IDOn(0)
	if a > b {
		a, b = b, a // the batch locks a, then b
	}
	f.MustOpen(a, "10.00")
	f.MustOpen(b, "")
	for range 40 { // rows the other transaction changes, so the batch is the cheaper victim
		f.MustOpen(accounttest.IDOn(0), "")
	}
	other, err := f.DBs[0].BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.Exec("UPDATE accounts SET updated_at = NOW(6) WHERE account_id NOT IN (?, ?)", a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec("SELECT balance FROM accounts WHERE account_id = ? FOR UPDATE", b); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Writer.Transfer(ctx, account.TransferRequest{TransactionID: uuid.NewString(), From: a, To: b, Amount: accounttest.USD(t, "3.00")})
		done <- err
	}()
	testenv.Eventually(t, 10*time.Second, 250*time.Millisecond, func() error {
		if waits, err := lockWaits(f); err != nil || waits == 0 {
			return fmt.Errorf("the batch does not wait for b yet (%v)", err)
		}
		return nil
	})
	// Closing the cycle: the batch holds a and waits for b; we hold b and ask for a.
	if _, err := other.Exec("SELECT balance FROM accounts WHERE account_id = ? FOR UPDATE", a); err != nil {
		t.Fatalf("the other transaction was chosen as the deadlock victim (%v); the test needs the batch to be", err)
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("transfer after a deadlock: %v", err)
	}
	if f.Balance(a) != "7.00" || f.Balance(b) != "3.00" {
		t.Fatalf("balances %s / %s, want 7.00 / 3.00", f.Balance(a), f.Balance(b))
	}
}

// A full queue refuses at once with 503 and Retry-After, moving nothing;
// what was queued still commits.
func TestFullQueueRefuses(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{MaxBatch: 1, QueueDepth: 1})
	ctx := context.Background()
	a, b := accounttest.IDOn(0), accounttest.IDOn(0)
	f.MustOpen(a, "10.00")
	f.MustOpen(b, "")
	blocker, err := f.DBs[0].BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback()
	if _, err := blocker.Exec("SELECT balance FROM accounts WHERE account_id = ? FOR UPDATE", a); err != nil {
		t.Fatal(err)
	}
	send := func() error {
		_, err := f.Writer.Transfer(ctx, account.TransferRequest{TransactionID: uuid.NewString(), From: a, To: b, Amount: accounttest.USD(t, "1.00")})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- send() }()
	testenv.Eventually(t, 10*time.Second, 250*time.Millisecond, func() error {
		if waits, err := lockWaits(f); err != nil || waits == 0 {
			select {
			case err := <-first:
				t.Fatalf("the first transfer returned %v while its account was locked", err)
			default:
			}
			return fmt.Errorf("the first batch is not waiting yet (%v)", err)
		}
		return nil
	})
	// The writer is busy with the first; one more fits the queue, the next is refused.
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- send() }()
	}
	var refusal error
	select {
	case refusal = <-results:
	case <-time.After(30 * time.Second):
		t.Fatal("neither request was refused while the queue was full")
	}
	var pe *problem.Error
	if !problem.Is(refusal, problem.Unavailable) || !asProblem(refusal, &pe) || pe.RetryAfter <= 0 {
		t.Fatalf("refusal %v, want unavailable with a Retry-After", refusal)
	}
	if err := blocker.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	if f.Balance(a) != "8.00" || f.Balance(b) != "2.00" {
		t.Fatalf("balances %s / %s: the refused transfer must move nothing", f.Balance(a), f.Balance(b))
	}
}

// lockWaits counts transactions waiting for a row lock. InnoDB refreshes
// INNODB_TRX only when it was not read for 100ms: poll it slower than that.
func lockWaits(f *accounttest.Fixture) (int, error) {
	var states []string
	if err := f.DBs[0].Select(&states, "SELECT trx_state FROM information_schema.INNODB_TRX"); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range states {
		if s == "LOCK WAIT" {
			n++
		}
	}
	return n, nil
}

func asProblem(err error, pe **problem.Error) bool {
	e, ok := err.(*problem.Error)
	*pe = e
	return ok
}
