package app

import (
	"context"
	"fmt"
	"time"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
)

// Migrate applies the shard schema (accounts, outbox, inbox, dead letters)
// to every shard of cfg: the migrate step, run with shard DSNs of a user
// that may run DDL, before the services start with their own users.
func Migrate(ctx context.Context, cfg config.AccountService) error {
	store, servers, _, err := openStore(cfg.Servers, cfg.Shards)
	defer func() {
		for _, db := range servers {
			db.Close()
		}
	}()
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i, db := range servers {
		if err := database.WaitReady(wait, db); err != nil {
			return fmt.Errorf("server %s: %w", store.ServerName(i), err)
		}
	}
	// A shard that moved is migrated where it lives now, not where the
	// configuration first put it.
	if err := store.FindLive(ctx); err != nil {
		return err
	}
	return store.Migrate(ctx, deadletter.Migrations())
}
