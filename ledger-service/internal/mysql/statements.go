package mysql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/database"
)

// The set-based statements ApplyBatch runs: one per table and batch, in
// chunks of at most maxRows rows.

// maxRows bounds the rows, or IN list values, of one statement: far below
// max_allowed_packet and the 65,535 placeholders of a prepared statement.
const maxRows = 1000

// accountRow is a ledger_accounts row.
type accountRow struct {
	AccountID string          `db:"account_id"`
	Currency  string          `db:"currency"`
	Balance   decimal.Decimal `db:"balance"`
}

// chunk calls fn with consecutive parts of xs of at most maxRows elements.
func chunk[T any](xs []T, fn func(part []T) error) error {
	for len(xs) > 0 {
		n := min(len(xs), maxRows)
		if err := fn(xs[:n]); err != nil {
			return err
		}
		xs = xs[n:]
	}
	return nil
}

// dedupe returns xs sorted, without repeats.
func dedupe(xs []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(xs)))
}

// journaled returns the business keys journaled under txIDs.
func journaled(ctx context.Context, tx *sqlx.Tx, txIDs []string) (map[bizKey]bool, error) {
	type keyRow struct {
		TxID   string `db:"transaction_id"`
		Type   string `db:"event_type"`
		Origin string `db:"origin_account"`
	}
	keys := map[bizKey]bool{}
	err := database.SelectIn(ctx, tx, `SELECT transaction_id, event_type, COALESCE(origin_account, '') AS origin_account
		FROM journal_transactions WHERE transaction_id IN (?)`, txIDs,
		func(r keyRow) error { keys[bizKey{r.TxID, r.Type, r.Origin}] = true; return nil })
	if err != nil {
		return nil, fmt.Errorf("read journaled steps: %w", err)
	}
	return keys, nil
}

// currenciesOf returns the currency of each of ids that exists, without
// locking: lockAccounts locks and checks again.
func currenciesOf(ctx context.Context, tx *sqlx.Tx, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := database.SelectIn(ctx, tx, "SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id IN (?)", ids,
		func(r accountRow) error { out[r.AccountID] = r.Currency; return nil })
	if err != nil {
		return nil, fmt.Errorf("read ledger accounts: %w", err)
	}
	return out, nil
}

// errRaced reports an account that another writer created between load and
// lockAccounts in another currency than decide assumed; the batch is then
// applied again one by one, on fresh reads.
var errRaced = errors.New("ledger account created concurrently")

