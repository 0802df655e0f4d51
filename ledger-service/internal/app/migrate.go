package app

import (
	"context"
	"fmt"

	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/deadletter"
)

// Migrate applies the ledger schema to every partition's schema
// (ledger.databases): the migrate step, run with the DSNs of a user that
// may run DDL, before the service starts with its own user.
func Migrate(ctx context.Context, cfg config.LedgerService) error {
	for p, dsn := range cfg.Ledger.Databases {
		if err := migrateOne(ctx, dsn, p); err != nil {
			return err
		}
	}
	return nil
}

func migrateOne(ctx context.Context, dsn string, p int) error {
	name := fmt.Sprintf("ledger partition %d", p)
	db, err := openReady(ctx, dsn, name)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := mysql.New(db)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, deadletter.Migrations()); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
