package reconcile

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/shardread"
)

// The money checks' names.
const (
	checkPartitionMoney = "partition money = its shards' money"
	checkTotals         = "in flight in total = account-service's"
)

// moneyKey is one currency of one partition.
type moneyKey struct {
	partition int
	currency  string
}

// partitionMoney is one currency's money in one partition: the ledger's
// snapshot (ledger) and, compared with them, the ledger's and the shards'
// figures read at one settled instant.
type partitionMoney struct {
	ledger totals
	// Compared in partitionMoney: the ledger's wallets and @in_flight, and
	// the shards' balances and what they sent less what they received
	// across shards.
	wallets, inFlight  decimal.Decimal
	balances, outgoing decimal.Decimal
	// verified is false when the shards kept changing on every round.
	verified bool
}

func (r *run) moneyOf(p int, cur string) *partitionMoney {
	k := moneyKey{p, cur}
	if r.money[k] == nil {
		r.money[k] = &partitionMoney{}
	}
	return r.money[k]
}

// shardMoney is one currency's money on a partition's shards.
type shardMoney struct{ balances, sent, received decimal.Decimal }

// partitionMoney compares, per currency, partition p's ledger with the
// partition's shards as account-service sums them: the wallets with the
// shards' balances, and @in_flight — the partition's clearing account —
// with what left the partition's shards across shards (debited and not
// refunded) less what arrived on them (credited). That holds at any
// instant the ledger has applied exactly the shards' events: the shards
// are read, the ledger settles and is read, the shards are read again, and
// when their mark (accounts, versions) has not moved the figures describe
// the same money. Otherwise it tries again, up to Rounds times, then says
// the partition could not be verified (a warning).
func (r *run) partitionMoney(ctx context.Context, p Partition) error {
	c := r.rep.check(checkPartitionMoney)
	shards := r.src.shardsOf(p.N)
	first, mark, err := r.readShards(ctx, shards)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		r.summaries[sh] = first[sh]
	}
	sums := sumShards(first)
	held, err := ledgerMoney(ctx, p)
	if err != nil {
		return err
	}
	diff := compareMoney(sums, held)
	for round := 0; len(diff) > 0; round++ {
		if round == r.opts.Rounds {
			for _, cur := range diff {
				r.rep.add(checkPartitionMoney, Finding{Kind: Unverified, Where: partitionName(p.N), Subject: cur,
					Detail: fmt.Sprintf("its shards changed on each of %d re-checks; compare it again later", r.opts.Rounds)})
			}
			r.keepMoney(p.N, sums, held, false)
			c.Checked += int64(len(sums))
			return nil
		}
		if err := r.settle(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, cur := range diff {
				r.moneyFinding(p.N, cur, sums[cur], held[cur], fmt.Sprintf(" (the ledger did not catch up within %s: %v)", r.opts.SettleTimeout, err))
			}
			r.keepMoney(p.N, sums, held, true)
			c.Checked += int64(len(sums))
			return nil
		}
		if held, err = ledgerMoney(ctx, p); err != nil {
			return err
		}
		again, markAgain, err := r.readShards(ctx, shards)
		if err != nil {
			return err
		}
		if markAgain == mark {
			// Nothing changed on the shards while the ledger caught up:
			// what differs now is real.
			for _, cur := range compareMoney(sums, held) {
				r.moneyFinding(p.N, cur, sums[cur], held[cur], "")
			}
			r.keepMoney(p.N, sums, held, true)
			c.Checked += int64(len(sums))
			return nil
		}
		sums, mark = sumShards(again), markAgain
		diff = compareMoney(sums, held)
	}
	r.keepMoney(p.N, sums, held, true)
	c.Checked += int64(len(sums))
	return nil
}

