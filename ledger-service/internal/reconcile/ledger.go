package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/shard"
)

// The ledger checks' names, as the report lists them.
const (
	checkEntries      = "ledger balances = their entries"
	checkOnShard      = "ledger wallets exist on their shard"
	checkJournals     = "journal transactions balance"
	checkConservation = "money conserved per currency"
	checkTxIDs        = "transaction ids name one operation"
)

// journalSpan is how many journal ids one balance query covers.
const journalSpan = 10_000

// ledger runs partition p's own checks in one consistent snapshot
// (REPEATABLE READ, read only): the ledger service keeps writing, and every
// sum below sees the same instant.
func (r *run) ledger(ctx context.Context, p Partition) error {
	tx, err := p.DB.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	money := map[string]*totals{}
	for _, step := range []func(context.Context, Partition, *sqlx.Tx, map[string]*totals) error{
		r.balances, r.journals, r.transactionIDs,
	} {
		if err := step(ctx, p, tx, money); err != nil {
			return err
		}
	}
	r.conservation(p, money)
	return nil
}

// totals is one currency's money in a partition's ledger snapshot.
type totals struct {
	wallets, inFlight, world decimal.Decimal
	deposits, withdrawals    decimal.Decimal
}

func totalsOf(m map[string]*totals, cur string) *totals {
	if m[cur] == nil {
		m[cur] = &totals{}
	}
	return m[cur]
}

// accountSums is what an account's entries add up to.
type accountSums struct {
	ID           string          `db:"account_id"`
	Total        decimal.Decimal `db:"total"`
	Credits      decimal.Decimal `db:"credits"`
	Entries      int64           `db:"entries"`
	BalanceAfter decimal.Decimal `db:"balance_after"`
}

// balances checks every ledger account of partition p against its entries
// (the balance is their sum and the last entry's balance_after), wallets
// for their partition, existence on their shard and a negative balance, and
// sums the money per currency. A partition's @in_flight may be negative:
// it is the partition's clearing account, and a partition that received
// more across partitions than it sent owes the others (only the total over
// every partition is money in flight, checked in totals).
func (r *run) balances(ctx context.Context, p Partition, tx *sqlx.Tx, money map[string]*totals) error {
	var total uint64
	if err := tx.GetContext(ctx, &total, "SELECT COUNT(*) FROM ledger_accounts"); err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	m := r.meter(partitionName(p.N)+" ledger balances", "accounts", total)
	c := r.rep.check(checkEntries)
	after := ""
	for {
		var page []ledgerAccount
		if err := tx.SelectContext(ctx, &page, `SELECT account_id, currency, balance FROM ledger_accounts
			WHERE account_id > ? ORDER BY account_id LIMIT ?`, after, r.opts.Page); err != nil {
			return fmt.Errorf("read accounts: %w", err)
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		sums := map[string]accountSums{}
		ids := make([]string, len(page))
		for i, a := range page {
			ids[i] = a.ID
		}
		err := database.SelectIn(ctx, tx, `SELECT s.account_id, s.total, s.credits, s.entries, e.balance_after
			FROM (SELECT account_id, SUM(amount) AS total, SUM(GREATEST(amount, 0)) AS credits, COUNT(*) AS entries, MAX(id) AS last_id
			      FROM journal_entries WHERE account_id IN (?) GROUP BY account_id) s
			JOIN journal_entries e ON e.id = s.last_id`, ids,
			func(s accountSums) error { sums[s.ID] = s; return nil })
		if err != nil {
			return fmt.Errorf("sum entries: %w", err)
		}
		var wallets []ledgerAccount
		for _, a := range page {
			s := sums[a.ID] // zero for an account without entries
			switch {
			case !a.Balance.Equal(s.Total):
				r.rep.add(checkEntries, Finding{Kind: EntriesMismatch, Where: partitionName(p.N), Subject: a.ID,
					Detail: fmt.Sprintf("balance %s, its %d entries sum to %s %s", a.Balance.StringFixed(4), s.Entries, s.Total.StringFixed(4), a.Currency)})
			case s.Entries > 0 && !a.Balance.Equal(s.BalanceAfter):
				r.rep.add(checkEntries, Finding{Kind: EntriesMismatch, Where: partitionName(p.N), Subject: a.ID,
					Detail: fmt.Sprintf("balance %s, last entry's balance_after %s %s", a.Balance.StringFixed(4), s.BalanceAfter.StringFixed(4), a.Currency)})
			}
			t := totalsOf(money, a.Currency)
			switch a.ID {
			case ledger.World(a.Currency):
				// Deposits are booked to @world as debits, withdrawals as
				// credits: its entries split into the two.
				t.world, t.withdrawals, t.deposits = a.Balance, s.Credits, s.Credits.Sub(s.Total)
			case ledger.InFlight(a.Currency):
				t.inFlight = a.Balance
			default:
				t.wallets = t.wallets.Add(a.Balance)
				wallets = append(wallets, a)
				if a.Balance.IsNegative() {
					r.rep.add(checkEntries, Finding{Kind: NegativeBalance, Where: partitionName(p.N), Subject: a.ID,
						Detail: fmt.Sprintf("wallet balance %s %s", a.Balance.StringFixed(4), a.Currency)})
				}
			}
		}
		if err := r.onShards(ctx, p, wallets); err != nil {
			return err
		}
		c.Checked += int64(len(page))
		m.Report(uint64(c.Checked), false)
	}
	m.Report(uint64(c.Checked), true)
	return nil
}

// onShards reports the ledger wallets of partition p that belong to another
// partition's shard, or that their shard does not hold. Shards never delete
// an account, and the ledger only opens one after its shard committed it,
// so asking account-service now (outside the snapshot) cannot miss one.
func (r *run) onShards(ctx context.Context, p Partition, wallets []ledgerAccount) error {
	byShard := map[int][]string{}
	c := r.rep.check(checkOnShard)
	for _, a := range wallets {
		sh := shard.Of(a.ID, r.src.Shards)
		if q := r.src.partitionOf(sh); q != p.N {
			r.rep.add(checkOnShard, Finding{Kind: WrongPartition, Where: partitionName(p.N), Subject: a.ID,
				Detail: fmt.Sprintf("the wallet's shard %d feeds partition %d", sh, q)})
			c.Checked++
			continue
		}
		byShard[sh] = append(byShard[sh], a.ID)
	}
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		ids := byShard[sh]
		found, err := r.src.Accounts.Lookup(ctx, sh, ids)
		if err != nil {
			return fmt.Errorf("%s: read accounts: %w", r.shardName(sh), err)
		}
		held := map[string]bool{}
		for _, a := range found {
			held[a.AccountID] = true
		}
		for _, id := range ids {
			if !held[id] {
				r.rep.add(checkOnShard, Finding{Kind: MissingOnShard, Where: r.shardName(sh), Subject: id,
					Detail: "the ledger holds this wallet; its shard has no such account"})
			}
		}
		c.Checked += int64(len(ids))
	}
	return nil
}

