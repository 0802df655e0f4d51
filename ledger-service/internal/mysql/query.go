package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/problem"
)

// entryRow is a journal_entries row joined with its journal transaction.
type entryRow struct {
	ID            int64           `db:"id"`
	JournalID     int64           `db:"journal_id"`
	EventType     string          `db:"event_type"`
	TransactionID sql.NullString  `db:"transaction_id"`
	AccountID     string          `db:"account_id"`
	Currency      string          `db:"currency"`
	Amount        decimal.Decimal `db:"amount"`
	BalanceAfter  decimal.Decimal `db:"balance_after"`
	OccurredAt    time.Time       `db:"occurred_at"`
}

func (r entryRow) toEntry() ledger.Entry {
	return ledger.Entry{ID: r.ID, JournalID: r.JournalID, EventType: r.EventType, TransactionID: r.TransactionID.String,
		AccountID: r.AccountID, Currency: r.Currency, Amount: r.Amount, BalanceAfter: r.BalanceAfter, OccurredAt: r.OccurredAt}
}

const selectEntries = `SELECT e.id, e.journal_id, j.event_type, j.transaction_id, e.account_id, e.currency,
	e.amount, e.balance_after, e.occurred_at
	FROM journal_entries e JOIN journal_transactions j ON j.id = e.journal_id `

// Balance returns accountID's current balance, or with a non-zero asOf the
// balance_after of its latest entry that occurred at or before asOf (zero if
// none). Unknown accounts return problem code account_not_found.
func (s *Store) Balance(ctx context.Context, accountID string, asOf time.Time) (ledger.Balance, error) {
	var a accountRow
	err := s.db.GetContext(ctx, &a, "SELECT account_id, currency, balance FROM ledger_accounts WHERE account_id = ?", accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Balance{}, problem.New(problem.AccountNotFound, "the ledger has no account %q", accountID)
	}
	if err != nil {
		return ledger.Balance{}, fmt.Errorf("read ledger account: %w", err)
	}
	b := ledger.Balance{AccountID: a.AccountID, Currency: a.Currency, Balance: a.Balance}
	if asOf.IsZero() {
		return b, nil
	}
	// Entry times are stored to the microsecond, so comparing with asOf
	// truncated alike is exact (and the driver would send nanoseconds).
	b.AsOf = asOf.UTC().Truncate(time.Microsecond)
	// The sum of the entries that occurred by then: unlike balance_after,
	// which follows the order events were applied in, it does not depend on
	// delivery order (a retried event, events of several shards).
	var sum decimal.Decimal
	err = s.db.GetContext(ctx, &sum, `SELECT COALESCE(SUM(amount), 0) FROM journal_entries
		WHERE account_id = ? AND occurred_at <= ?`, accountID, b.AsOf)
	if err != nil {
		return ledger.Balance{}, fmt.Errorf("read balance as of %s: %w", b.AsOf, err)
	}
	b.Balance = sum
	return b, nil
}

// Entries returns up to limit entries of accountID with an id below before (0
// for the newest), newest first. Unknown accounts return account_not_found,
// a limit below 1 invalid_request.
func (s *Store) Entries(ctx context.Context, accountID string, before int64, limit int) (ledger.Page, error) {
	if limit < 1 {
		return ledger.Page{}, problem.New(problem.InvalidRequest, "limit must be positive, got %d", limit)
	}
	if _, err := s.Balance(ctx, accountID, time.Time{}); err != nil {
		return ledger.Page{}, err
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	var rows []entryRow
	// One more row than asked tells whether an older page exists.
	if err := s.db.SelectContext(ctx, &rows, selectEntries+"WHERE e.account_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?",
		accountID, before, limit+1); err != nil {
		return ledger.Page{}, fmt.Errorf("read entries: %w", err)
	}
	var p ledger.Page
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].ID
	}
	p.Entries = make([]ledger.Entry, len(rows))
	for i, r := range rows {
		p.Entries[i] = r.toEntry()
	}
	return p, nil
}

// journalRow is a journal_transactions row.
type journalRow struct {
	ID            int64          `db:"id"`
	EventID       string         `db:"event_id"`
	EventType     string         `db:"event_type"`
	TransactionID sql.NullString `db:"transaction_id"`
	Origin        sql.NullString `db:"origin_account"`
	OccurredAt    time.Time      `db:"occurred_at"`
	RecordedAt    time.Time      `db:"recorded_at"`
}

// Transfer returns the journal transactions of the transfer transactionID
// sent from account from, in the order they were recorded, each with its
// entries. Transaction ids are scoped to the source account: with from
// empty the one transfer under the id is returned, and when several source
// accounts used it problem code ambiguous_transaction_id (listing them), so
// the answer never mixes two transfers. It returns not_found when the
// ledger has none.
func (s *Store) Transfer(ctx context.Context, transactionID, from string) ([]ledger.Journal, error) {
	var rows []journalRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, transaction_id, origin_account, occurred_at, recorded_at
		FROM journal_transactions WHERE transaction_id = ? AND event_type LIKE 'transfer.%' AND (? = '' OR origin_account = ?) ORDER BY id`,
		transactionID, from, from); err != nil {
		return nil, fmt.Errorf("read journal transactions: %w", err)
	}
	if len(rows) == 0 {
		return nil, problem.New(problem.NotFound, "the ledger has no transfer %q", transactionID)
	}
	var froms []string
	for _, r := range rows {
		if !slices.Contains(froms, r.Origin.String) {
			froms = append(froms, r.Origin.String)
		}
	}
	if len(froms) > 1 {
		slices.Sort(froms)
		return nil, problem.New(problem.AmbiguousTransactionID,
			"transaction_id %s was used by %d source accounts, each for its own transfer; name one with ?from_account=", transactionID, len(froms)).
			With("from_accounts", froms)
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	q, args, err := sqlx.In(selectEntries+"WHERE e.journal_id IN (?) ORDER BY e.id", ids)
	if err != nil {
		return nil, err
	}
	var entries []entryRow
	if err := s.db.SelectContext(ctx, &entries, q, args...); err != nil {
		return nil, fmt.Errorf("read transfer entries: %w", err)
	}
	byJournal := map[int64][]ledger.Entry{}
	for _, e := range entries {
		byJournal[e.JournalID] = append(byJournal[e.JournalID], e.toEntry())
	}
	out := make([]ledger.Journal, len(rows))
	for i, r := range rows {
		out[i] = ledger.Journal{ID: r.ID, EventID: r.EventID, EventType: r.EventType, TransactionID: r.TransactionID.String,
			Origin: r.Origin.String, OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Entries: byJournal[r.ID]}
	}
	return out, nil
}

// Owner returns the owner_id account.opened gave accountID, or "" when the
// ledger has no such account or no owner for it (a system account).
func (s *Store) Owner(ctx context.Context, accountID string) (string, error) {
	var owner sql.NullString
	err := s.db.GetContext(ctx, &owner, "SELECT owner_id FROM ledger_accounts WHERE account_id = ?", accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read account owner: %w", err)
	}
	return owner.String, nil
}
