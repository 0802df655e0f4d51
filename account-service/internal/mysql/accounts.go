package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

type accountRow struct {
	ID        string          `db:"account_id"`
	OwnerID   string          `db:"owner_id"`
	Currency  string          `db:"currency"`
	Balance   decimal.Decimal `db:"balance"`
	Status    string          `db:"status"`
	Version   int64           `db:"version"`
	CreatedAt time.Time       `db:"created_at"`
	UpdatedAt time.Time       `db:"updated_at"`
}

func (r accountRow) toAccount(shard int) account.Account {
	return account.Account{ID: r.ID, OwnerID: r.OwnerID, Currency: r.Currency, Balance: r.Balance,
		Status: account.Status(r.Status), Version: r.Version, Shard: shard, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

const accountColumns = "account_id, owner_id, currency, balance, status, version, created_at, updated_at"

// Open creates an account and emits account.opened. Opening an id that exists
// with the same owner and currency returns it with created false; with other
// values it fails with account_exists.
func (s *Store) Open(ctx context.Context, req account.OpenRequest) (acc account.Account, created bool, err error) {
	sh := s.ShardOf(req.AccountID)
	now := s.now()
	acc = account.Account{ID: req.AccountID, OwnerID: req.OwnerID, Currency: req.Currency,
		Balance: decimal.Zero, Status: account.Active, Shard: sh, CreatedAt: now, UpdatedAt: now}
	err = s.inShard(ctx, sh, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, 0, ?, 0, ?, ?)`,
			acc.ID, acc.OwnerID, acc.Currency, acc.Status, now, now)
		if err != nil {
			return err
		}
		return s.outbox.Append(ctx, tx, accountEvent(events.AccountOpened, acc))
	})
	if err == nil {
		s.committed(sh)
	}
	if database.IsDuplicate(err) {
		existing, gerr := s.Get(ctx, req.AccountID)
		if gerr != nil {
			return account.Account{}, false, gerr
		}
		if existing.OwnerID != req.OwnerID || existing.Currency != req.Currency {
			return account.Account{}, false, problem.New(problem.AccountExists,
				"account %s already exists with another owner or currency", req.AccountID)
		}
		return existing, false, nil
	}
	if err != nil {
		return account.Account{}, false, fmt.Errorf("open account: %w", err)
	}
	return acc, true, nil
}

func accountEvent(typ string, a account.Account) events.Event {
	return account.NewEvent(a.Shard, typ, a.ID, a.Shard, account.AccountPayload(a), a.UpdatedAt)
}

// Get returns an account or account_not_found.
func (s *Store) Get(ctx context.Context, id string) (account.Account, error) {
	sh := s.ShardOf(id)
	var r accountRow
	err := s.Shard(sh).GetContext(ctx, &r, "SELECT "+accountColumns+" FROM accounts WHERE account_id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Account{}, problem.New(problem.AccountNotFound, "account %s does not exist", id)
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("get account: %w", err)
	}
	return r.toAccount(sh), nil
}

// owned returns which of ids belong to owner, reading each shard's
// accounts among ids in one query.
func (s *Store) owned(ctx context.Context, owner string, ids []string) (map[string]bool, error) {
	byShard := map[int][]any{}
	for _, id := range ids {
		sh := s.ShardOf(id)
		byShard[sh] = append(byShard[sh], id)
	}
	out := map[string]bool{}
	for sh, args := range byShard {
		var mine []string
		q := "SELECT account_id FROM accounts WHERE owner_id = ? AND account_id IN (" + placeholders(len(args)) + ")"
		if err := s.Shard(sh).SelectContext(ctx, &mine, q, append([]any{owner}, args...)...); err != nil {
			return nil, fmt.Errorf("shard %d: read owners: %w", sh, err)
		}
		for _, id := range mine {
			out[id] = true
		}
	}
	return out, nil
}

// lockAccounts locks the accounts of ids on one shard with SELECT … FOR
// UPDATE and returns them by id; missing ids are absent from the map.
//
// Lock order: every transaction that locks several accounts locks them in
// ascending account_id order, in one statement, so no two transactions wait
// on each other in a cycle. A batch locks its accounts before any other row
// (see load).
func lockAccounts(ctx context.Context, tx *sqlx.Tx, shard int, ids ...string) (map[string]account.Account, error) {
	if len(ids) == 0 {
		return map[string]account.Account{}, nil // a batch of saga events for accounts elsewhere
	}
	args := make([]any, len(ids))
	for i, id := range slices.Sorted(slices.Values(ids)) {
		args[i] = id
	}
	q := "SELECT " + accountColumns + " FROM accounts WHERE account_id IN (" + placeholders(len(ids)) +
		") ORDER BY account_id FOR UPDATE"
	var rows []accountRow
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("lock accounts: %w", err)
	}
	out := make(map[string]account.Account, len(rows))
	for _, r := range rows {
		out[r.ID] = r.toAccount(shard)
	}
	return out, nil
}

// lockAccount locks one account or returns account_not_found.
func lockAccount(ctx context.Context, tx *sqlx.Tx, shard int, id string) (account.Account, error) {
	m, err := lockAccounts(ctx, tx, shard, id)
	if err != nil {
		return account.Account{}, err
	}
	a, ok := m[id]
	if !ok {
		return account.Account{}, problem.New(problem.AccountNotFound, "account %s does not exist", id)
	}
	return a, nil
}

// saveBalances stores the balance and version of every account the batch
// changed, in one statement.
func saveBalances(ctx context.Context, tx sqlx.ExecerContext, b *account.Batch) error {
	ids := b.Changes.Accounts
	if len(ids) == 0 {
		return nil
	}
	var args []any
	balance := caseWhen("account_id", len(ids), func(i int) (any, any) { return ids[i], b.Accounts[ids[i]].Balance }, &args)
	version := caseWhen("account_id", len(ids), func(i int) (any, any) { return ids[i], b.Accounts[ids[i]].Version }, &args)
	args = append(args, b.Now)
	for _, id := range ids {
		args = append(args, id)
	}
	q := "UPDATE accounts SET balance = " + balance + ", version = " + version + ", updated_at = ? WHERE account_id IN (" + placeholders(len(ids)) + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("update %d balances: %w", len(ids), err)
	}
	return nil
}
