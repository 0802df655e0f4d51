package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// SetStatus freezes, unfreezes or closes an account and emits
// account.status_changed; account.ChangeStatus decides. It runs as its own
// transaction: status changes are rare, and the account lock orders them
// with the batches.
func (s *Store) SetStatus(ctx context.Context, id string, to account.Status) (account.Account, error) {
	sh := s.ShardOf(id)
	var out account.Account
	err := s.inShard(ctx, sh, func(tx *sqlx.Tx) error {
		a, err := lockAccount(ctx, tx, sh, id)
		if err != nil {
			return err
		}
		pending := 0
		if to == account.Closed {
			// A refund may still come back to an account with transfers in flight.
			if err := tx.GetContext(ctx, &pending, "SELECT COUNT(*) FROM transfers WHERE from_account = ? AND status = 'pending'", id); err != nil {
				return fmt.Errorf("check transfers in flight: %w", err)
			}
		}
		a, changed, err := a.ChangeStatus(to, pending, s.now())
		out = a
		if err != nil || !changed {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET status = ?, updated_at = ? WHERE account_id = ?", a.Status, a.UpdatedAt, id); err != nil {
			return fmt.Errorf("set status: %w", err)
		}
		return s.outbox.Append(ctx, tx, accountEvent(events.AccountStatusChanged, a))
	})
	if err == nil {
		s.committed(sh)
	}
	return out, err
}
