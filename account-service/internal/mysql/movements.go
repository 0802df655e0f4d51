package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

type movementRow struct {
	TransactionID string          `db:"transaction_id"`
	RequestHash   string          `db:"request_hash"`
	Kind          string          `db:"kind"`
	AccountID     string          `db:"account_id"`
	Amount        decimal.Decimal `db:"amount"`
	Currency      string          `db:"currency"`
	BalanceAfter  decimal.Decimal `db:"balance_after"`
	Version       int64           `db:"version"`
}

func (r movementRow) toMovement() (account.Movement, error) {
	amt, err := money.New(r.Amount, r.Currency)
	if err != nil {
		return account.Movement{}, fmt.Errorf("movement %s: stored amount: %w", r.TransactionID, err)
	}
	return account.Movement{TransactionID: r.TransactionID, Kind: account.Kind(r.Kind), AccountID: r.AccountID,
		Amount: amt, BalanceAfter: r.BalanceAfter, Version: r.Version}, nil
}

// Move deposits into or withdraws from one account, idempotently by
// transaction_id: a repeat with the same request returns the stored movement,
// one with a different request fails with idempotency_conflict. Rejections
// (account_not_found, account_frozen, account_closed, currency_mismatch,
// insufficient_funds) store nothing.
func (s *Store) Move(ctx context.Context, req account.MovementRequest) (account.Movement, error) {
	sh := s.ShardOf(req.AccountID)
	db := s.shards[sh]
	var out account.Movement
	err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
		a, err := lockAccount(ctx, tx, sh, req.AccountID)
		if err != nil {
			return err
		}
		// The key is looked up under the account lock, which a concurrent
		// request with the same key holds until it commits: the one that
		// comes second sees the first's outcome and replays it.
		if _, found, err := replayMovement(ctx, tx, req); found || err != nil {
			return errors.Join(errReplay, err)
		}
		if err := movable(a, req); err != nil {
			return err
		}
		delta := req.Amount.Decimal()
		typ := events.AccountDeposited
		if req.Kind == account.Withdrawal {
			delta, typ = delta.Neg(), events.AccountWithdrawn
		}
		now := s.now()
		if a, err = addBalance(ctx, tx, a, delta, now); err != nil {
			return err
		}
		out = account.Movement{TransactionID: req.TransactionID, Kind: req.Kind, AccountID: a.ID,
			Amount: req.Amount, BalanceAfter: a.Balance, Version: a.Version}
		_, err = tx.ExecContext(ctx, `INSERT INTO movements (transaction_id, request_hash, kind, account_id,
			amount, currency, balance_after, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			req.TransactionID, req.Hash(), req.Kind, a.ID, req.Amount.Decimal(), req.Amount.Currency(), a.Balance, a.Version, now)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(events.Movement{TransactionID: req.TransactionID, AccountID: a.ID,
			Amount: req.Amount.String(), Currency: a.Currency, BalanceAfter: money.Format(a.Balance, a.Currency), Version: a.Version})
		return s.outbox.Append(ctx, tx, s.event(sh, typ, a.ID, sh, data))
	})
	if errors.Is(err, errReplay) || database.IsDuplicate(err) {
		// A concurrent request with the same key won: answer with its outcome.
		m, found, rerr := replayMovement(ctx, db, req)
		if !found && rerr == nil {
			rerr = fmt.Errorf("%s %s: key taken but no movement recorded: %w", req.Kind, req.TransactionID, err)
		}
		return m, rerr
	}
	if err != nil {
		return account.Movement{}, fmt.Errorf("%s: %w", req.Kind, err)
	}
	return out, nil
}

func movable(a account.Account, req account.MovementRequest) error {
	if req.Kind == account.Withdrawal {
		return a.CanSend(req.Amount)
	}
	return a.CanReceive(req.Amount)
}

func replayMovement(ctx context.Context, q sqlx.QueryerContext, req account.MovementRequest) (account.Movement, bool, error) {
	var r movementRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT transaction_id, request_hash, kind, account_id, amount, currency,
		balance_after, version FROM movements WHERE transaction_id = ?`, req.TransactionID)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Movement{}, false, nil
	}
	if err != nil {
		return account.Movement{}, false, fmt.Errorf("read movement: %w", err)
	}
	if r.RequestHash != req.Hash() {
		return account.Movement{}, true, problem.New(problem.IdempotencyConflict,
			"transaction_id %s was already used with a different request", req.TransactionID)
	}
	m, err := r.toMovement()
	return m, true, err
}
