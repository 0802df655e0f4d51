package outbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/tick"
)

// PruneBatch bounds the rows one delete statement removes, so that every
// statement is a short transaction.
const PruneBatch = 1000

// Prune deletes shard db's outbox rows published more than retention ago
// (database clock), PruneBatch rows per statement, until none is left or ctx
// ends, and returns how many it deleted. Unpublished rows are never touched.
// It deletes by primary key, not by range, so as not to lock the gap where
// new rows are inserted (ADR 0012).
func Prune(ctx context.Context, db database.DB, retention time.Duration) (int, error) {
	return prune(ctx, db, "outbox", retention)
}

// prune is Prune of table (see outboxTable) on db.
func prune(ctx context.Context, db database.DB, table string, retention time.Duration) (int, error) {
	total := 0
	for ctx.Err() == nil {
		var ids []uint64
		if err := db.SelectContext(ctx, &ids, `SELECT id FROM `+table+`
			WHERE published_at < NOW(6) - INTERVAL ? MICROSECOND ORDER BY published_at, id LIMIT ?`,
			retention.Microseconds(), PruneBatch); err != nil {
			return total, fmt.Errorf("prune outbox: select: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		res, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE id IN ("+uintList(ids)+
			") AND published_at < NOW(6) - INTERVAL ? MICROSECOND", retention.Microseconds())
		if err != nil {
			return total, fmt.Errorf("prune outbox: delete: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
		if len(ids) < PruneBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

func uintList(ids []uint64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return b.String()
}

// pruneEvery is how often a server's published rows are pruned: often
// enough that a round deletes a few batches, not a backlog.
func pruneEvery(retention time.Duration) time.Duration {
	return min(max(retention/4, 10*time.Millisecond), time.Second)
}

// pruneLoop deletes the expired published rows of the server's shards while
// this relay holds the server's lease, until ctx ends. Each round asks the
// server in one query which shards have such rows, then prunes those, shard
// after shard. It runs beside the publishing rounds, not in them, so a long
// prune never delays publishing; the rows it deletes were marked long ago
// and are no longer touched by the relay.
func (w *worker) pruneLoop(ctx context.Context) {
	retention := w.r.cfg.Retention
	tick.Every(ctx, pruneEvery(retention), func(ctx context.Context) {
		if !w.held.Load() {
			return
		}
		srv, ok := w.r.server(w.name)
		if !ok || srv.check() != nil || len(srv.Shards) == 0 {
			return
		}
		var expired []int
		err := srv.DB.SelectContext(ctx, &expired, unionAll(srv.Shards, func(sh Shard) string {
			// The (published_at, id) index: the range after the NULLs.
			return "SELECT " + strconv.Itoa(sh.N) + " AS shard FROM " + outboxTable(sh) +
				" WHERE published_at < NOW(6) - INTERVAL " + strconv.FormatInt(retention.Microseconds(), 10) + " MICROSECOND LIMIT 1"
		}))
		if err != nil {
			if ctx.Err() == nil {
				w.errors.Inc()
				w.log.Warn("outbox prune: which shards have expired rows", "err", err)
			}
			return
		}
		for _, sh := range srv.Shards {
			if !slices.Contains(expired, sh.N) || !w.held.Load() || ctx.Err() != nil {
				continue
			}
			label := strconv.Itoa(sh.N)
			n, err := prune(ctx, srv.DB, outboxTable(sh), retention)
			deletedTotal.WithLabelValues(label).Add(float64(n))
			if err != nil && ctx.Err() == nil {
				publishErrors.WithLabelValues(label).Inc()
				w.log.Warn("outbox prune", "shard", sh.N, "err", err)
			}
		}
	})
}
