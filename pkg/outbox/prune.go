package outbox

import (
	"context"
	"fmt"
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
	total := 0
	for ctx.Err() == nil {
		var ids []uint64
		if err := db.SelectContext(ctx, &ids, `SELECT id FROM outbox
			WHERE published_at < NOW(6) - INTERVAL ? MICROSECOND ORDER BY published_at, id LIMIT ?`,
			retention.Microseconds(), PruneBatch); err != nil {
			return total, fmt.Errorf("prune outbox: select: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		res, err := db.ExecContext(ctx, "DELETE FROM outbox WHERE id IN ("+uintList(ids)+
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

// pruneEvery is how often a shard's published rows are pruned: often
// enough that a round deletes a few batches, not a backlog.
func pruneEvery(retention time.Duration) time.Duration {
	return min(max(retention/4, 10*time.Millisecond), time.Second)
}

// pruneShard deletes the shard's expired published rows while this relay
// holds the shard's lease (held), until ctx ends. It runs beside the
// publishing loop, not in it, so a long round never delays publishing;
// the rows it deletes were marked long ago and are no longer touched by
// the relay.
func (r *Relay) pruneShard(ctx context.Context, shard int, held func() bool) {
	m := metricsFor(strconv.Itoa(shard))
	tick.Every(ctx, pruneEvery(r.cfg.Retention), func(ctx context.Context) {
		if !held() {
			return
		}
		n, err := Prune(ctx, r.db(shard), r.cfg.Retention)
		m.deleted.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			m.errors.Inc()
			r.log.Warn("outbox prune", "shard", shard, "err", err)
		}
	})
}
