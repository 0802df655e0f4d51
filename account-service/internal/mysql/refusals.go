package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/problem"
)

type refusalRow struct {
	Kind          string         `db:"kind"`
	TransactionID string         `db:"transaction_id"`
	From          string         `db:"from_account"`
	RequestHash   string         `db:"request_hash"`
	Code          string         `db:"code"`
	Detail        string         `db:"detail"`
	Extra         sql.NullString `db:"extra"`
	CreatedAt     time.Time      `db:"created_at"`
}

const refusalColumns = "kind, transaction_id, from_account, request_hash, code, detail, extra, created_at"

func (r refusalRow) toRefusal() (account.Refusal, error) {
	pe := &problem.Error{Code: problem.Code(r.Code), Detail: r.Detail}
	if r.Extra.Valid {
		if err := json.Unmarshal([]byte(r.Extra.String), &pe.Extra); err != nil {
			return account.Refusal{}, fmt.Errorf("refusal %s: stored extra: %w", r.TransactionID, err)
		}
	}
	k := account.RefusalKey{Kind: account.RefusalKind(r.Kind), Key: account.Key{TransactionID: r.TransactionID, From: r.From}}
	return account.Refusal{RefusalKey: k, Hash: r.RequestHash, Err: pe, At: r.CreatedAt}, nil
}

// loadRefusals reads the refusals recorded under ids. Like movements they
// need no lock of their own: a refusal was decided under the lock of the
// account it names, which the batch holds too, and one raced in for an
// account that does not exist fails our insert (duplicate) and the batch
// runs again.
func loadRefusals(ctx context.Context, tx *sqlx.Tx, b *account.Batch, ids []string) error {
	err := database.SelectIn(ctx, tx, "SELECT "+refusalColumns+" FROM refusals WHERE transaction_id IN (?)", ids,
		func(r refusalRow) error {
			ref, err := r.toRefusal()
			b.Refusals[ref.RefusalKey] = &ref
			return err
		})
	if err != nil {
		return fmt.Errorf("read refusals: %w", err)
	}
	return nil
}

func insertRefusals(ctx context.Context, tx *sqlx.Tx, rs []account.Refusal) error {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		var extra any
		if len(r.Err.Extra) > 0 {
			b, err := json.Marshal(r.Err.Extra)
			if err != nil {
				return fmt.Errorf("refusal %s: extra: %w", r.TransactionID, err)
			}
			extra = string(b)
		}
		rows[i] = []any{r.Kind, r.TransactionID, r.From, r.Hash, r.Err.Code, r.Err.Detail, extra, r.At}
	}
	return insertRows(ctx, tx, "refusals", refusalColumns, len(rows), func(i int) []any { return rows[i] })
}
