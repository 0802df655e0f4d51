package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
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
	Refusal       sql.NullString  `db:"refusal"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
}

const transferColumns = `transaction_id, request_hash, from_account, to_account, amount, currency,
	from_shard, to_shard, status, reason, refusal, created_at, updated_at`

func (r transferRow) toTransfer() (account.Transfer, error) {
	amt, err := money.New(r.Amount, r.Currency)
	if err != nil {
		return account.Transfer{}, fmt.Errorf("transfer %s: stored amount: %w", r.TransactionID, err)
	}
	refusal, err := refusalOf(r.Refusal)
	if err != nil {
		return account.Transfer{}, fmt.Errorf("transfer %s: %w", r.TransactionID, err)
	}
	return account.Transfer{TransactionID: r.TransactionID, Hash: r.RequestHash, From: r.From, To: r.To, Amount: amt,
		FromShard: r.FromShard, ToShard: r.ToShard, Status: account.TransferStatus(r.Status),
		Reason: problem.Code(r.Reason.String), Refusal: refusal, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

func insertTransfers(ctx context.Context, tx sqlx.ExecerContext, ts []*account.Transfer) error {
	refusals := make([]any, len(ts))
	for i, t := range ts {
		var err error
		if refusals[i], err = refusalValue(t.Refusal); err != nil {
			return fmt.Errorf("transfer %s: %w", t.TransactionID, err)
		}
	}
	return insertRows(ctx, tx, "transfers", transferColumns, len(ts), func(i int) []any {
		t := ts[i]
		return []any{t.TransactionID, t.Hash, t.From, t.To, t.Amount.Decimal(), t.Amount.Currency(), t.FromShard, t.ToShard,
			t.Status, nullable(string(t.Reason)), refusals[i], t.CreatedAt, t.UpdatedAt}
	})
}

// saveSettled stores the new status of transfers whose saga ended (each
// ends once: only a pending one can); those created in the same batch were
// inserted as they are already.
func saveSettled(ctx context.Context, tx sqlx.ExecerContext, created, settled []*account.Transfer, b *account.Batch) error {
	var ts []*account.Transfer
	for _, t := range settled {
		if !slices.Contains(created, t) {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	// Rows are matched by their whole key, (transaction_id, from_account):
	// another source account's transfer under the same id must not change.
	var args []any
	status := caseWhenKey(ts, func(t *account.Transfer) any { return t.Status }, &args)
	reason := caseWhenKey(ts, func(t *account.Transfer) any { return nullable(string(t.Reason)) }, &args)
	args = append(args, b.Now)
	for _, t := range ts {
		args = append(args, t.TransactionID)
	}
	for _, t := range ts {
		args = append(args, t.TransactionID, t.From)
	}
	// The plain IN on transaction_id lets every server use the primary key's
	// prefix (not every optimizer turns a row IN into ranges); the row IN
	// picks the exact rows.
	q := "UPDATE transfers SET status = " + status + ", reason = " + reason + ", updated_at = ? WHERE transaction_id IN (" +
		placeholders(len(ts)) + ") AND (transaction_id, from_account) IN (" + database.Tuples(len(ts), 2) + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("end %d transfers: %w", len(ts), err)
	}
	return nil
}

// caseWhenKey builds "CASE WHEN (transaction_id, from_account) = (?, ?) THEN ?
// … END" over ts; value(t) is the value for t's row.
func caseWhenKey(ts []*account.Transfer, value func(t *account.Transfer) any, args *[]any) string {
	var q strings.Builder
	q.WriteString("CASE")
	for _, t := range ts {
		q.WriteString(" WHEN (transaction_id, from_account) = (?, ?) THEN ?")
		*args = append(*args, t.TransactionID, t.From, value(t))
	}
	q.WriteString(" END")
	return q.String()
}

func insertSteps(ctx context.Context, tx sqlx.ExecerContext, steps []account.StepRecord) error {
	return insertRows(ctx, tx, "transfer_steps", "transaction_id, from_account, step, shard, at", len(steps), func(i int) []any {
		s := steps[i]
		return []any{s.TransactionID, s.From, s.Name, s.Shard, s.At}
	})
}

// GetTransfer returns the transfer with its steps that q names, as
// account.Lookup decides from the transfers recorded under q's id: on the
// source account's shard when q.From is set, else on every shard (the id
// does not say which recorded it). For a customer's query only the owner
// of the transfers' own accounts is read, so nothing of another owner's
// transfer under the id reaches the answer.
func (s *Store) GetTransfer(ctx context.Context, q account.TransferQuery) (account.Transfer, error) {
	var found []account.Transfer
	for sh := range s.schemas {
		db := s.Shard(sh)
		if q.From != "" && sh != s.ShardOf(q.From) {
			continue
		}
		stmt, args := "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ? ORDER BY from_account", []any{q.TransactionID}
		if q.From != "" {
			stmt, args = "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ? AND from_account = ?", []any{q.TransactionID, q.From}
		}
		var rows []transferRow
		if err := db.SelectContext(ctx, &rows, stmt, args...); err != nil {
			return account.Transfer{}, fmt.Errorf("shard %d: read transfer: %w", sh, err)
		}
		for _, r := range rows {
			t, err := r.toTransfer()
			if err != nil {
				return account.Transfer{}, err
			}
			found = append(found, t)
		}
	}
	var owned map[string]bool
	if q.Owner != "" {
		var parties []string
		for _, t := range found {
			parties = append(parties, t.From, t.To)
		}
		var err error
		if owned, err = s.owned(ctx, q.Owner, parties); err != nil {
			return account.Transfer{}, err
		}
	}
	t, err := account.Lookup(q, found, func(id string) bool { return owned[id] })
	if err != nil {
		return account.Transfer{}, err
	}
	if t.Steps, err = s.steps(ctx, t.Key(), t.FromShard, t.ToShard); err == nil && len(t.Steps) == 0 {
		t.Steps = account.SameShardSteps(t)
	}
	return t, err
}

// Refresh re-reads a transfer from its source shard.
func (s *Store) Refresh(ctx context.Context, t account.Transfer) (account.Transfer, error) {
	var r transferRow
	err := s.Shard(t.FromShard).GetContext(ctx, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ? AND from_account = ?", t.TransactionID, t.From)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Transfer{}, problem.New(problem.NotFound, "transfer %s from account %s does not exist", t.TransactionID, t.From)
	}
	if err != nil {
		return account.Transfer{}, fmt.Errorf("refresh transfer: %w", err)
	}
	return r.toTransfer()
}

// steps collects one transfer's saga steps from its shards, oldest first.
// Steps are matched by the whole key: a shard may hold steps of another
// transfer under the same transaction id (from another source account).
func (s *Store) steps(ctx context.Context, k account.Key, shards ...int) ([]account.Step, error) {
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
		if err := s.Shard(sh).SelectContext(ctx, &rows,
			"SELECT step, shard, at FROM transfer_steps WHERE transaction_id = ? AND from_account = ? ORDER BY at", k.TransactionID, k.From); err != nil {
			return nil, fmt.Errorf("shard %d: read steps: %w", sh, err)
		}
		for _, r := range rows {
			out = append(out, account.Step{Name: r.Step, Shard: r.Shard, At: r.At})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
