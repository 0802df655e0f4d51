package reconcile

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/database"
)

const checkAccounts = "shard accounts = ledger accounts"

// shardAccount is an accounts row as a shard holds it. version grows with
// every change of the row, so an unchanged version means an unchanged
// account.
type shardAccount struct {
	ID       string          `db:"account_id"`
	Currency string          `db:"currency"`
	Balance  decimal.Decimal `db:"balance"`
	Version  int64           `db:"version"`
}

// ledgerAccount is a ledger_accounts row.
type ledgerAccount struct {
	ID       string          `db:"account_id"`
	Currency string          `db:"currency"`
	Balance  decimal.Decimal `db:"balance"`
}

// suspect is a shard account that differed from the ledger when last read.
type suspect struct {
	shard int
	acc   shardAccount
}

// accounts compares every shard account with its ledger account. Accounts
// that differ are re-checked after the ledger has settled (recheck).
func (r *run) accounts(ctx context.Context) error {
	var total uint64
	for _, db := range r.src.Shards {
		var n uint64
		if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM accounts"); err != nil {
			return err
		}
		total += n
	}
	m := r.meter("accounts", "accounts", total)
	c := r.rep.check(checkAccounts)
	var suspects []suspect
	for sh, db := range r.src.Shards {
		after := ""
		for {
			var page []shardAccount
			if err := db.SelectContext(ctx, &page, `SELECT account_id, currency, balance, version FROM accounts
				WHERE account_id > ? ORDER BY account_id LIMIT ?`, after, r.opts.Page); err != nil {
				return fmt.Errorf("%s: read accounts: %w", shardName(sh), err)
			}
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1].ID
			held, err := r.ledgerAccounts(ctx, idsOf(page))
			if err != nil {
				return err
			}
			for _, a := range page {
				if differs(a, held[a.ID]) != nil {
					suspects = append(suspects, suspect{shard: sh, acc: a})
				}
			}
			c.Checked += int64(len(page))
			m.Report(uint64(c.Checked), false)
			if len(suspects) >= r.opts.MaxSuspects {
				if err := r.recheck(ctx, suspects); err != nil {
					return err
				}
				suspects = nil
			}
		}
	}
	m.Report(uint64(c.Checked), true)
	return r.recheck(ctx, suspects)
}

// recheck waits for the ledger to settle and compares suspects again: the
// ledger is read first, the shard after it, so an account whose version is
// still the one the suspect was read at has had no event since, and the
// ledger has applied all of its events — any difference left is real. An
// account that changed is read anew and checked in the next round, up to
// Rounds times; then it is reported unverified.
func (r *run) recheck(ctx context.Context, suspects []suspect) error {
	for round := 0; len(suspects) > 0; round++ {
		if round == r.opts.Rounds {
			for _, s := range suspects {
				r.rep.add(checkAccounts, Finding{Kind: Unverified, Where: shardName(s.shard), Subject: s.acc.ID,
					Detail: fmt.Sprintf("changed on each of %d re-checks; compare it again later", r.opts.Rounds)})
			}
			return nil
		}
		wait, cancel := context.WithTimeout(ctx, r.opts.SettleTimeout)
		err := r.src.Settled(wait)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// The ledger is behind and stays so: what differs now is what
			// finance would read, so it is reported, with the reason.
			for _, s := range suspects {
				r.report(s.shard, s.acc, nil, fmt.Sprintf(" (the ledger did not catch up within %s: %v)", r.opts.SettleTimeout, err))
			}
			return nil
		}
		ids := make([]string, len(suspects))
		for i, s := range suspects {
			ids[i] = s.acc.ID
		}
		held, err := r.ledgerAccounts(ctx, ids)
		if err != nil {
			return err
		}
		now, err := r.shardAccounts(ctx, suspects)
		if err != nil {
			return err
		}
		var next []suspect
		for _, s := range suspects {
			a, ok := now[s.acc.ID]
			switch {
			case !ok:
				return fmt.Errorf("%s: account %s disappeared during the run", shardName(s.shard), s.acc.ID)
			case a.Version != s.acc.Version:
				next = append(next, suspect{shard: s.shard, acc: a})
			default:
				r.report(s.shard, a, held[a.ID], "")
			}
		}
		suspects = next
	}
	return nil
}

// report adds the finding for a settled shard account a against its ledger
// account l (nil if the ledger has none), if they differ.
func (r *run) report(sh int, a shardAccount, l *ledgerAccount, why string) {
	if f := differs(a, l); f != nil {
		f.Where, f.Detail = shardName(sh), f.Detail+why
		r.rep.add(checkAccounts, *f)
	}
}

// differs compares a shard account with its ledger account (nil when the
// ledger has none) and returns the finding, without Where, or nil.
func differs(a shardAccount, l *ledgerAccount) *Finding {
	switch {
	case l == nil:
		return &Finding{Kind: MissingInLedger, Subject: a.ID, Detail: fmt.Sprintf("shard holds %s %s; the ledger has no account", a.Balance.StringFixed(4), a.Currency)}
	case l.Currency != a.Currency:
		return &Finding{Kind: CurrencyMismatch, Subject: a.ID, Detail: fmt.Sprintf("shard holds it in %s, the ledger in %s", a.Currency, l.Currency)}
	case !l.Balance.Equal(a.Balance):
		return &Finding{Kind: BalanceMismatch, Subject: a.ID, Detail: fmt.Sprintf("shard %s, ledger %s %s (difference %s)",
			a.Balance.StringFixed(4), l.Balance.StringFixed(4), a.Currency, a.Balance.Sub(l.Balance).StringFixed(4))}
	}
	return nil
}

// ledgerAccounts reads the ledger accounts of ids that exist.
func (r *run) ledgerAccounts(ctx context.Context, ids []string) (map[string]*ledgerAccount, error) {
	out := make(map[string]*ledgerAccount, len(ids))
	err := database.SelectIn(ctx, r.src.Ledger, "SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id IN (?)", ids,
		func(a ledgerAccount) error { out[a.ID] = &a; return nil })
	if err != nil {
		return nil, fmt.Errorf("ledger: read accounts: %w", err)
	}
	return out, nil
}

// shardAccounts reads the suspects' accounts again, each from its shard.
func (r *run) shardAccounts(ctx context.Context, suspects []suspect) (map[string]shardAccount, error) {
	byShard := map[int][]string{}
	for _, s := range suspects {
		byShard[s.shard] = append(byShard[s.shard], s.acc.ID)
	}
	out := map[string]shardAccount{}
	for sh, ids := range byShard {
		err := database.SelectIn(ctx, r.src.Shards[sh], "SELECT account_id, currency, balance, version FROM accounts WHERE account_id IN (?)", ids,
			func(a shardAccount) error { out[a.ID] = a; return nil })
		if err != nil {
			return nil, fmt.Errorf("%s: read accounts: %w", shardName(sh), err)
		}
	}
	return out, nil
}

func idsOf(page []shardAccount) []string {
	ids := make([]string, len(page))
	for i, a := range page {
		ids[i] = a.ID
	}
	return ids
}
