package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
)

// insertRows inserts n rows into table in one statement; row(i) returns the
// values of row i in the order of cols.
func insertRows(ctx context.Context, tx sqlx.ExecerContext, table, cols string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	args := make([]any, 0, n*(strings.Count(cols, ",")+1))
	for i := range n {
		args = append(args, row(i)...)
	}
	q := "INSERT INTO " + table + " (" + cols + ") VALUES " + database.Tuples(n, len(args)/n)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("insert %d into %s: %w", n, table, err)
	}
	return nil
}

// caseWhen builds "CASE key WHEN ? THEN ? … END" over n rows; pair(i)
// returns row i's key and value.
func caseWhen(key string, n int, pair func(i int) (any, any), args *[]any) string {
	var q strings.Builder
	q.WriteString("CASE " + key)
	for i := range n {
		k, v := pair(i)
		q.WriteString(" WHEN ? THEN ?")
		*args = append(*args, k, v)
	}
	q.WriteString(" END")
	return q.String()
}

// placeholders returns "?,?,…" for n values.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertInbox records the batch's saga events in the consumer's inbox.
func insertInbox(ctx context.Context, tx sqlx.ExecerContext, ids []string) error {
	return inbox.Add(ctx, tx, sagaInbox, ids)
}
