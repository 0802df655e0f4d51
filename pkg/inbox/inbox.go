// Package inbox makes consumers idempotent: the consumer records the event id
// in the same transaction as its effect, so a redelivered event is seen as a
// duplicate and its effect is never applied twice.
package inbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the inbox table's migrations, for database.Migrate.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Record inserts (consumer, eventID) inside tx. dup is true when the event was
// already processed: the caller then skips its effect and acknowledges.
func Record(ctx context.Context, tx *sqlx.Tx, consumer, eventID string) (dup bool, err error) {
	_, err = tx.ExecContext(ctx, "INSERT INTO inbox (consumer, event_id) VALUES (?, ?)", consumer, eventID)
	if database.IsDuplicate(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("inbox record %s/%s: %w", consumer, eventID, err)
	}
	return false, nil
}
