package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/money"
)

type movementRow struct {
	TransactionID string              `db:"transaction_id"`
	RequestHash   string              `db:"request_hash"`
	Kind          string              `db:"kind"`
	AccountID     string              `db:"account_id"`
	Amount        decimal.Decimal     `db:"amount"`
	Currency      string              `db:"currency"`
	BalanceAfter  decimal.NullDecimal `db:"balance_after"` // NULL when refused
	Version       sql.NullInt64       `db:"version"`
	Refusal       sql.NullString      `db:"refusal"`
	CreatedAt     time.Time           `db:"created_at"`
}

const movementColumns = "transaction_id, request_hash, kind, account_id, amount, currency, balance_after, version, refusal, created_at"

func (r movementRow) toMovement() (account.Movement, error) {
	amt, err := money.New(r.Amount, r.Currency)
	if err != nil {
		return account.Movement{}, fmt.Errorf("movement %s: stored amount: %w", r.TransactionID, err)
	}
	refusal, err := refusalOf(r.Refusal)
	if err != nil {
		return account.Movement{}, fmt.Errorf("movement %s: %w", r.TransactionID, err)
	}
	return account.Movement{TransactionID: r.TransactionID, Hash: r.RequestHash, Kind: account.Kind(r.Kind), AccountID: r.AccountID,
		Amount: amt, BalanceAfter: r.BalanceAfter.Decimal, Version: r.Version.Int64, Refusal: refusal, CreatedAt: r.CreatedAt}, nil
}

func insertMovements(ctx context.Context, tx sqlx.ExecerContext, ms []account.Movement) error {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		var after, version any = m.BalanceAfter, m.Version
		refusal, err := refusalValue(m.Refusal)
		if err != nil {
			return fmt.Errorf("movement %s: %w", m.TransactionID, err)
		}
		if m.Refusal != nil {
			after, version = nil, nil // no balance changed
		}
		rows[i] = []any{m.TransactionID, m.Hash, m.Kind, m.AccountID, m.Amount.Decimal(), m.Amount.Currency(), after, version, refusal, m.CreatedAt}
	}
	return insertRows(ctx, tx, "movements", movementColumns, len(rows), func(i int) []any { return rows[i] })
}
