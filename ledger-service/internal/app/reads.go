package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

// reads answers the HTTP API (httpapi.Store, httpapi.Owners) from the
// partitions' schemas: an account's balance, entries and owner from its
// partition (account → shard → partition), a transfer's journal from every
// partition (a cross-partition transfer is booked in two), merged. Every
// instance answers for every partition, held or not: reads need no lease.
type reads struct {
	stores     []*mysql.Store // by partition
	shards     int
	partitions int
}

// of is the store of accountID's partition.
func (r reads) of(accountID string) *mysql.Store {
	return r.stores[events.Partition(shard.Of(accountID, r.shards), r.shards, r.partitions)]
}

// system reports a system account (@world:USD): every partition has its
// own, and a read answers their sum.
func system(accountID string) bool { return strings.HasPrefix(accountID, "@") }

func (r reads) Balance(ctx context.Context, accountID string, asOf time.Time) (ledger.Balance, error) {
	if !system(accountID) {
		return r.of(accountID).Balance(ctx, accountID, asOf)
	}
	var sum ledger.Balance
	found := false
	for _, s := range r.stores {
		b, err := s.Balance(ctx, accountID, asOf)
		if notFound(err) {
			continue
		}
		if err != nil {
			return ledger.Balance{}, err
		}
		if !found {
			sum, found = b, true
			continue
		}
		sum.Balance = sum.Balance.Add(b.Balance)
	}
	if !found {
		return ledger.Balance{}, problem.New(problem.AccountNotFound, "the ledger has no account %q", accountID)
	}
	return sum, nil
}

// Entries of a customer account come from its partition. A system
// account's entries are each partition's, merged newest first by the time
// they occurred; their ids and balance_after are per partition, so such a
// page has no cursor (Next 0): staff read a system account's totals from
// its balance.
func (r reads) Entries(ctx context.Context, accountID string, before int64, limit int) (ledger.Page, error) {
	if !system(accountID) {
		return r.of(accountID).Entries(ctx, accountID, before, limit)
	}
	var all []ledger.Entry
	found := false
	for _, s := range r.stores {
		p, err := s.Entries(ctx, accountID, 0, limit)
		if notFound(err) {
			continue
		}
		if err != nil {
			return ledger.Page{}, err
		}
		found = true
		all = append(all, p.Entries...)
	}
	if !found {
		return ledger.Page{}, problem.New(problem.AccountNotFound, "the ledger has no account %q", accountID)
	}
	slices.SortStableFunc(all, func(a, b ledger.Entry) int { return b.OccurredAt.Compare(a.OccurredAt) })
	if len(all) > limit {
		all = all[:limit]
	}
	return ledger.Page{Entries: all}, nil
}

// Transfer reads the transfer's journal in every partition: a transfer
// across partitions has its debit in the source's and its credit in the
// destination's. The journals are merged in the order they were recorded.
func (r reads) Transfer(ctx context.Context, transactionID, from string) ([]ledger.Journal, error) {
	var out []ledger.Journal
	for _, s := range r.stores {
		js, err := s.Transfer(ctx, transactionID, from)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return nil, err // ambiguous_transaction_id within one partition too
		}
		out = append(out, js...)
	}
	if len(out) == 0 {
		return nil, problem.New(problem.NotFound, "the ledger has no transfer %q", transactionID)
	}
	var froms []string
	for _, j := range out {
		if !slices.Contains(froms, j.Origin) {
			froms = append(froms, j.Origin)
		}
	}
	if len(froms) > 1 {
		slices.Sort(froms)
		return nil, problem.New(problem.AmbiguousTransactionID,
			"transaction_id %s was used by %d source accounts, each for its own transfer; name one with ?from_account=", transactionID, len(froms)).
			With("from_accounts", froms)
	}
	slices.SortStableFunc(out, func(a, b ledger.Journal) int {
		if c := a.RecordedAt.Compare(b.RecordedAt); c != 0 {
			return c
		}
		return a.OccurredAt.Compare(b.OccurredAt)
	})
	return out, nil
}

// Owner is the owner_id account.opened gave the account, stored in its
// partition (httpapi.Owners).
func (r reads) Owner(ctx context.Context, accountID string) (string, error) {
	if system(accountID) {
		return "", nil
	}
	return r.of(accountID).Owner(ctx, accountID)
}

func notFound(err error) bool { return problem.Is(err, problem.AccountNotFound) }
