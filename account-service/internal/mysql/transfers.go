package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

type transferRow struct {
	TransactionID string          `db:"transaction_id"`
	RequestHash   string          `db:"request_hash"`
	From          string          `db:"from_account"`
	To            string          `db:"to_account"`
	Amount        decimal.Decimal `db:"amount"`
	Currency      string          `db:"currency"`
	FromShard     int             `db:"from_shard"`
	ToShard       int             `db:"to_shard"`
	Status        string          `db:"status"`
	Reason        sql.NullString  `db:"reason"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
}

const transferColumns = `transaction_id, request_hash, from_account, to_account, amount, currency,
	from_shard, to_shard, status, reason, created_at, updated_at`

func (r transferRow) toTransfer() (account.Transfer, error) {
	amt, err := money.New(r.Amount, r.Currency)
	if err != nil {
		return account.Transfer{}, fmt.Errorf("transfer %s: stored amount: %w", r.TransactionID, err)
	}
	return account.Transfer{TransactionID: r.TransactionID, Hash: r.RequestHash, From: r.From, To: r.To, Amount: amt,
		FromShard: r.FromShard, ToShard: r.ToShard, Status: account.TransferStatus(r.Status),
		Reason: problem.Code(r.Reason.String), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

// loadTransfers locks and reads the transfers this shard recorded under ids.
func loadTransfers(ctx context.Context, tx *sqlx.Tx, b *account.Batch, ids []string) error {
	err := database.SelectIn(ctx, tx, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id IN (?) ORDER BY transaction_id FOR UPDATE", ids,
		func(r transferRow) error {
			t, err := r.toTransfer()
			b.Transfers[t.TransactionID] = &t
			return err
		})
	if err != nil {
		return fmt.Errorf("read transfers: %w", err)
	}
	return nil
}

func insertTransfers(ctx context.Context, tx *sqlx.Tx, ts []*account.Transfer) error {
	return insertRows(ctx, tx, "transfers", transferColumns, len(ts), func(i int) []any {
		t := ts[i]
		return []any{t.TransactionID, t.Hash, t.From, t.To, t.Amount.Decimal(), t.Amount.Currency(), t.FromShard, t.ToShard,
			t.Status, nullable(string(t.Reason)), t.CreatedAt, t.UpdatedAt}
	})
}

// saveSettled stores the new status of transfers whose saga ended (each
// ends once: only a pending one can); those created in the same batch were
// inserted as they are already.
func saveSettled(ctx context.Context, tx *sqlx.Tx, created, settled []*account.Transfer, b *account.Batch) error {
	var ts []*account.Transfer
	for _, t := range settled {
		if !slices.Contains(created, t) {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	var args []any
	status := caseWhen("transaction_id", len(ts), func(i int) (any, any) { return ts[i].TransactionID, ts[i].Status }, &args)
	reason := caseWhen("transaction_id", len(ts), func(i int) (any, any) { return ts[i].TransactionID, nullable(string(ts[i].Reason)) }, &args)
	args = append(args, b.Now)
	for _, t := range ts {
		args = append(args, t.TransactionID)
	}
	q := "UPDATE transfers SET status = " + status + ", reason = " + reason + ", updated_at = ? WHERE transaction_id IN (" + placeholders(len(ts)) + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("end %d transfers: %w", len(ts), err)
	}
	return nil
}

func insertSteps(ctx context.Context, tx *sqlx.Tx, steps []account.StepRecord) error {
	return insertRows(ctx, tx, "transfer_steps", "transaction_id, step, shard, at", len(steps), func(i int) []any {
		s := steps[i]
		return []any{s.TransactionID, s.Name, s.Shard, s.At}
	})
}

// GetTransfer returns a transfer with its steps, looking on every shard
// (the id does not say which shard recorded it), or not_found.
func (s *Store) GetTransfer(ctx context.Context, txID string) (account.Transfer, error) {
	for sh, db := range s.shards {
		var r transferRow
		err := db.GetContext(ctx, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ?", txID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return account.Transfer{}, fmt.Errorf("shard %d: read transfer: %w", sh, err)
		}
		t, err := r.toTransfer()
		if err != nil {
			return account.Transfer{}, err
		}
		if t.Steps, err = s.steps(ctx, txID, t.FromShard, t.ToShard); err == nil && len(t.Steps) == 0 {
			t.Steps = account.SameShardSteps(t)
		}
		return t, err
	}
	return account.Transfer{}, problem.New(problem.NotFound, "transfer %s does not exist", txID)
}

// Refresh re-reads a transfer from its source shard.
func (s *Store) Refresh(ctx context.Context, t account.Transfer) (account.Transfer, error) {
	var r transferRow
	err := s.shards[t.FromShard].GetContext(ctx, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ?", t.TransactionID)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Transfer{}, problem.New(problem.NotFound, "transfer %s does not exist", t.TransactionID)
	}
	if err != nil {
		return account.Transfer{}, fmt.Errorf("refresh transfer: %w", err)
	}
	return r.toTransfer()
}

// steps collects a transfer's saga steps from its shards, oldest first.
func (s *Store) steps(ctx context.Context, txID string, shards ...int) ([]account.Step, error) {
	var out []account.Step
	seen := map[int]bool{}
	for _, sh := range shards {
		if seen[sh] {
			continue
		}
		seen[sh] = true
		var rows []struct {
			Step  string    `db:"step"`
			Shard int       `db:"shard"`
			At    time.Time `db:"at"`
		}
		if err := s.shards[sh].SelectContext(ctx, &rows,
			"SELECT step, shard, at FROM transfer_steps WHERE transaction_id = ? ORDER BY at", txID); err != nil {
			return nil, fmt.Errorf("shard %d: read steps: %w", sh, err)
		}
		for _, r := range rows {
			out = append(out, account.Step{Name: r.Step, Shard: r.Shard, At: r.At})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
