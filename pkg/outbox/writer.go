// Package outbox implements the transactional outbox: Writer appends events in
// the caller's transaction, Relay publishes committed events to JetStream.
// The relay's costs follow database servers, not logical shards: one worker,
// one lease (a key of LeaseBucket), one query per poll interval and one per
// metrics scrape per server, and one wake-up subscription in all.
package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the outbox table's migrations, for database.Migrate.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Writer appends events to the outbox table. It never owns a connection: the
// events commit or roll back with the caller's state change.
type Writer struct{}

// Append inserts evts in one statement inside tx.
func (Writer) Append(ctx context.Context, tx sqlx.ExecerContext, evts ...events.Event) error {
	if len(evts) == 0 {
		return nil
	}
	args := make([]any, 0, 7*len(evts))
	for _, e := range evts {
		args = append(args, e.ID, e.Type, e.Topic, e.Source, e.Subject, string(e.Data), e.Time.UTC())
	}
	q := "INSERT INTO outbox (event_id, event_type, topic, source, subject, data, occurred_at) VALUES " + database.Tuples(len(evts), 7)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("outbox append: %w", err)
	}
	return nil
}
