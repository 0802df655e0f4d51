package mysql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// Redrive emits transfer.debited again, under a new event id, for transfers
// of shard sh pending for longer than olderThan, and returns how many. The
// destination answers from its credit record, so it never credits twice;
// other consumers dedupe by (transaction_id, type, source). A debit still in
// the outbox is left alone, and the wait doubles per redrive up to 64 times
// olderThan, so an outage does not flood the stream (ADR 0001).
func (s *Store) Redrive(ctx context.Context, sh int, olderThan time.Duration) (int, error) {
	var keys []struct {
		TransactionID string `db:"transaction_id"`
		From          string `db:"from_account"`
	}
	if err := s.Shard(sh).SelectContext(ctx, &keys, `SELECT transaction_id, from_account FROM transfers
		WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT 100`, s.now().Add(-olderThan)); err != nil {
		return 0, fmt.Errorf("find pending transfers: %w", err)
	}
	n := 0
	var errs []error
	for _, k := range keys {
		sent, err := s.redriveOne(ctx, sh, account.Key{TransactionID: k.TransactionID, From: k.From}, olderThan)
		if err != nil {
			errs = append(errs, fmt.Errorf("redrive %s from %s: %w", k.TransactionID, k.From, err))
		}
		if sent {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (s *Store) redriveOne(ctx context.Context, sh int, k account.Key, olderThan time.Duration) (sent bool, err error) {
	err = s.inShard(ctx, sh, func(tx *sqlx.Tx) error {
		sent = false
		var r struct {
			transferRow
			Redrives int `db:"redrives"`
		}
		if err := tx.GetContext(ctx, &r, "SELECT "+transferColumns+", redrives FROM transfers WHERE transaction_id = ? AND from_account = ? FOR UPDATE",
			k.TransactionID, k.From); err != nil {
			return err
		}
		t, err := r.toTransfer()
		if err != nil || !account.RedriveDue(t, r.Redrives, olderThan, s.now()) {
			return err
		}
		// The subject is the transaction id alone, so a queued debit of
		// another source account's transfer under the same id also
		// postpones this redrive: a delay of one relay poll, never a loss.
		// A debit the relay set aside (poison) waits no more: it gets a
		// fresh one.
		var queued int
		if err := tx.GetContext(ctx, &queued, `SELECT COUNT(*) FROM outbox WHERE published_at IS NULL
			AND set_aside_at IS NULL AND subject = ? AND event_type = ?`, k.TransactionID, events.TransferDebited); err != nil || queued > 0 {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, "UPDATE transfers SET updated_at = ?, redrives = redrives + 1 WHERE transaction_id = ? AND from_account = ?",
			now, k.TransactionID, k.From); err != nil {
			return err
		}
		sent = true
		return s.outbox.Append(ctx, tx, account.NewEvent(sh, events.TransferDebited, k.TransactionID, t.ToShard, account.TransferPayload(t), now))
	})
	if err == nil && sent {
		s.committed(sh)
	}
	return sent, err
}
