package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
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

// PruneRefusalsOn prunes the refusals of the shards server srv holds now,
// shard after shard, and returns how many it deleted. One statement over
// all of the server's shards finds those that have a refusal to delete, so
// an idle round costs one query per server however many shards it holds.
func (s *Store) PruneRefusalsOn(ctx context.Context, srv int, retention time.Duration, log *slog.Logger) int {
	before := s.now().Add(-retention)
	var due []int
	if err := s.perShard(ctx, srv, &due, func(sh int) string {
		return "SELECT " + strconv.Itoa(sh) + " FROM DUAL WHERE EXISTS (SELECT 1 FROM " + s.table(sh, "transfers") +
			" WHERE status = 'refused' AND updated_at < ?) OR EXISTS (SELECT 1 FROM " + s.table(sh, "movements") +
			" WHERE balance_after IS NULL AND refusal IS NOT NULL AND created_at < ?)"
	}, before, before); err != nil {
		if ctx.Err() == nil {
			log.Warn("refusal prune", "server", s.servers[srv].Name, "err", err)
		}
		return 0
	}
	total := 0
	for _, sh := range due {
		n, err := s.PruneRefusals(ctx, sh, retention)
		refusalsDeleted.WithLabelValues(strconv.Itoa(sh)).Add(float64(n))
		total += n
		if err != nil && ctx.Err() == nil {
			log.Warn("refusal prune", "shard", sh, "err", err)
		}
	}
	return total
}

// PruneRefusalsEvery prunes refusals every min(retention/4, 1s) until ctx
// ends, as the relay prunes its outbox: one loop per server, so a slow
// server does not hold back the others' rounds.
func (s *Store) PruneRefusalsEvery(ctx context.Context, retention time.Duration, log *slog.Logger) {
	var wg sync.WaitGroup
	for srv := range s.servers {
		wg.Go(func() {
			tick.Every(ctx, min(max(retention/4, 10*time.Millisecond), time.Second), func(ctx context.Context) {
				s.PruneRefusalsOn(ctx, srv, retention, log)
			})
		})
	}
	wg.Wait()
}