// readShards reads the summaries of shards and their combined mark.
func (r *run) readShards(ctx context.Context, shards []int) (map[int]shardread.Summary, string, error) {
	out := map[int]shardread.Summary{}
	mark := ""
	before := r.opts.Now().Add(-r.opts.PendingAfter)
	for _, sh := range shards {
		s, err := r.src.Accounts.Summary(ctx, sh, before)
		if err != nil {
			return nil, "", fmt.Errorf("%s: read summary: %w", r.shardName(sh), err)
		}
		out[sh] = s
		mark += fmt.Sprintf("%d:%d/%d ", sh, s.Accounts, s.Versions)
	}
	return out, mark, nil
}

// sumShards adds the shards' money up per currency.
func sumShards(summaries map[int]shardread.Summary) map[string]*shardMoney {
	out := map[string]*shardMoney{}
	for _, s := range summaries {
		for _, c := range s.Currencies {
			m := out[c.Currency]
			if m == nil {
				m = &shardMoney{}
				out[c.Currency] = m
			}
			m.balances = m.balances.Add(c.Balances)
			m.sent = m.sent.Add(c.Sent)
			m.received = m.received.Add(c.Received)
		}
	}
	return out
}

// ledgerFigures are a partition's wallets and @in_flight in one currency.
type ledgerFigures struct{ wallets, inFlight decimal.Decimal }

// ledgerMoney reads partition p's wallets and @in_flight per currency, in
// one snapshot.
func ledgerMoney(ctx context.Context, p Partition) (map[string]*ledgerFigures, error) {
	tx, err := p.DB.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var rows []struct {
		Currency string          `db:"currency"`
		InFlight bool            `db:"in_flight"`
		Total    decimal.Decimal `db:"total"`
	}
	// System account ids start with "@", which no customer's may.
	if err := tx.SelectContext(ctx, &rows, `SELECT currency, account_id LIKE '@in_flight:%' AS in_flight, SUM(balance) AS total
		FROM ledger_accounts WHERE account_id NOT LIKE '@world:%' GROUP BY currency, account_id LIKE '@in_flight:%'`); err != nil {
		return nil, fmt.Errorf("sum money: %w", err)
	}
	out := map[string]*ledgerFigures{}
	for _, row := range rows {
		f := out[row.Currency]
		if f == nil {
			f = &ledgerFigures{}
			out[row.Currency] = f
		}
		if row.InFlight {
			f.inFlight = row.Total
		} else {
			f.wallets = row.Total
		}
	}
	return out, nil
}

// compareMoney returns the currencies in which the shards' and the
// ledger's figures differ, sorted.
func compareMoney(sums map[string]*shardMoney, held map[string]*ledgerFigures) []string {
	var out []string
	for _, cur := range currencies(sums, held) {
		s, l := orZero(sums[cur]), orZeroL(held[cur])
		if !s.balances.Equal(l.wallets) || !s.sent.Sub(s.received).Equal(l.inFlight) {
			out = append(out, cur)
		}
	}
	return out
}

// moneyFinding reports partition p's figures in cur that differ.
func (r *run) moneyFinding(p int, cur string, sm *shardMoney, lf *ledgerFigures, why string) {
	s, l := orZero(sm), orZeroL(lf)
	if !s.balances.Equal(l.wallets) {
		r.rep.add(checkPartitionMoney, Finding{Kind: BalanceMismatch, Where: partitionName(p), Subject: cur,
			Detail: fmt.Sprintf("the partition's shards hold %s, its ledger wallets %s (difference %s)%s",
				s.balances.StringFixed(4), l.wallets.StringFixed(4), s.balances.Sub(l.wallets).StringFixed(4), why)})
	}
	if out := s.sent.Sub(s.received); !out.Equal(l.inFlight) {
		r.rep.add(checkPartitionMoney, Finding{Kind: InFlightMismatch, Where: partitionName(p), Subject: ledger.InFlight(cur),
			Detail: fmt.Sprintf("balance %s, but the partition's shards sent %s and received %s across shards (net %s)%s",
				l.inFlight.StringFixed(4), s.sent.StringFixed(4), s.received.StringFixed(4), out.StringFixed(4), why)})
	}
}

