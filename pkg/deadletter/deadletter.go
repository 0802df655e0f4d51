// Package deadletter keeps the messages a consumer gave up on in a
// dead_letters table next to the consumer's own data, where an operator
// finds them. stream.Consume calls a PoisonHandler; Handler makes one.
package deadletter

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/stream"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the dead_letters table's migrations, for database.Migrate.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Record stores a terminated message and why it was terminated.
func Record(ctx context.Context, db *sqlx.DB, consumer string, m jetstream.Msg, cause error) error {
	h, _ := json.Marshal(m.Headers())
	_, err := db.ExecContext(ctx, `INSERT INTO dead_letters (consumer, subject, headers, data, error)
		VALUES (?, ?, ?, ?, ?)`, consumer, m.Subject(), string(h), string(m.Data()), cause.Error())
	return err
}

// Handler returns a stream.PoisonHandler that records into db; a failure to
// record is logged (the message is terminated either way).
func Handler(db *sqlx.DB, consumer string, log *slog.Logger) stream.PoisonHandler {
	return func(ctx context.Context, m jetstream.Msg, cause error) {
		if err := Record(ctx, db, consumer, m, cause); err != nil {
			log.Error("record dead letter", "consumer", consumer, "subject", m.Subject(), "err", err)
		}
	}
}
