package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

// SetStatus freezes, unfreezes or closes an account and emits
// account.status_changed. Setting the current status again changes nothing.
// Closed is final (account_closed); closing needs a zero balance and no
// outgoing transfer in flight (account_not_empty).
func (s *Store) SetStatus(ctx context.Context, id string, to account.Status) (account.Account, error) {
	sh := s.ShardOf(id)
	var out account.Account
	err := database.InTx(ctx, s.shards[sh], func(tx *sqlx.Tx) error {
		a, err := lockAccount(ctx, tx, sh, id)
		if err != nil {
			return err
		}
		out = a
		if a.Status == to {
			return nil
		}
		if a.Status == account.Closed {
			return problem.New(problem.AccountClosed, "account %s is closed", id)
		}
		if to == account.Closed {
			if err := closable(ctx, tx, a); err != nil {
				return err
			}
		}
		out.Status, out.UpdatedAt = to, s.now()
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET status = ?, updated_at = ? WHERE account_id = ?", to, out.UpdatedAt, id); err != nil {
			return fmt.Errorf("set status: %w", err)
		}
		return s.outbox.Append(ctx, tx, s.accountEvent(events.AccountStatusChanged, out))
	})
	return out, err
}

func closable(ctx context.Context, tx *sqlx.Tx, a account.Account) error {
	if !a.Balance.IsZero() {
		return problem.New(problem.AccountNotEmpty, "account %s still holds %s %s", a.ID, balanceOf(a).BalanceAfter, a.Currency)
	}
	var pending int
	if err := tx.GetContext(ctx, &pending, "SELECT COUNT(*) FROM transfers WHERE from_account = ? AND status = 'pending'", a.ID); err != nil {
		return fmt.Errorf("check transfers in flight: %w", err)
	}
	if pending > 0 {
		// A refund may still come back to it.
		return problem.New(problem.AccountNotEmpty, "account %s has %d outgoing transfer(s) in flight", a.ID, pending)
	}
	return nil
}

// Shard returns the pool of shard sh, for components that keep their own
// tables there (dead letters).
func (s *Store) Shard(sh int) *sqlx.DB { return s.shards[sh] }
