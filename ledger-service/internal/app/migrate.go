package app

import (
	"context"
	"fmt"

	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/deadletter"
)

// Migrate applies the ledger schema to cfg.Ledger.DSN: the migrate step,
// run with the DSN of a user that may run DDL, before the service starts
// with its own user.
func Migrate(ctx context.Context, cfg config.LedgerService) error {
	db, err := openReady(ctx, cfg.Ledger.DSN, "ledger")
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := mysql.New(db)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, deadletter.Migrations()); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}
