package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// Redrive emits transfer.debited again, under a new event id, for the
// transfers pending for longer than olderThan on the shards server srv
// holds now, and returns how many. One statement over all of the server's
// shards finds them (up to 100 per shard), so an idle tick costs one query
// per server however many shards it holds; only shards with a candidate
// are entered. The destination answers from its credit record, so it never
// credits twice; other consumers dedupe by (transaction_id, type, source).
// A debit still in the outbox is left alone, and the wait doubles per
// redrive up to 64 times olderThan, so an outage does not flood the stream
// (ADR 0001).
func (s *Store) Redrive(ctx context.Context, srv int, olderThan time.Duration) (int, error) {
	var keys []struct {
		Shard         int    `db:"shard"`
		TransactionID string `db:"transaction_id"`
		From          string `db:"from_account"`
	}
	if err := s.perShard(ctx, srv, &keys, func(sh int) string {
		return "SELECT " + strconv.Itoa(sh) + " AS shard, transaction_id, from_account FROM " + s.table(sh, "transfers") +
			" WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT 100"
	}, s.now().Add(-olderThan)); err != nil {
		return 0, fmt.Errorf("find pending transfers on server %s: %w", s.servers[srv].Name, err)
	}
	n := 0
	var errs []error
	for _, k := range keys {
		sent, err := s.redriveOne(ctx, k.Shard, account.Key{TransactionID: k.TransactionID, From: k.From}, olderThan)
		if err != nil {
			errs = append(errs, fmt.Errorf("redrive %s from %s (shard %d): %w", k.TransactionID, k.From, k.Shard, err))
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
		// The debit goes to the destination's shard now: the row's shard
		// numbers are the count's when the transfer was made.
		t = t.OnShards(s.Shards())
		return s.outbox.Append(ctx, tx, account.NewEvent(sh, events.TransferDebited, k.TransactionID, t.ToShard, account.TransferPayload(t), now))
	})
	if err == nil && sent {
		s.committed(sh)
	}
	return sent, err
}
