package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/problem"
)

// ErrMoving answers an operation on a shard whose copy the writer reached
// is frozen or no longer the shard's: the shard is moving, or moved and
// this instance has not yet followed the placement. Nothing was done; the
// same request succeeds once the move ends (well within a second).
var ErrMoving = problem.New(problem.Unavailable, "the account's shard is moving to another database server; retry with the same transaction_id").WithRetryAfter(time.Second)

// meta is a shard schema's record of itself (shard_meta): which shard it
// is, on which server it is the shard's live copy, and whether a move froze
// it.
type meta struct {
	Shard  int    `db:"shard"`
	Server string `db:"server"`
	Frozen bool   `db:"frozen"`
}

// fence reads shard_meta under a shared lock, held to the end of tx, and
// refuses a copy that is not shard sh's live copy on server srv. A move
// freezes the source copy with an update, which waits for the transactions
// holding the lock and is seen by every later one: no write reaches a copy
// after it was frozen.
func (s *Store) fence(ctx context.Context, tx *sqlx.Tx, srv, sh int) error {
	var m meta
	if err := tx.GetContext(ctx, &m, "SELECT shard, server, frozen FROM shard_meta WHERE id = 1 LOCK IN SHARE MODE"); err != nil {
		return fmt.Errorf("shard %d: read shard_meta: %w", sh, err)
	}
	return s.check(m, srv, sh)
}

// check refuses m, a copy's shard_meta on server srv, unless it is shard
// sh's live copy there.
func (s *Store) check(m meta, srv, sh int) error {
	if m.Shard != sh {
		return fmt.Errorf("%w: the schema of shard %d records shard %d", account.ErrMisrouted, sh, m.Shard)
	}
	if m.Frozen || m.Server != s.servers[srv].Name {
		return ErrMoving
	}
	return nil
}

// inShard runs fn in a transaction on shard sh's live copy, fenced as
// Apply's are: for writes outside the group commit.
func (s *Store) inShard(ctx context.Context, sh int, fn func(tx *sqlx.Tx) error) error {
	srv := s.Server(sh)
	return database.InTx(ctx, s.on(srv, sh), func(tx *sqlx.Tx) error {
		if err := s.fence(ctx, tx, srv, sh); err != nil {
			return err
		}
		return fn(tx)
	})
}

// claimShard records on db that it is shard i's live copy on server, if it
// records nothing yet (or, from before placement, no server), and refuses a
// db that records another shard number or server: the shard list's order
// routes every account (shard.Of), so a reordered list would put accounts
// in the wrong database.
func claimShard(ctx context.Context, db database.DB, i int, server string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO shard_meta (id, shard, server) VALUES (1, ?, ?)
		ON DUPLICATE KEY UPDATE server = IF(server = '', VALUES(server), server)`, i, server); err != nil {
		return fmt.Errorf("record shard number: %w", err)
	}
	var m meta
	if err := db.GetContext(ctx, &m, "SELECT shard, server, frozen FROM shard_meta WHERE id = 1"); err != nil {
		return fmt.Errorf("read shard number: %w", err)
	}
	if m.Shard != i {
		return fmt.Errorf("the database at place %d of the shard list is shard %d: the list is reordered or names the wrong databases", i, m.Shard)
	}
	if m.Server != server {
		return fmt.Errorf("shard %d's copy on server %s says it is the live copy on server %s: the placement and the databases disagree", i, server, m.Server)
	}
	return nil
}
