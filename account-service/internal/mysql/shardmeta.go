package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// claimShard records on db that it is shard i, if it records nothing yet,
// and refuses a db that records another number: the shard list's order is
// what routes every account (shard.Of), so a reordered list would put
// accounts in the wrong database.
func claimShard(ctx context.Context, db *sqlx.DB, i int) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO shard_meta (id, shard) VALUES (1, ?)
		ON DUPLICATE KEY UPDATE id = id`, i); err != nil {
		return fmt.Errorf("record shard number: %w", err)
	}
	var got int
	if err := db.GetContext(ctx, &got, "SELECT shard FROM shard_meta WHERE id = 1"); err != nil {
		return fmt.Errorf("read shard number: %w", err)
	}
	if got != i {
		return fmt.Errorf("the database at place %d of the shard list is shard %d: the list is reordered or names the wrong databases", i, got)
	}
	return nil
}
