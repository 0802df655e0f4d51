// Package mysql stores accounts on their shard databases. Money moves
// through Apply: one transaction per batch of operations on one shard, which
// locks and loads their rows, lets account.Batch decide, and writes the
// changes and their outbox events together.
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
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/shard"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the account store over all shards; shards[i] is shard i.
type Store struct {
	shards []*sqlx.DB
	// servers are the group commit's pools, one per database server, and
	// place says where each shard lives on them (Apply).
	servers []*sqlx.DB
	place   []Place
	outbox  outbox.Writer
	// Now is the store's clock (UTC, microseconds, as DATETIME(6) keeps
	// it). Tests replace it to move time without sleeping; set it before
	// the store is used.
	Now func() time.Time
	// Committed, if set, is told the shard of every commit that wrote outbox
	// rows outside Apply (account openings, status changes, redrives), so
	// the relay publishes them at once (outbox.Notifier.Committed). Apply's
	// caller, the group-commit writer, tells it itself.
	Committed func(shard int)
}

func (s *Store) committed(sh int) {
	if s.Committed != nil {
		s.Committed(sh)
	}
}

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Place is where a shard lives for the group commit: the index of its
// server's pool and its schema there. An empty Schema means the server's
// pool is the shard's own, with the shard as its default database.
type Place struct {
	Server int
	Schema string
}

// New returns a store over shards, each committing on its own pool. It
// does not migrate: call Migrate.
func New(shards []*sqlx.DB) (*Store, error) {
	place := make([]Place, len(shards))
	for i := range place {
		place[i].Server = i
	}
	return NewOnServers(shards, shards, place)
}

// NewOnServers returns a store over shards whose group commits run on
// servers: place[i] says where shard i lives, and one transaction on a
// server applies the operations of every shard it holds.
func NewOnServers(shards, servers []*sqlx.DB, place []Place) (*Store, error) {
	if len(shards) == 0 {
		return nil, errors.New("mysql: no shards")
	}
	if len(place) != len(shards) {
		return nil, fmt.Errorf("mysql: %d places for %d shards", len(place), len(shards))
	}
	for i, db := range shards {
		if db == nil {
			return nil, fmt.Errorf("mysql: shard %d is nil", i)
		}
		if p := place[i]; p.Server < 0 || p.Server >= len(servers) || servers[p.Server] == nil {
			return nil, fmt.Errorf("mysql: shard %d is on server %d, which is not given", i, p.Server)
		}
	}
	return &Store{shards: shards, servers: servers, place: place, Now: time.Now}, nil
}

// Servers says which server holds each shard, for the group commit:
// Servers()[i] is shard i's.
func (s *Store) Servers() []int {
	out := make([]int, len(s.place))
	for i, p := range s.place {
		out[i] = p.Server
	}
	return out
}

// Migrate applies the shard schema (accounts, outbox, inbox) and then extra
// (the app adds the dead-letter table, which the store never touches) to
// every shard, and checks that each database is the shard its place in the
// list says (claimShard).
func (s *Store) Migrate(ctx context.Context, extra ...fs.FS) error {
	own, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	for i, db := range s.shards {
		for _, m := range append([]fs.FS{own, outbox.Migrations(), inbox.Migrations()}, extra...) {
			if err := database.Migrate(ctx, db, m); err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
		}
		if err := claimShard(ctx, db, i); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
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
