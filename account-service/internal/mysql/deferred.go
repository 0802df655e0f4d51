package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jmoiron/sqlx"
)

// deferred collects a batch's writes, for every shard it touches, and sends
// them in one multi-statement round trip at the end of the transaction
// (flush). A group commit spans many logical shards, each its own schema:
// written at once, a batch's writes cost one round trip instead of about
// six per shard (ADR 0036). Nothing in a batch reads its own writes, and no
// write's result is used, so deferring them changes nothing but the
// latency. The server pool must allow multi statements
// (database.WithMultiStatements).
type deferred struct {
	q    strings.Builder
	args []any
}

// ExecContext records a statement; it runs at flush.
func (d *deferred) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	if d.q.Len() > 0 {
		d.q.WriteString(";\n")
	}
	d.q.WriteString(query)
	d.args = append(d.args, args...)
	return deferredResult{}, nil
}

// use makes the statements recorded next run in schema; "" (a shard that is
// its own pool's default schema) changes nothing.
func (d *deferred) use(schema string) {
	if schema != "" {
		_, _ = d.ExecContext(context.Background(), "USE "+quoteName(schema))
	}
}

// flush runs the recorded statements in tx, in one round trip, and forgets
// them. The first that fails stops the rest, and its error is returned.
func (d *deferred) flush(ctx context.Context, tx *sqlx.Tx) error {
	if d.q.Len() == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, d.q.String(), d.args...)
	d.q.Reset()
	d.args = nil
	return err
}

// deferredResult is the result of a statement that has not run yet.
type deferredResult struct{}

var errDeferred = errors.New("mysql: a deferred statement has no result until it runs")

func (deferredResult) LastInsertId() (int64, error) { return 0, errDeferred }
func (deferredResult) RowsAffected() (int64, error) { return 0, errDeferred }
