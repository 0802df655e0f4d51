package reconcile

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/shardread"
)

const checkAccounts = "shard accounts = ledger accounts"

// ledgerAccount is a ledger_accounts row.
type ledgerAccount struct {
	ID       string          `db:"account_id"`
	Currency string          `db:"currency"`
	Balance  decimal.Decimal `db:"balance"`
}

// suspect is a shard account that differed from its partition's ledger
// when last read.
type suspect struct {
	shard int
	acc   shardread.Account
}

// accounts compares every account of partition p's shards, as
// account-service reports them, with the partition's ledger account.
// Accounts that differ are re-checked after the ledger has settled
// (recheck).
func (r *run) accounts(ctx context.Context, p Partition) error {
	c := r.rep.check(checkAccounts)
	m := r.meter(partitionName(p.N)+" accounts", "accounts", 0)
	var suspects []suspect
	for _, sh := range r.src.shardsOf(p.N) {
		after := ""
		for {
			page, err := r.src.Accounts.Accounts(ctx, sh, after, min(r.opts.Page, shardread.MaxLimit))
			if err != nil {
				return fmt.Errorf("%s: read accounts: %w", r.shardName(sh), err)
			}
			if len(page.Accounts) == 0 {
				break
			}
			held, err := ledgerAccounts(ctx, p, idsOf(page.Accounts))
			if err != nil {
				return err
			}
			for _, a := range page.Accounts {
				if differs(a, held[a.AccountID]) != nil {
					suspects = append(suspects, suspect{shard: sh, acc: a})
				}
			}
			c.Checked += int64(len(page.Accounts))
			m.Report(uint64(c.Checked), false)
			if len(suspects) >= r.opts.MaxSuspects {
				if err := r.recheck(ctx, p, suspects); err != nil {
					return err
				}
				suspects = nil
			}
			if page.NextAfter == "" {
				break
			}
			after = page.NextAfter
		}
	}
	m.Report(uint64(c.Checked), true)
	return r.recheck(ctx, p, suspects)
}

// recheck waits for the ledger to settle and compares suspects again: the
// ledger is read first, the shard after it, so an account whose version is
// still the one the suspect was read at has had no event since, and the
// ledger has applied all of its events — any difference left is real. An
// account that changed is read anew and checked in the next round, up to
// Rounds times; then it is reported unverified.
func (r *run) recheck(ctx context.Context, p Partition, suspects []suspect) error {
	for round := 0; len(suspects) > 0; round++ {
		if round == r.opts.Rounds {
			for _, s := range suspects {
				r.rep.add(checkAccounts, Finding{Kind: Unverified, Where: r.shardName(s.shard), Subject: s.acc.AccountID,
					Detail: fmt.Sprintf("changed on each of %d re-checks; compare it again later", r.opts.Rounds)})
			}
			return nil
		}
		if err := r.settle(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The ledger is behind and stays so: what differs now is what
			// finance would read, so it is reported, with the reason.
			for _, s := range suspects {
				r.report(s.shard, s.acc, nil, fmt.Sprintf(" (the ledger did not catch up within %s: %v)", r.opts.SettleTimeout, err))
			}
			return nil
		}
		ids := make([]string, len(suspects))
		for i, s := range suspects {
			ids[i] = s.acc.AccountID
		}
		held, err := ledgerAccounts(ctx, p, ids)
		if err != nil {
			return err
		}
		now, err := r.shardAccounts(ctx, suspects)
		if err != nil {
			return err
		}
		var next []suspect
		for _, s := range suspects {
			a, ok := now[s.acc.AccountID]
			switch {
			case !ok:
				return fmt.Errorf("%s: account %s disappeared during the run", r.shardName(s.shard), s.acc.AccountID)
			case a.Version != s.acc.Version:
				next = append(next, suspect{shard: s.shard, acc: a})
			default:
				r.report(s.shard, a, held[a.AccountID], "")
			}
		}
		suspects = next
	}
	return nil
}

// settle waits up to SettleTimeout for the ledger to catch up.
func (r *run) settle(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, r.opts.SettleTimeout)
	defer cancel()
	return r.src.Settled(wait)
}

// report adds the finding for a settled shard account a against its ledger
// account l (nil if the ledger has none), if they differ.
func (r *run) report(sh int, a shardread.Account, l *ledgerAccount, why string) {
	if f := differs(a, l); f != nil {
		f.Where, f.Detail = r.shardName(sh), f.Detail+why
		r.rep.add(checkAccounts, *f)
	}
}

// differs compares a shard account with its ledger account (nil when the
// ledger has none) and returns the finding, without Where, or nil.
func differs(a shardread.Account, l *ledgerAccount) *Finding {
	switch {
	case l == nil:
		return &Finding{Kind: MissingInLedger, Subject: a.AccountID, Detail: fmt.Sprintf("shard holds %s %s; the ledger has no account", a.Balance.StringFixed(4), a.Currency)}
	case l.Currency != a.Currency:
		return &Finding{Kind: CurrencyMismatch, Subject: a.AccountID, Detail: fmt.Sprintf("shard holds it in %s, the ledger in %s", a.Currency, l.Currency)}
	case !l.Balance.Equal(a.Balance):
		return &Finding{Kind: BalanceMismatch, Subject: a.AccountID, Detail: fmt.Sprintf("shard %s, ledger %s %s (difference %s)",
			a.Balance.StringFixed(4), l.Balance.StringFixed(4), a.Currency, a.Balance.Sub(l.Balance).StringFixed(4))}
	}
	return nil
}

// ledgerAccounts reads partition p's ledger accounts of ids that exist.
func ledgerAccounts(ctx context.Context, p Partition, ids []string) (map[string]*ledgerAccount, error) {
	out := make(map[string]*ledgerAccount, len(ids))
	err := database.SelectIn(ctx, p.DB, "SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id IN (?)", ids,
		func(a ledgerAccount) error { out[a.ID] = &a; return nil })
	if err != nil {
		return nil, fmt.Errorf("%s: read accounts: %w", partitionName(p.N), err)
	}
	return out, nil
}

// shardAccounts reads the suspects' accounts again, each from its shard.
func (r *run) shardAccounts(ctx context.Context, suspects []suspect) (map[string]shardread.Account, error) {
	byShard := map[int][]string{}
	for _, s := range suspects {
		byShard[s.shard] = append(byShard[s.shard], s.acc.AccountID)
	}
	out := map[string]shardread.Account{}
	for sh, ids := range byShard {
		found, err := r.src.Accounts.Lookup(ctx, sh, ids)
		if err != nil {
			return nil, fmt.Errorf("%s: read accounts: %w", r.shardName(sh), err)
		}
		for _, a := range found {
			out[a.AccountID] = a
		}
	}
	return out, nil
}

func idsOf(page []shardread.Account) []string {
	ids := make([]string, len(page))
	for i, a := range page {
		ids[i] = a.AccountID
	}
	return ids
}
