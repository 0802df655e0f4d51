package groupcommit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/problem"
)

// Several clients send bulks of transfers among a few hot accounts, some to
// another shard, each bulk with an id twice and some bulks sent twice
// whole. Every answer under one key is the same, money is conserved (the
// cross-shard debits are in flight: no saga runs here), and each hot
// account's events form a gap-free history.
func TestConcurrentBulksOnHotAccounts(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	ctx := context.Background()
	hot := []string{accounttest.IDOn(0), accounttest.IDOn(0), accounttest.IDOn(0)}
	for _, id := range hot {
		f.MustOpen(id, "20.00")
	}
	far := accounttest.IDOn(1)
	f.MustOpen(far, "")
	var mu sync.Mutex
	var answers []answer
	var wg sync.WaitGroup
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 11))
			for range 5 {
				reqs := make([]account.TransferRequest, 40)
				for i := range reqs {
					from, to := hot[rng.IntN(3)], hot[rng.IntN(3)]
					if rng.IntN(10) == 0 {
						to = far
					}
					if to == from {
						to = hot[(rng.IntN(2)+1+indexOf(hot, from))%3]
					}
					reqs[i] = account.TransferRequest{TransactionID: uuid.NewString(), From: from, To: to,
						Amount: accounttest.USD(t, fmt.Sprintf("%d.00", 1+rng.IntN(9)))}
				}
				reqs[39] = reqs[rng.IntN(39)] // an id twice in one bulk
				sends := 1 + rng.IntN(2)      // and the bulk sent again whole
				for range sends {
					res := f.Writer.Transfers(ctx, reqs)
					mu.Lock()
					for i, r := range res {
						var code problem.Code
						if r.Err != nil {
							code = problem.CodeOf(r.Err)
						}
						answers = append(answers, answer{reqs[i], code})
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()

	mustAnswerAlike(t, answers)
	total := decimal.Zero
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
	var inFlight decimal.Decimal
	if err := f.DBs[0].Get(&inFlight, "SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE status = 'pending'"); err != nil {
		t.Fatal(err)
	}
	if !total.Add(inFlight).Equal(decimal.RequireFromString("60")) {
		t.Errorf("balances %s + in flight %s, want 60: money was created or lost", total, inFlight)
	}
	for _, a := range answers {
		if a.code != "" && a.code != problem.InsufficientFunds {
			t.Errorf("%s: unexpected answer %s", a.req.TransactionID, a.code)
		}
	}
	for _, id := range hot {
		mustGapFreeHistory(t, f, id)
	}
}

func indexOf(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}
