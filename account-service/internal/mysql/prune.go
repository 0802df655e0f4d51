package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/tick"
)

var refusalsDeleted = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_refusals_deleted_total",
	Help: "Refused transfers and movements deleted after account.refusal_retention, by shard.",
}, []string{"shard"})

// pruneBatch bounds the rows one delete statement removes, so that every
// statement is a short transaction.
const pruneBatch = 1000

// PruneRefusals deletes shard's refused transfers and movements decided more
// than retention ago (the store's clock, which wrote their times), and
// returns how many it deleted. Successes are never touched. Like
// outbox.Prune, each round selects at most pruneBatch of the oldest keys on
// an index without locking and deletes them by primary key, re-checking the
// condition on unindexed columns only: a delete then locks only the rows it
// removes, never the index gap where new refusals are inserted.
func (s *Store) PruneRefusals(ctx context.Context, shard int, retention time.Duration) (int, error) {
	db, before := s.Shard(shard), s.now().Add(-retention)
	total := 0
	for ctx.Err() == nil {
		var keys []struct {
			TransactionID string `db:"transaction_id"`
			From          string `db:"from_account"`
		}
		if err := db.SelectContext(ctx, &keys, `SELECT transaction_id, from_account FROM transfers
			WHERE status = 'refused' AND updated_at < ? ORDER BY updated_at LIMIT ?`, before, pruneBatch); err != nil {
			return total, fmt.Errorf("prune refused transfers: select: %w", err)
		}
		var ids []string
		if err := db.SelectContext(ctx, &ids, `SELECT transaction_id FROM movements
			WHERE balance_after IS NULL AND refusal IS NOT NULL AND created_at < ? ORDER BY created_at LIMIT ?`, before, pruneBatch); err != nil {
			return total, fmt.Errorf("prune refused movements: select: %w", err)
		}
		if len(keys) > 0 {
			// By transaction_id alone: MariaDB scans the whole table for a
			// row-constructor IN of 900 or more pairs, and waits on every
			// locked row it passes. A refused row of another source under the
			// same id is old and refused too, so it may go in the same round.
			txIDs := make([]string, len(keys))
			for i, k := range keys {
				txIDs[i] = k.TransactionID
			}
			q, args, err := sqlx.In(`DELETE FROM transfers WHERE transaction_id IN (?)
				AND refusal IS NOT NULL AND created_at < ?`, txIDs, before)
			if err != nil {
				return total, err
			}
			n, err := deleted(db.ExecContext(ctx, q, args...))
			if total += n; err != nil {
				return total, fmt.Errorf("prune refused transfers: delete: %w", err)
			}
		}
		if len(ids) > 0 {
			q, args, err := sqlx.In(`DELETE FROM movements WHERE transaction_id IN (?)
				AND refusal IS NOT NULL AND created_at < ?`, ids, before)
			if err != nil {
				return total, err
			}
			n, err := deleted(db.ExecContext(ctx, q, args...))
			if total += n; err != nil {
				return total, fmt.Errorf("prune refused movements: delete: %w", err)
			}
		}
		if len(keys) < pruneBatch && len(ids) < pruneBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

func deleted(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PruneRefusalsEvery prunes every shard's refusals every
// min(retention/4, 1s) until ctx ends, as the relay prunes its outbox.
func (s *Store) PruneRefusalsEvery(ctx context.Context, retention time.Duration, log *slog.Logger) {
	tick.Every(ctx, min(max(retention/4, 10*time.Millisecond), time.Second), func(ctx context.Context) {
		for sh := range s.schemas {
			n, err := s.PruneRefusals(ctx, sh, retention)
			refusalsDeleted.WithLabelValues(strconv.Itoa(sh)).Add(float64(n))
			if err != nil && ctx.Err() == nil {
				log.Warn("refusal prune", "shard", sh, "err", err)
			}
		}
	})
}