// lockAccounts locks the ledger accounts named by currencies (account id to
// the currency the batch books in it), creating missing ones with a zero
// balance, and returns them by id. An account held in another currency than
// expected (created meanwhile by another writer) is errRaced.
//
// Lock order: accounts by ascending account_id, all of a batch here, before
// any balance changes. Every transaction that changes balances goes through
// here, so two of them can never wait on each other in a cycle. The upsert
// takes an exclusive lock even on an existing row (INSERT IGNORE would take
// a shared one, and two transactions upgrading shared locks on the same
// @world row deadlock each other).
func lockAccounts(ctx context.Context, tx *sqlx.Tx, currencies map[string]string, now time.Time) (map[string]*accountRow, error) {
	ids := make([]string, 0, len(currencies))
	for id := range currencies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make(map[string]*accountRow, len(ids))
	err := chunk(ids, func(part []string) error {
		args := make([]any, 0, 4*len(part))
		for _, id := range part {
			args = append(args, id, currencies[id], 0, now)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_accounts (account_id, currency, balance, updated_at) VALUES "+
			database.Tuples(len(part), 4)+" ON DUPLICATE KEY UPDATE account_id = account_id", args...); err != nil {
			return fmt.Errorf("create ledger accounts: %w", err)
		}
		q, qargs, err := sqlx.In("SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id IN (?) ORDER BY account_id FOR UPDATE", part)
		if err != nil {
			return err
		}
		var rows []accountRow
		if err := tx.SelectContext(ctx, &rows, q, qargs...); err != nil {
			return fmt.Errorf("lock ledger accounts: %w", err)
		}
		for i := range rows {
			out[rows[i].AccountID] = &rows[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, cur := range currencies {
		if a := out[id]; a == nil || a.Currency != cur {
			return nil, fmt.Errorf("%w: account %s, expected in %s", errRaced, id, cur)
		}
	}
	return out, nil
}

// insertJournals inserts the journal transactions of effs and returns their
// ids by event id.
func insertJournals(ctx context.Context, tx *sqlx.Tx, effs []ledger.Effect, now time.Time) (map[string]int64, error) {
	var journal []ledger.Effect
	for _, eff := range effs {
		if eff.Journal {
			journal = append(journal, eff)
		}
	}
	ids := make([]string, 0, len(journal))
	err := chunk(journal, func(part []ledger.Effect) error {
		args := make([]any, 0, 6*len(part))
		for _, eff := range part {
			var txID, origin *string
			if eff.TransactionID != "" {
				txID, origin = &eff.TransactionID, &eff.Origin
			}
			args = append(args, eff.EventID, eff.EventType, txID, origin, eff.OccurredAt, now)
			ids = append(ids, eff.EventID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO journal_transactions
			(event_id, event_type, transaction_id, origin_account, occurred_at, recorded_at) VALUES `+
			database.Tuples(len(part), 6), args...); err != nil {
			return fmt.Errorf("insert journal transactions: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return journalIDs(ctx, tx, ids)
}

// journalIDs reads back the ids of the journal transactions of eventIDs:
// the auto-increment values of a multi-row insert need not be consecutive
// (MySQL 8's interleaved lock mode), so they are not computed from
// LAST_INSERT_ID.
func journalIDs(ctx context.Context, tx *sqlx.Tx, eventIDs []string) (map[string]int64, error) {
	type idRow struct {
		ID      int64  `db:"id"`
		EventID string `db:"event_id"`
	}
	out := make(map[string]int64, len(eventIDs))
	err := database.SelectIn(ctx, tx, "SELECT id, event_id FROM journal_transactions WHERE event_id IN (?)", eventIDs,
		func(r idRow) error { out[r.EventID] = r.ID; return nil })
	if err != nil {
		return nil, fmt.Errorf("read journal ids: %w", err)
	}
	return out, nil
}

func insertEntries(ctx context.Context, tx *sqlx.Tx, entries []newEntry) error {
	return chunk(entries, func(part []newEntry) error {
		args := make([]any, 0, 6*len(part))
		for _, e := range part {
			args = append(args, e.journalID, e.accountID, e.currency, e.amount, e.balanceAfter, e.occurredAt)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO journal_entries
			(journal_id, account_id, currency, amount, balance_after, occurred_at) VALUES `+
			database.Tuples(len(part), 6), args...); err != nil {
			return fmt.Errorf("insert journal entries: %w", err)
		}
		return nil
	})
}

// updateBalances stores the balances of accounts (locked, by ascending id)
// with one statement per chunk.
func updateBalances(ctx context.Context, tx *sqlx.Tx, accounts []*accountRow, now time.Time) error {
	return chunk(accounts, func(part []*accountRow) error {
		args := make([]any, 0, 3*len(part)+1)
		for _, a := range part {
			args = append(args, a.AccountID, a.Balance)
		}
		args = append(args, now)
		for _, a := range part {
			args = append(args, a.AccountID)
		}
		q := "UPDATE ledger_accounts SET balance = CASE account_id " + strings.Repeat("WHEN ? THEN ? ", len(part)) +
			"END, updated_at = ? WHERE account_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + ")"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("update balances: %w", err)
		}
		return nil
	})
}

// setOwners records the owner of each account effs open. An account opened
// again (a redelivered event under a new id) keeps its first owner.
func setOwners(ctx context.Context, tx *sqlx.Tx, effs []ledger.Effect) error {
	var args, ids []any
	for _, eff := range effs {
		if eff.Open != nil && eff.Open.OwnerID != "" {
			args = append(args, eff.Open.AccountID, eff.Open.OwnerID)
			ids = append(ids, eff.Open.AccountID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	q := "UPDATE ledger_accounts SET owner_id = CASE account_id " + strings.Repeat("WHEN ? THEN ? ", len(ids)) +
		"END WHERE owner_id IS NULL AND account_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	if _, err := tx.ExecContext(ctx, q, append(args, ids...)...); err != nil {
		return fmt.Errorf("record account owners: %w", err)
	}
	return nil
}