// moneyEvents are the event types whose journal transactions always have
// entries (a cross-shard transfer.completed has none, a same-shard one has).
var moneyEvents = []string{events.AccountDeposited, events.AccountWithdrawn,
	events.TransferDebited, events.TransferCredited, events.TransferFailed}

// journals checks that every journal transaction's entries sum to zero per
// currency and that no money event's journal lost all its entries, by
// ranges of journal ids.
func (r *run) journals(ctx context.Context, p Partition, tx *sqlx.Tx, _ map[string]*totals) error {
	var last, count uint64
	if err := tx.QueryRowxContext(ctx, "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM journal_transactions").Scan(&last, &count); err != nil {
		return fmt.Errorf("count journal transactions: %w", err)
	}
	m := r.meter(partitionName(p.N)+" journals", "journal ids", last)
	c := r.rep.check(checkJournals)
	type sum struct {
		JournalID int64           `db:"journal_id"`
		Currency  string          `db:"currency"`
		Sum       decimal.Decimal `db:"total"`
	}
	type empty struct {
		ID        int64  `db:"id"`
		EventType string `db:"event_type"`
	}
	for lo := uint64(0); lo < last; lo += journalSpan {
		hi := lo + journalSpan
		// The entries of a span of journals lie in a span of entry ids
		// (the ledger posts in journal order), found on the journal_id
		// index; summing them along the primary key reads them in storage
		// order instead of one lookup per entry.
		var first, lastEntry sql.NullInt64
		if err := tx.QueryRowxContext(ctx, "SELECT MIN(id), MAX(id) FROM journal_entries WHERE journal_id > ? AND journal_id <= ?",
			lo, hi).Scan(&first, &lastEntry); err != nil {
			return fmt.Errorf("find entries: %w", err)
		}
		var bad []sum
		if first.Valid {
			if err := tx.SelectContext(ctx, &bad, `SELECT journal_id, currency, SUM(amount) AS total FROM journal_entries
				WHERE id >= ? AND id <= ? AND journal_id > ? AND journal_id <= ?
				GROUP BY journal_id, currency HAVING SUM(amount) <> 0`, first.Int64, lastEntry.Int64, lo, hi); err != nil {
				return fmt.Errorf("sum journals: %w", err)
			}
		}
		for _, b := range bad {
			r.rep.add(checkJournals, Finding{Kind: UnbalancedJournal, Where: partitionName(p.N), Subject: fmt.Sprintf("journal %d", b.JournalID),
				Detail: fmt.Sprintf("%s entries sum to %s, not zero", b.Currency, b.Sum.StringFixed(4))})
		}
		q, args, err := sqlx.In(`SELECT id, event_type FROM journal_transactions j WHERE id > ? AND id <= ? AND event_type IN (?)
			AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.journal_id = j.id)`, lo, hi, moneyEvents)
		if err != nil {
			return err
		}
		var empties []empty
		if err := tx.SelectContext(ctx, &empties, q, args...); err != nil {
			return fmt.Errorf("find empty journals: %w", err)
		}
		for _, e := range empties {
			r.rep.add(checkJournals, Finding{Kind: UnbalancedJournal, Where: partitionName(p.N), Subject: fmt.Sprintf("journal %d", e.ID),
				Detail: e.EventType + " has no entries"})
		}
		m.Report(min(hi, last), false)
	}
	c.Checked += int64(count) // summed over the partitions
	m.Report(last, true)
	return nil
}