// keepMoney keeps partition p's compared figures for the totals.
func (r *run) keepMoney(p int, sums map[string]*shardMoney, held map[string]*ledgerFigures, verified bool) {
	for _, cur := range currencies(sums, held) {
		s, l := orZero(sums[cur]), orZeroL(held[cur])
		pm := r.moneyOf(p, cur)
		pm.wallets, pm.inFlight = l.wallets, l.inFlight
		pm.balances, pm.outgoing = s.balances, s.sent.Sub(s.received)
		pm.verified = verified
	}
}

// totals checks, per currency, the money over every partition: the sum of
// the partitions' @in_flight is money in flight, so it is not negative and
// equals what account-service's shards sent less what they received across
// shards; and it lists the money per currency and per partition.
func (r *run) totals() {
	c := r.rep.check(checkTotals)
	type sum struct {
		totals
		flight, outgoing decimal.Decimal
		verified         bool
	}
	byCur := map[string]*sum{}
	for _, k := range slices.SortedFunc(maps.Keys(r.money), func(a, b moneyKey) int {
		if a.partition != b.partition {
			return a.partition - b.partition
		}
		return cmp.Compare(a.currency, b.currency)
	}) {
		pm := r.money[k]
		s := byCur[k.currency]
		if s == nil {
			s = &sum{verified: true}
			byCur[k.currency] = s
		}
		s.wallets = s.wallets.Add(pm.ledger.wallets)
		s.deposits = s.deposits.Add(pm.ledger.deposits)
		s.withdrawals = s.withdrawals.Add(pm.ledger.withdrawals)
		s.totals.inFlight = s.totals.inFlight.Add(pm.ledger.inFlight)
		s.flight = s.flight.Add(pm.inFlight)
		s.outgoing = s.outgoing.Add(pm.outgoing)
		s.verified = s.verified && pm.verified
		r.rep.Partitions = append(r.rep.Partitions, PartitionMoney{Partition: k.partition, Currency: k.currency,
			Wallets: pm.ledger.wallets.StringFixed(4), InFlight: pm.ledger.inFlight.StringFixed(4),
			Deposits: pm.ledger.deposits.StringFixed(4), Withdrawals: pm.ledger.withdrawals.StringFixed(4),
			ShardBalances: pm.balances.StringFixed(4), ShardNetSent: pm.outgoing.StringFixed(4)})
	}
	for _, cur := range slices.Sorted(maps.Keys(byCur)) {
		s := byCur[cur]
		c.Checked++
		switch {
		case s.flight.IsNegative():
			r.rep.add(checkTotals, Finding{Kind: NegativeBalance, Where: totalName, Subject: ledger.InFlight(cur),
				Detail: fmt.Sprintf("the partitions' @in_flight sum to %s: more credited or refunded than debited", s.flight.StringFixed(4))})
		case !s.verified:
			r.rep.add(checkTotals, Finding{Kind: Unverified, Where: totalName, Subject: ledger.InFlight(cur),
				Detail: "a partition could not be verified: the total is not compared"})
		case !s.flight.Equal(s.outgoing):
			r.rep.add(checkTotals, Finding{Kind: InFlightMismatch, Where: totalName, Subject: ledger.InFlight(cur),
				Detail: fmt.Sprintf("the partitions' @in_flight sum to %s, account-service has %s in flight", s.flight.StringFixed(4), s.outgoing.StringFixed(4))})
		}
		r.rep.Currencies = append(r.rep.Currencies, Currency{Currency: cur, Wallets: s.wallets.StringFixed(4),
			InFlight: s.totals.inFlight.StringFixed(4), Deposits: s.deposits.StringFixed(4), Withdrawals: s.withdrawals.StringFixed(4)})
	}
}

func currencies(sums map[string]*shardMoney, held map[string]*ledgerFigures) []string {
	set := map[string]bool{}
	for cur := range sums {
		set[cur] = true
	}
	for cur := range held {
		set[cur] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func orZero(m *shardMoney) shardMoney {
	if m == nil {
		return shardMoney{}
	}
	return *m
}

func orZeroL(f *ledgerFigures) ledgerFigures {
	if f == nil {
		return ledgerFigures{}
	}
	return *f
}
