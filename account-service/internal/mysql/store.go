// Package mysql stores accounts on their shard databases. Every exported
// method that changes money runs one transaction on one shard that writes the
// change and its outbox events together.
package mysql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/shard"
)

//go:embed migrations/*.sql
var migrations embed.FS

// errReplay aborts a transaction that found its idempotency key already
// recorded: the caller rolls back and answers with the stored outcome.
var errReplay = errors.New("idempotency key already recorded")

// Store is the account store over all shards; shards[i] is shard i.
type Store struct {
	shards []*sqlx.DB
	outbox outbox.Writer
	now    func() time.Time
}

// New returns a store over shards. It does not migrate: call Migrate.
func New(shards []*sqlx.DB) (*Store, error) {
	if len(shards) == 0 {
		return nil, errors.New("mysql: no shards")
	}
	for i, db := range shards {
		if db == nil {
			return nil, fmt.Errorf("mysql: shard %d is nil", i)
		}
	}
	return &Store{shards: shards, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}, nil
}

// Migrate applies the shard schema (accounts, outbox, inbox) to every shard.
func (s *Store) Migrate(ctx context.Context) error {
	own, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	for i, db := range s.shards {
		for _, m := range []fs.FS{own, outbox.Migrations(), inbox.Migrations(), deadletter.Migrations()} {
			if err := database.Migrate(ctx, db, m); err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
		}
	}
	return nil
}

// Shards returns the number of shards.
func (s *Store) Shards() int { return len(s.shards) }

// ShardOf returns the shard that owns accountID.
func (s *Store) ShardOf(accountID string) int { return shard.Of(accountID, len(s.shards)) }

// Ping checks every shard.
func (s *Store) Ping(ctx context.Context) error {
	for i, db := range s.shards {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}

// event builds an outbox event emitted by shard about subject, routed to the
// shard that must act next.
func (s *Store) event(fromShard int, typ, subject string, toShard int, payload []byte) events.Event {
	return events.Event{
		ID:      uuid.Must(uuid.NewV7()).String(),
		Type:    typ,
		Source:  "/account-service/shard/" + strconv.Itoa(fromShard),
		Subject: subject,
		Topic:   events.Topic(typ, toShard),
		Time:    s.now(),
		Data:    payload,
	}
}
