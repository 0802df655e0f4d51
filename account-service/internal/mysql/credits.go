package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

type creditRow struct {
	TransactionID string          `db:"transaction_id"`
	RequestHash   string          `db:"request_hash"`
	From          string          `db:"from_account"`
	To            string          `db:"to_account"`
	Amount        decimal.Decimal `db:"amount"`
	Currency      string          `db:"currency"`
	FromShard     int             `db:"from_shard"`
	Status        string          `db:"status"`
	Reason        sql.NullString  `db:"reason"`
	BalanceAfter  sql.NullString  `db:"balance_after"`
	Version       sql.NullInt64   `db:"version"`
	CreatedAt     time.Time       `db:"created_at"`
}

const creditColumns = `transaction_id, request_hash, from_account, to_account, amount, currency, from_shard,
	status, reason, balance_after, version, created_at`

func (r creditRow) toCredit() (account.Credit, error) {
	amt, err := money.New(r.Amount, r.Currency)
	if err != nil {
		return account.Credit{}, fmt.Errorf("credit %s: stored amount: %w", r.TransactionID, err)
	}
	c := account.Credit{TransactionID: r.TransactionID, RequestHash: r.RequestHash, From: r.From, To: r.To, Amount: amt,
		FromShard: r.FromShard, Status: r.Status, Reason: problem.Code(r.Reason.String), CreatedAt: r.CreatedAt}
	if r.BalanceAfter.Valid {
		d, err := decimal.NewFromString(r.BalanceAfter.String)
		if err != nil {
			return account.Credit{}, fmt.Errorf("credit %s: stored balance %q: %w", r.TransactionID, r.BalanceAfter.String, err)
		}
		c.Balance = &events.Balance{AccountID: r.To, BalanceAfter: money.Format(d, r.Currency), Version: r.Version.Int64}
	}
	return c, nil
}

func insertCredits(ctx context.Context, tx sqlx.ExecerContext, cs []account.Credit) error {
	return insertRows(ctx, tx, "credits", creditColumns, len(cs), func(i int) []any {
		c := cs[i]
		var balance, version any
		if c.Balance != nil {
			balance, version = c.Balance.BalanceAfter, c.Balance.Version
		}
		return []any{c.TransactionID, c.RequestHash, c.From, c.To, c.Amount.Decimal(), c.Amount.Currency(), c.FromShard,
			c.Status, nullable(string(c.Reason)), balance, version, c.CreatedAt}
	})
}
