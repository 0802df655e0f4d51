package mysql

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
)

// accountRow is a ledger_accounts row.
type accountRow struct {
	AccountID string          `db:"account_id"`
	Currency  string          `db:"currency"`
	Balance   decimal.Decimal `db:"balance"`
}

// Apply records eff's event in the inbox and applies its effect in the same
// transaction. applied is false when the event was recorded before (a
// redelivery or a re-publish): then nothing changes. A posting in another
// currency than its account's returns an error wrapping ledger.ErrConflict.
func (s *Store) Apply(ctx context.Context, eff ledger.Effect) (applied bool, err error) {
	if err := eff.Balanced(); err != nil {
		return false, fmt.Errorf("%w: %v", ledger.ErrConflict, err)
	}
	err = database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		dup, err := inbox.Record(ctx, tx, ledger.Consumer, eff.EventID)
		if err != nil {
			return err
		}
		applied = !dup
		if dup {
			return nil
		}
		return s.apply(ctx, tx, eff)
	})
	if err != nil {
		return false, fmt.Errorf("apply %s %s: %w", eff.EventType, eff.EventID, err)
	}
	return applied, nil
}

func (s *Store) apply(ctx context.Context, tx *sqlx.Tx, eff ledger.Effect) error {
	now := s.now()
	if eff.Open != nil {
		if _, err := lockAccounts(ctx, tx, map[string]string{eff.Open.AccountID: eff.Open.Currency}, now); err != nil {
			return err
		}
	}
	if !eff.Journal {
		return nil
	}
	journalID, err := insertJournal(ctx, tx, eff, now)
	if database.IsDuplicate(err) {
		return nil // this transaction's step is journaled already
	}
	if err != nil || len(eff.Postings) == 0 {
		return err
	}
	currencies := make(map[string]string, len(eff.Postings))
	for _, p := range eff.Postings {
		currencies[p.AccountID] = p.Currency
	}
	accounts, err := lockAccounts(ctx, tx, currencies, now)
	if err != nil {
		return err
	}
	return post(ctx, tx, journalID, eff, accounts, now)
}

// lockAccounts locks the ledger accounts named by currencies (account id to
// the currency the event books in it), creating missing ones with a zero
// balance, and returns them by id. An account held in another currency is
// a ledger.ErrConflict.
//
// Lock order: accounts by ascending account_id, always. Every transaction
// that changes balances goes through here, so two of them can never wait on
// each other in a cycle. The upsert takes an exclusive lock even on an
// existing row (INSERT IGNORE would take a shared one, and two transactions
// upgrading shared locks on the same @world row deadlock each other).
func lockAccounts(ctx context.Context, tx *sqlx.Tx, currencies map[string]string, now time.Time) (map[string]*accountRow, error) {
	ids := make([]string, 0, len(currencies))
	for id := range currencies {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	values := strings.TrimSuffix(strings.Repeat("(?,?,0,?),", len(ids)), ",")
	args := make([]any, 0, 3*len(ids))
	for _, id := range ids {
		args = append(args, id, currencies[id], now)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_accounts (account_id, currency, balance, updated_at) VALUES "+
		values+" ON DUPLICATE KEY UPDATE account_id = account_id", args...); err != nil {
		return nil, fmt.Errorf("create ledger accounts: %w", err)
	}
	q, qargs, err := sqlx.In("SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id IN (?) ORDER BY account_id FOR UPDATE", ids)
	if err != nil {
		return nil, err
	}
	var rows []accountRow
	if err := tx.SelectContext(ctx, &rows, q, qargs...); err != nil {
		return nil, fmt.Errorf("lock ledger accounts: %w", err)
	}
	out := make(map[string]*accountRow, len(rows))
	for i := range rows {
		r := &rows[i]
		if want := currencies[r.AccountID]; r.Currency != want {
			return nil, fmt.Errorf("%w: account %s holds %s, event posts %s", ledger.ErrConflict, r.AccountID, r.Currency, want)
		}
		out[r.AccountID] = r
	}
	return out, nil
}

func insertJournal(ctx context.Context, tx *sqlx.Tx, eff ledger.Effect, now time.Time) (int64, error) {
	var txID, origin *string
	if eff.TransactionID != "" {
		txID, origin = &eff.TransactionID, &eff.Origin
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO journal_transactions
		(event_id, event_type, transaction_id, origin_account, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)`,
		eff.EventID, eff.EventType, txID, origin, eff.OccurredAt, now)
	if err != nil {
		return 0, fmt.Errorf("insert journal transaction: %w", err)
	}
	return res.LastInsertId()
}

// post writes the entries of eff in posting order, each with the balance its
// account has right after it, then stores the accounts' new balances.
func post(ctx context.Context, tx *sqlx.Tx, journalID int64, eff ledger.Effect, accounts map[string]*accountRow, now time.Time) error {
	args := make([]any, 0, 6*len(eff.Postings))
	for _, p := range eff.Postings {
		a := accounts[p.AccountID]
		a.Balance = a.Balance.Add(p.Amount)
		args = append(args, journalID, p.AccountID, p.Currency, p.Amount, a.Balance, eff.OccurredAt)
	}
	values := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", len(eff.Postings)), ",")
	if _, err := tx.ExecContext(ctx, `INSERT INTO journal_entries
		(journal_id, account_id, currency, amount, balance_after, occurred_at) VALUES `+values, args...); err != nil {
		return fmt.Errorf("insert journal entries: %w", err)
	}
	// Updates in lock order too, though the rows are already locked, so the
	// statement log reads the same on every run.
	ids := make([]string, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := accounts[id]
		if _, err := tx.ExecContext(ctx, "UPDATE ledger_accounts SET balance = ?, updated_at = ? WHERE account_id = ?",
			a.Balance, now, a.AccountID); err != nil {
			return fmt.Errorf("update balance of %s: %w", a.AccountID, err)
		}
	}
	return nil
}
