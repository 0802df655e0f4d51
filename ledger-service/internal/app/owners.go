package app

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/shard"
)

// shardOwners answers httpapi.Owners from the accounts table of the
// account's shard. The ledger keeps no owner_id of its own: a copy would
// be one more thing to keep right, and the shard is the authority. It is
// the only shard query of the serving ledger, a read by primary key.
type shardOwners struct{ shards []*sqlx.DB }

func openOwners(dsns []string) (*shardOwners, error) {
	o := &shardOwners{}
	for _, dsn := range dsns {
		db, err := database.Open(dsn)
		if err != nil {
			o.close()
			return nil, err
		}
		db.SetMaxOpenConns(4) // a check per customer read, not a workload
		o.shards = append(o.shards, db)
	}
	return o, nil
}

func (o *shardOwners) Owner(ctx context.Context, accountID string) (string, error) {
	if len(o.shards) == 0 {
		return "", nil
	}
	var owner string
	err := o.shards[shard.Of(accountID, len(o.shards))].GetContext(ctx, &owner,
		"SELECT owner_id FROM accounts WHERE account_id = ?", accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

func (o *shardOwners) close() {
	for _, db := range o.shards {
		_ = db.Close()
	}
}
