package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

// Redrive emits transfer.debited again, under a new event id, for transfers
// of shard sh pending for longer than olderThan, and returns how many. The
// destination answers from its credit record, so a redriven debit never
// credits twice. Downstream consumers see the repeat and must dedupe
// transfer events by (transaction_id, type), as the ledger does.
func (s *Store) Redrive(ctx context.Context, sh int, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan)
	var ids []string
	if err := s.shards[sh].SelectContext(ctx, &ids, `SELECT transaction_id FROM transfers
		WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT 100`, cutoff); err != nil {
		return 0, fmt.Errorf("find pending transfers: %w", err)
	}
	n := 0
	for _, id := range ids {
		sent := false
		err := database.InTx(ctx, s.shards[sh], func(tx *sqlx.Tx) error {
			var r transferRow
			err := tx.GetContext(ctx, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ? FOR UPDATE", id)
			sent = false
			if err != nil || r.Status != string(account.Pending) || !r.UpdatedAt.Before(cutoff) {
				return err
			}
			t, err := r.toTransfer()
			if err != nil {
				return err
			}
			// Touching updated_at spaces the next redrive of this transfer.
			if _, err := tx.ExecContext(ctx, "UPDATE transfers SET updated_at = ? WHERE transaction_id = ?", s.now(), id); err != nil {
				return err
			}
			sent = true
			return s.outbox.Append(ctx, tx, s.event(sh, events.TransferDebited, id, t.ToShard, transferPayload(t)))
		})
		if err != nil {
			return n, fmt.Errorf("redrive %s: %w", id, err)
		}
		if sent {
			n++
		}
	}
	return n, nil
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
