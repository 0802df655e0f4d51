package app

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/shard"
)

// shardOwners answers httpapi.Owners from the accounts table of the
// account's shard, on the server that holds it now. The ledger keeps no
// owner_id of its own: a copy would be one more thing to keep right, and
// the shard is the authority. It is the only shard query of the serving
// ledger, a read by primary key.
type shardOwners struct{ shards *placement.Pools }

func openOwners(servers, shards []string) (*shardOwners, error) {
	layout, err := database.LayoutOf(servers, shards)
	if err != nil {
		return nil, err
	}
	pools, err := placement.NewPools(layout, func(dsn string) (*sqlx.DB, error) {
		db, err := database.Open(dsn)
		if err == nil {
			db.SetMaxOpenConns(4) // a check per customer read, not a workload
		}
		return db, err
	})
	if err != nil {
		return nil, err
	}
	return &shardOwners{shards: pools}, nil
}

func (o *shardOwners) Owner(ctx context.Context, accountID string) (string, error) {
	if o.shards.Shards() == 0 {
		return "", nil
	}
	var owner string
	err := o.shards.DB(shard.Of(accountID, o.shards.Shards())).GetContext(ctx, &owner,
		"SELECT owner_id FROM accounts WHERE account_id = ?", accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

func (o *shardOwners) close() { o.shards.Close() }
