package app

import (
	"context"
	"fmt"
	"time"

	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
)

// Migrate applies the shard schema (accounts, outbox, inbox, dead letters)
// to every shard of cfg: the migrate step, run with shard DSNs of a user
// that may run DDL, before the services start with their own users.
func Migrate(ctx context.Context, cfg config.AccountService) error {
	shards, err := database.OpenAll(cfg.Shards)
	if err != nil {
		return fmt.Errorf("shards: %w", err)
	}
	defer func() {
		for _, db := range shards {
			db.Close()
		}
	}()
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i, db := range shards {
		if err := database.WaitReady(wait, db); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	store, err := mysql.New(shards)
	if err != nil {
		return err
	}
	return store.Migrate(ctx, deadletter.Migrations())
}
