package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/tick"
)

var deletedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_inbox_deleted_total",
	Help: "Inbox (dedupe) rows deleted after their retention, by durable consumer.",
}, []string{"consumer"})

// PruneBatch bounds the rows one delete statement removes, so that every
// statement is a short transaction.
const PruneBatch = 1000

// noFloor stands for "no message can come again": only the retention counts.
var noFloor = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Prune deletes consumer's inbox rows processed more than retention before
// the earlier of now (database clock) and floor, PruneBatch rows per
// statement by primary key, and returns how many it deleted. floor is when
// the oldest message the consumer may still be delivered again was stored
// (stream.Unsettled), the zero time if none: a row newer than that may be its
// own (ADR 0013). Deleting by key never blocks the consumer's inserts (ADR 0012).
func Prune(ctx context.Context, db database.DB, consumer string, retention time.Duration, floor time.Time) (int, error) {
	if floor.IsZero() {
		floor = noFloor
	}
	floor = floor.UTC()
	total := 0
	for ctx.Err() == nil {
		var ids []string
		if err := db.SelectContext(ctx, &ids, `SELECT event_id FROM inbox
			WHERE consumer = ? AND processed_at < LEAST(NOW(6), ?) - INTERVAL ? MICROSECOND
			ORDER BY processed_at LIMIT ?`, consumer, floor, retention.Microseconds(), PruneBatch); err != nil {
			return total, fmt.Errorf("prune inbox %s: select: %w", consumer, err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		q, args, err := sqlx.In("DELETE FROM inbox WHERE consumer = ? AND event_id IN (?)", consumer, ids)
		if err != nil {
			return total, err
		}
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("prune inbox %s: delete: %w", consumer, err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
		if len(ids) < PruneBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// Due returns the indexes of schemas, all on db's server, whose inbox
// holds rows of consumer that Prune would delete now (see Prune for
// retention and floor). It is one statement for all of them, so that a
// janitor of every schema of a server costs one query per round when there
// is nothing to delete, however many schemas the server holds. The schema
// "" is db's default one.
func Due(ctx context.Context, db database.DB, schemas []string, consumer string, retention time.Duration, floor time.Time) ([]int, error) {
	if len(schemas) == 0 {
		return nil, nil
	}
	if floor.IsZero() {
		floor = noFloor
	}
	args := make([]any, 0, 3*len(schemas))
	q := database.UnionAll(len(schemas), func(i int) string {
		args = append(args, consumer, floor.UTC(), retention.Microseconds())
		return "SELECT " + strconv.Itoa(i) + " FROM DUAL WHERE EXISTS (SELECT 1 FROM " + database.Qualified(schemas[i], "inbox") +
			" WHERE consumer = ? AND processed_at < LEAST(NOW(6), ?) - INTERVAL ? MICROSECOND)"
	})
	var due []int
	if err := db.SelectContext(ctx, &due, q, args...); err != nil {
		return nil, fmt.Errorf("inbox %s: find rows to prune: %w", consumer, err)
	}
	slices.Sort(due) // a UNION ALL's rows come in no promised order
	return due, nil
}

// Janitor prunes one consumer's inbox in a loop: in one database (DB), or
// in every schema of one server that holds one (Schemas).
type Janitor struct {
	// DB returns the database whose inbox is pruned, asked every round: a
	// shard may move to another server while the janitor runs.
	DB func() database.DB
	// Schemas, set instead of DB, returns a server's pool and the schemas
	// on it whose inboxes are pruned ("" for the pool's default one), asked
	// every round: Due finds those with rows to delete in one query, and
	// only those are pruned, one after the other.
	Schemas func() (*sqlx.DB, []string)
	// Consumer is the inbox's consumer column; Durable the JetStream
	// consumer whose deliveries the rows dedupe (the metric's label).
	Consumer, Durable string
	Retention         time.Duration
	// Floor returns the time of the oldest message Durable may still be
	// delivered again, or the zero time if there is none (see
	// stream.Unsettled).
	Floor func(ctx context.Context) (time.Time, error)
	Log   *slog.Logger
}

// Run prunes every min(Retention/4, 1s) until ctx ends. A round whose floor
// cannot be read deletes nothing: without it a row may still be needed.
func (j Janitor) Run(ctx context.Context) {
	deleted := deletedTotal.WithLabelValues(j.Durable)
	tick.Every(ctx, min(max(j.Retention/4, 10*time.Millisecond), time.Second), func(ctx context.Context) {
		floor, err := j.Floor(ctx)
		n := 0
		if err == nil {
			n, err = j.Round(ctx, floor)
		}
		deleted.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			j.Log.Warn("inbox prune", "consumer", j.Durable, "err", err)
		}
	})
}

// Round prunes once with the given floor and returns how many rows it
// deleted.
func (j Janitor) Round(ctx context.Context, floor time.Time) (int, error) {
	if j.Schemas == nil {
		return Prune(ctx, j.DB(), j.Consumer, j.Retention, floor)
	}
	pool, names := j.Schemas()
	due, err := Due(ctx, pool, names, j.Consumer, j.Retention, floor)
	total := 0
	for _, i := range due {
		var db database.DB = pool
		if names[i] != "" {
			db = database.Schema{Pool: pool, Name: names[i]}
		}
		n, perr := Prune(ctx, db, j.Consumer, j.Retention, floor)
		total += n
		if perr != nil {
			err = errors.Join(err, fmt.Errorf("schema %s: %w", names[i], perr))
		}
	}
	return total, err
}
