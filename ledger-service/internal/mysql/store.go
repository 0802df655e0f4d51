// Package mysql stores the ledger in one MySQL/MariaDB schema: ledger
// accounts, journal transactions and their entries, next to the inbox table
// that makes applying an event idempotent. SQL runs on MariaDB 10.11 and
// MySQL 8.4 alike.
package mysql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the ledger's storage.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// New returns a store on db. It does not migrate: call Migrate.
func New(db *sqlx.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("mysql: db is nil")
	}
	// Microseconds, because DATETIME(6) keeps no more and MariaDB truncates
	// where MySQL rounds.
	now := func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	return &Store{db: db, now: now}, nil
}

// Migrate applies the ledger schema, the inbox table and then extra (the app
// adds the dead-letter table, which the store never touches).
func (s *Store) Migrate(ctx context.Context, extra ...fs.FS) error {
	own, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	for _, m := range append([]fs.FS{own, inbox.Migrations()}, extra...) {
		if err := database.Migrate(ctx, s.db, m); err != nil {
			return err
		}
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ledger db: %w", err)
	}
	return nil
}
