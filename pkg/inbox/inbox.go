// Package inbox makes consumers idempotent: the consumer records the event id
// in the same transaction as its effect, so a redelivered event is seen as a
// duplicate and its effect is never applied twice. A batch consumer reads
// which of its events are Seen, applies the others and Adds them, all in
// one transaction.
package inbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"

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

// addChunk bounds the rows of one Add statement, far below the server's
// packet and placeholder limits.
const addChunk = 1000

// Seen returns which of eventIDs consumer's inbox holds, read inside tx:
// those events were applied already, and are acknowledged and skipped.
func Seen(ctx context.Context, tx *sqlx.Tx, consumer string, eventIDs []string) (map[string]bool, error) {
	seen := map[string]bool{}
	err := database.SelectIn(ctx, tx, "SELECT event_id FROM inbox WHERE consumer = ? AND event_id IN (?)", eventIDs,
		func(id string) error { seen[id] = true; return nil }, consumer)
	if err != nil {
		return nil, fmt.Errorf("read inbox %s: %w", consumer, err)
	}
	return seen, nil
}

// Add records eventIDs as applied by consumer inside tx, the transaction of
// their effect. An id already recorded (a concurrent delivery committed
// first) fails it with a duplicate-key error, so the effect rolls back
// rather than apply twice.
func Add(ctx context.Context, tx sqlx.ExecerContext, consumer string, eventIDs []string) error {
	for part := range slices.Chunk(eventIDs, addChunk) {
		args := make([]any, 0, 2*len(part))
		for _, id := range part {
			args = append(args, consumer, id)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO inbox (consumer, event_id) VALUES "+database.Tuples(len(part), 2), args...); err != nil {
			return fmt.Errorf("record inbox %s: %w", consumer, err)
		}
	}
	return nil
}
