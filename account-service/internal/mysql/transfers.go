package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
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
	return account.Transfer{TransactionID: r.TransactionID, From: r.From, To: r.To, Amount: amt,
		FromShard: r.FromShard, ToShard: r.ToShard, Status: account.TransferStatus(r.Status),
		Reason: problem.Code(r.Reason.String), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

// Transfer moves money between two accounts. On one shard it is one
// transaction: lock both accounts, check, debit, credit, record the transfer
// completed and emit transfer.completed. Across shards it is the first saga
// step (see debit) and the transfer is returned pending. A repeat of a recorded transfer
// returns it as stored; a different request with the same transaction_id
// fails with idempotency_conflict. Rejections store nothing.
func (s *Store) Transfer(ctx context.Context, req account.TransferRequest) (account.Transfer, error) {
	from, to := s.ShardOf(req.From), s.ShardOf(req.To)
	db := s.shards[from]
	var out account.Transfer
	err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
		var err error
		if from == to {
			out, err = s.transferLocal(ctx, tx, from, req)
		} else {
			out, err = s.debit(ctx, tx, from, to, req)
		}
		return err
	})
	if errors.Is(err, errReplay) || database.IsDuplicate(err) {
		t, found, rerr := replayTransfer(ctx, db, req)
		if !found && rerr == nil {
			rerr = fmt.Errorf("transfer %s: key taken but no transfer recorded: %w", req.TransactionID, err)
		}
		return t, rerr
	}
	if err != nil {
		return account.Transfer{}, fmt.Errorf("transfer: %w", err)
	}
	return out, nil
}

func (s *Store) transferLocal(ctx context.Context, tx *sqlx.Tx, sh int, req account.TransferRequest) (account.Transfer, error) {
	accs, err := lockAccounts(ctx, tx, sh, req.From, req.To)
	if err != nil {
		return account.Transfer{}, err
	}
	// The key is looked up under the account locks, which a concurrent
	// request with the same key holds until it commits: the one that comes
	// second sees the first's outcome and replays it.
	if _, found, err := replayTransfer(ctx, tx, req); found || err != nil {
		return account.Transfer{}, errors.Join(errReplay, err)
	}
	src, dst, err := checkTransfer(accs, req)
	if err != nil {
		return account.Transfer{}, err
	}
	now := s.now()
	if src, err = addBalance(ctx, tx, src, req.Amount.Decimal().Neg(), now); err != nil {
		return account.Transfer{}, err
	}
	if dst, err = addBalance(ctx, tx, dst, req.Amount.Decimal(), now); err != nil {
		return account.Transfer{}, err
	}
	t := account.Transfer{TransactionID: req.TransactionID, From: req.From, To: req.To, Amount: req.Amount,
		FromShard: sh, ToShard: sh, Status: account.Completed, CreatedAt: now, UpdatedAt: now,
		Steps: []account.Step{{Name: "completed", Shard: sh, At: now}}}
	if err := insertTransfer(ctx, tx, t, req.Hash()); err != nil {
		return account.Transfer{}, err
	}
	if err := insertStep(ctx, tx, t.TransactionID, t.Steps[0]); err != nil {
		return account.Transfer{}, err
	}
	data := transferPayload(t, balanceOf(src), balanceOf(dst))
	return t, s.outbox.Append(ctx, tx, s.event(sh, events.TransferCompleted, t.TransactionID, sh, data))
}

// checkTransfer applies the rules to the locked accounts of a transfer.
func checkTransfer(accs map[string]account.Account, req account.TransferRequest) (src, dst account.Account, err error) {
	src, ok := accs[req.From]
	if !ok {
		return src, dst, problem.New(problem.AccountNotFound, "account %s does not exist", req.From)
	}
	dst, ok = accs[req.To]
	if !ok {
		return src, dst, problem.New(problem.AccountNotFound, "account %s does not exist", req.To)
	}
	if err := src.CanSend(req.Amount); err != nil {
		return src, dst, err
	}
	return src, dst, dst.CanReceive(req.Amount)
}

func insertTransfer(ctx context.Context, tx *sqlx.Tx, t account.Transfer, hash string) error {
	var reason any
	if t.Reason != "" {
		reason = string(t.Reason)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO transfers (`+transferColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.TransactionID, hash, t.From, t.To, t.Amount.Decimal(), t.Amount.Currency(), t.FromShard, t.ToShard,
		t.Status, reason, t.CreatedAt, t.UpdatedAt)
	if err != nil {
		return fmt.Errorf("record transfer: %w", err)
	}
	return nil
}

func insertStep(ctx context.Context, tx *sqlx.Tx, txID string, st account.Step) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO transfer_steps (transaction_id, step, shard, at) VALUES (?, ?, ?, ?)",
		txID, st.Name, st.Shard, st.At)
	if err != nil {
		return fmt.Errorf("record step %s: %w", st.Name, err)
	}
	return nil
}

func balanceOf(a account.Account) events.Balance {
	return events.Balance{AccountID: a.ID, BalanceAfter: money.Format(a.Balance, a.Currency), Version: a.Version}
}

func transferPayload(t account.Transfer, balances ...events.Balance) []byte {
	data, _ := json.Marshal(events.Transfer{TransactionID: t.TransactionID, FromAccount: t.From, ToAccount: t.To,
		Amount: t.Amount.String(), Currency: t.Amount.Currency(), FromShard: t.FromShard, ToShard: t.ToShard,
		Reason: string(t.Reason), Balances: balances})
	return data
}

func replayTransfer(ctx context.Context, q sqlx.QueryerContext, req account.TransferRequest) (account.Transfer, bool, error) {
	var r transferRow
	err := sqlx.GetContext(ctx, q, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ?", req.TransactionID)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Transfer{}, false, nil
	}
	if err != nil {
		return account.Transfer{}, false, fmt.Errorf("read transfer: %w", err)
	}
	if r.RequestHash != req.Hash() {
		return account.Transfer{}, true, problem.New(problem.IdempotencyConflict,
			"transaction_id %s was already used with a different request", req.TransactionID)
	}
	t, err := r.toTransfer()
	return t, true, err
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
		t.Steps, err = s.steps(ctx, txID, t.FromShard, t.ToShard)
		return t, err
	}
	return account.Transfer{}, problem.New(problem.NotFound, "transfer %s does not exist", txID)
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
	sortSteps(out)
	return out, nil
}