// transactionIDs walks the business key index (transaction_id first) in
// pages and reports a transaction_id that names two operations in
// partition p — used by two source accounts, or for two kinds of operation
// (a deposit and a withdrawal, a movement and a transfer). A transfer's
// steps need not pair up within a partition (its credit lies in the
// destination's partition): the money they move is checked against
// account-service in partitionMoney and totals.
func (r *run) transactionIDs(ctx context.Context, p Partition, tx *sqlx.Tx, _ map[string]*totals) error {
	c := r.rep.check(checkTxIDs)
	m := r.meter(partitionName(p.N)+" transaction ids", "ids", 0)
	type group struct {
		TxID    string `db:"transaction_id"`
		Origins int    `db:"origins"`
		Kinds   string `db:"kinds"`
	}
	after := ""
	for {
		var page []group
		// A transfer's steps are one operation: their types fold into
		// "transfer".
		if err := tx.SelectContext(ctx, &page, `SELECT transaction_id, COUNT(DISTINCT origin_account) AS origins,
			GROUP_CONCAT(DISTINCT CASE WHEN event_type LIKE 'transfer.%' THEN 'transfer' ELSE event_type END ORDER BY 1) AS kinds
			FROM journal_transactions WHERE transaction_id > ? GROUP BY transaction_id ORDER BY transaction_id LIMIT ?`,
			after, r.opts.Page); err != nil {
			return fmt.Errorf("read transaction ids: %w", err)
		}
		if len(page) == 0 {
			m.Report(uint64(c.Checked), true)
			return nil
		}
		after = page[len(page)-1].TxID
		for _, g := range page {
			if g.Origins > 1 || strings.Contains(g.Kinds, ",") {
				r.rep.add(checkTxIDs, Finding{Kind: TransactionReused, Where: partitionName(p.N), Subject: g.TxID,
					Detail: fmt.Sprintf("used by %d accounts for %s", g.Origins, g.Kinds)})
			}
		}
		c.Checked += int64(len(page))
		m.Report(uint64(c.Checked), false)
	}
}

// conservation checks, per currency, that partition p's journal balances
// in total (its wallets, @in_flight and @world sum to zero) and that its
// wallets and its @in_flight are what was deposited less what was
// withdrawn in it, and keeps the figures for partitionMoney and the report.
func (r *run) conservation(p Partition, money map[string]*totals) {
	c := r.rep.check(checkConservation)
	for _, cur := range slices.Sorted(maps.Keys(money)) {
		t := money[cur]
		c.Checked++
		if sum := t.wallets.Add(t.inFlight).Add(t.world); !sum.IsZero() {
			r.rep.add(checkJournals, Finding{Kind: UnbalancedJournal, Where: partitionName(p.N), Subject: cur,
				Detail: fmt.Sprintf("the partition's balances sum to %s, not zero", sum.StringFixed(4))})
		}
		held, net := t.wallets.Add(t.inFlight), t.deposits.Sub(t.withdrawals)
		if !held.Equal(net) {
			r.rep.add(checkConservation, Finding{Kind: Conservation, Where: partitionName(p.N), Subject: cur,
				Detail: fmt.Sprintf("wallets %s + in flight %s = %s, but deposits − withdrawals = %s",
					t.wallets.StringFixed(4), t.inFlight.StringFixed(4), held.StringFixed(4), net.StringFixed(4))})
		}
		pm := r.moneyOf(p.N, cur)
		pm.ledger = *t
	}
}
