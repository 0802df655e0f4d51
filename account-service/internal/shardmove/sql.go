package shardmove

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// setMeta changes a schema's shard_meta row. On the source the update
// waits for the writers' shared locks (fence) and holds off new ones, for
// at most two seconds.
func setMeta(ctx context.Context, db *sqlx.DB, schema, set string, args ...any) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 2"); err != nil {
		return err
	}
	res, err := conn.ExecContext(ctx, "UPDATE "+quote(schema)+".shard_meta SET "+set+" WHERE id = 1", args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// Nothing to change is fine (already so); no row is not.
		var one int
		if err := conn.GetContext(ctx, &one, "SELECT 1 FROM "+quote(schema)+".shard_meta WHERE id = 1"); err != nil {
			return fmt.Errorf("%s has no shard_meta row: %w", schema, err)
		}
	}
	return nil
}

func dropSchema(ctx context.Context, db *sqlx.DB, schema string) error {
	_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quote(schema))
	return err
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// errNumber is err's MySQL error number, 0 for another error.
func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
