package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Funding is how much each account gets before the load. Transfers are
// drawn at random, so an account's balance wanders; these leave room for
// about a million transfers in a row out of one account (ten million for the
// hot one, which takes part in many more), so insufficient funds is rare
// and means something. Balances stay far below the service's 15-digit cap.
const (
	fundingTransfers    = 1_000_000
	hotFundingTransfers = 10_000_000
)

// Accounts is what setup made: the ids (ids[0] is the hot one) and the sum
// of the deposits, which conservation is checked against.
type Accounts struct {
	Prefix    string
	IDs       []string
	Deposited decimal.Decimal
}

// runPrefix returns a fresh account id prefix, e.g. "bench-191203-a1b2c3-":
// readable, unique per run, and free of '_' and '%' so LIKE 'prefix%' means
// exactly these accounts.
func runPrefix(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("bench-%s-%s-", now.UTC().Format("150405"), hex.EncodeToString(b))
}

// fundingFor returns the deposit of account i (i 0 is the hot one).
func fundingFor(i int, amount decimal.Decimal) decimal.Decimal {
	if i == 0 {
		return amount.Mul(decimal.NewFromInt(hotFundingTransfers))
	}
	return amount.Mul(decimal.NewFromInt(fundingTransfers))
}

// setup opens n accounts through the API, spread over the logical shards by
// accountIDs, and funds each with one deposit, from a few workers at once
// (setup is not timed, only kept short); route gives the service to ask
// for an account.
func setup(ctx context.Context, route func(id string) *API, prefix string, n, shards int, amount decimal.Decimal) (Accounts, error) {
	ids := accountIDs(prefix, n, shards)
	acc := Accounts{Prefix: prefix, IDs: ids, Deposited: decimal.Zero}
	for i := range ids {
		acc.Deposited = acc.Deposited.Add(fundingFor(i, amount))
	}
	work := make(chan int)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				errs <- openAndFund(ctx, route(ids[i]), ids[i], fundingFor(i, amount))
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return Accounts{}, err
		}
	}
	return acc, nil
}

func openAndFund(ctx context.Context, api *API, id string, funding decimal.Decimal) error {
	if err := api.OpenAccount(ctx, id); err != nil {
		return err
	}
	return api.Deposit(ctx, id, funding.StringFixed(2), uuid.NewString())
}
