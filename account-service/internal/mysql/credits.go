package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/stream"
)

// creditRow is the destination shard's record of step 2.
type creditRow struct {
	TransactionID string
	RequestHash   string
	Status        string          // StepCredited or StepCreditRejected
	Reason        problem.Code    // set when rejected
	Balance       *events.Balance // the destination after the credit
}

// lockCredit reads and locks the credit row of a transaction id.
func lockCredit(ctx context.Context, tx *sqlx.Tx, txID string) (creditRow, bool, error) {
	var r struct {
		TransactionID string         `db:"transaction_id"`
		RequestHash   string         `db:"request_hash"`
		To            string         `db:"to_account"`
		Currency      string         `db:"currency"`
		Status        string         `db:"status"`
		Reason        sql.NullString `db:"reason"`
		BalanceAfter  sql.NullString `db:"balance_after"`
		Version       sql.NullInt64  `db:"version"`
	}
	err := tx.GetContext(ctx, &r, `SELECT transaction_id, request_hash, to_account, currency, status, reason,
		balance_after, version FROM credits WHERE transaction_id = ? FOR UPDATE`, txID)
	if errors.Is(err, sql.ErrNoRows) {
		return creditRow{}, false, nil
	}
	if err != nil {
		return creditRow{}, false, fmt.Errorf("read credit: %w", err)
	}
	c := creditRow{TransactionID: r.TransactionID, RequestHash: r.RequestHash, Status: r.Status, Reason: problem.Code(r.Reason.String)}
	if r.BalanceAfter.Valid {
		d, err := decimalOf(r.BalanceAfter.String)
		if err != nil {
			return creditRow{}, false, err
		}
		c.Balance = &events.Balance{AccountID: r.To, BalanceAfter: money.Format(d, r.Currency), Version: r.Version.Int64}
	}
	return c, true, nil
}

func insertCredit(ctx context.Context, tx *sqlx.Tx, t account.Transfer, c creditRow, now time.Time) error {
	var reason, balance, version any
	if c.Reason != "" {
		reason = string(c.Reason)
	}
	if c.Balance != nil {
		balance, version = c.Balance.BalanceAfter, c.Balance.Version
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO credits (transaction_id, request_hash, from_account, to_account,
		amount, currency, from_shard, status, reason, balance_after, version, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.TransactionID, c.RequestHash, t.From, t.To, t.Amount.Decimal(), t.Amount.Currency(), t.FromShard,
		c.Status, reason, balance, version, now)
	if err != nil {
		return fmt.Errorf("record credit: %w", err)
	}
	return nil
}

// usedAsSource reports whether this shard already recorded a transfer
// (same-shard, or sent from here) under txID.
func usedAsSource(ctx context.Context, tx *sqlx.Tx, txID string) (bool, error) {
	var n int
	if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM transfers WHERE transaction_id = ?", txID); err != nil {
		return false, fmt.Errorf("check transaction id: %w", err)
	}
	return n > 0, nil
}

func setTransferStatus(ctx context.Context, tx *sqlx.Tx, txID string, st account.TransferStatus, reason problem.Code, now time.Time) error {
	var r any
	if reason != "" {
		r = string(reason)
	}
	_, err := tx.ExecContext(ctx, "UPDATE transfers SET status = ?, reason = ?, updated_at = ? WHERE transaction_id = ?", st, r, now, txID)
	if err != nil {
		return fmt.Errorf("set transfer %s %s: %w", txID, st, err)
	}
	return nil
}

// transferFromEvent reads a transfer.* payload; a payload that does not hold
// a valid transfer is permanent.
func transferFromEvent(e events.Event) (account.Transfer, error) {
	p, err := events.Decode[events.Transfer](e)
	if err != nil {
		return account.Transfer{}, err
	}
	amt, err := money.Parse(p.Amount, p.Currency)
	if err != nil || p.TransactionID == "" || p.FromAccount == "" || p.ToAccount == "" {
		return account.Transfer{}, fmt.Errorf("%w: %s %s: invalid transfer payload (%v)", stream.ErrPermanent, e.Type, e.ID, err)
	}
	return account.Transfer{TransactionID: p.TransactionID, From: p.FromAccount, To: p.ToAccount, Amount: amt,
		FromShard: p.FromShard, ToShard: p.ToShard, Reason: problem.Code(p.Reason)}, nil
}

// requestOf is the request a transfer was made with, for its hash.
func requestOf(t account.Transfer) account.TransferRequest {
	return account.TransferRequest{TransactionID: t.TransactionID, From: t.From, To: t.To, Amount: t.Amount}
}
