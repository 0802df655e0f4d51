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
	"slices"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/shard"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the account store over all shards. Each shard is a schema on
// one of the deployment's database servers; which one can change while the
// store runs (SetOwners, when a shard moves), and every transaction that
// writes checks that its copy is the shard's current one (fence). The store
// holds one pool per server, whatever the number of shards: a shard's
// transactions enter its schema on its server's pool (database.Schema).
type Store struct {
	servers []Server
	schemas []string // schemas[sh] is shard sh's schema, the same on every server; "" in New's mode
	owners  atomic.Pointer[[]int]
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

// Server is one database server of the deployment.
type Server struct {
	// Name is the server's name in the placement (and in shard_meta).
	Name string
	// DB is the server's pool, without a default schema: every transaction
	// enters a shard's schema first.
	DB *sqlx.DB
}

func (s *Store) committed(sh int) {
	if s.Committed != nil {
		s.Committed(sh)
	}
}

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// New returns a store over shards, each its own server with the shard as
// its pool's default database: shards never move. It does not migrate:
// call Migrate.
func New(shards []*sqlx.DB) (*Store, error) {
	if len(shards) == 0 {
		return nil, errors.New("mysql: no shards")
	}
	s := &Store{schemas: make([]string, len(shards)), Now: time.Now}
	owners := make([]int, len(shards))
	for i, db := range shards {
		if db == nil {
			return nil, fmt.Errorf("mysql: shard %d is nil", i)
		}
		s.servers = append(s.servers, Server{Name: fmt.Sprintf("shard%d", i), DB: db})
		owners[i] = i
	}
	s.owners.Store(&owners)
	return s, nil
}

// NewPlaced returns a store over shards placed on servers: shard sh is
// schema schemas[sh], now on servers[owners[sh]]. It does not migrate:
// call Migrate.
func NewPlaced(servers []Server, schemas []string, owners []int) (*Store, error) {
	if len(schemas) == 0 || len(servers) == 0 {
		return nil, errors.New("mysql: no shards or no servers")
	}
	for sh, schema := range schemas {
		if schema == "" {
			return nil, fmt.Errorf("mysql: shard %d has no schema", sh)
		}
	}
	s := &Store{servers: servers, schemas: schemas, Now: time.Now}
	for _, srv := range servers {
		if srv.DB == nil || srv.Name == "" {
			return nil, fmt.Errorf("mysql: server %q has no name or no pool", srv.Name)
		}
	}
	if err := s.SetOwners(owners); err != nil {
		return nil, err
	}
	return s, nil
}

// placed reports whether shards are schemas that can move (NewPlaced), not
// each a pool of its own (New).
func (s *Store) placed() bool { return s.schemas[0] != "" }

// SetOwners places every shard: owners[sh] is the index of the server that
// holds shard sh from now on. Called when the placement changes; requests
// routed by the old one meet the fence and are retried.
func (s *Store) SetOwners(owners []int) error {
	if len(owners) != len(s.schemas) {
		return fmt.Errorf("mysql: %d owners for %d shards", len(owners), len(s.schemas))
	}
	for sh, srv := range owners {
		if srv < 0 || srv >= len(s.servers) || (!s.placed() && srv != sh) {
			return fmt.Errorf("mysql: shard %d cannot be on server %d", sh, srv)
		}
	}
	owners = slices.Clone(owners)
	s.owners.Store(&owners)
	return nil
}

// Servers returns the number of database servers.
func (s *Store) Servers() int { return len(s.servers) }

// ServerName returns server srv's name.
func (s *Store) ServerName(srv int) string { return s.servers[srv].Name }

// Server returns the server that holds shard sh now.
func (s *Store) Server(sh int) int { return (*s.owners.Load())[sh] }

// Schemas returns server srv's pool and the schemas of the shards it holds
// now, in shard order ("" in New's mode, where the pool's default database
// is the server's one shard): for jobs that look at all of a server's
// shards in one query (inbox.Janitor).
func (s *Store) Schemas(srv int) (*sqlx.DB, []string) {
	var names []string
	for _, sh := range s.shardsOn(srv) {
		names = append(names, s.schemas[sh])
	}
	return s.servers[srv].DB, names
}

// shardsOn returns the shards server srv holds now, in order.
func (s *Store) shardsOn(srv int) []int {
	var out []int
	for sh, at := range *s.owners.Load() {
		if at == srv {
			out = append(out, sh)
		}
	}
	return out
}

// table returns shard sh's table name for a statement on its server's
// pool run outside the shard's schema: qualified by the schema.
func (s *Store) table(sh int, name string) string {
	if !s.placed() {
		return quoteName(name)
	}
	return quoteName(s.schemas[sh]) + "." + quoteName(name)
}

// perShard runs on server srv's pool one statement that is the UNION ALL
// of part for each shard the server holds now (part gets the shard, and
// its args are appended for each), into dest: the cost of looking at every
// shard of a server is one round trip and one statement, however many
// shards it holds (ADR 0036). A server that holds no shard is not asked.
func (s *Store) perShard(ctx context.Context, srv int, dest any, part func(sh int) string, args ...any) error {
	shards := s.shardsOn(srv)
	if len(shards) == 0 {
		return nil
	}
	all := make([]any, 0, len(shards)*len(args))
	q := database.UnionAll(len(shards), func(i int) string {
		all = append(all, args...)
		return part(shards[i])
	})
	return s.servers[srv].DB.SelectContext(ctx, dest, q, all...)
}

// Shard returns shard sh on the server that holds it now, for reads and for
// components that keep their own tables there (dead letters).
func (s *Store) Shard(sh int) database.DB { return s.on(s.Server(sh), sh) }

// on returns shard sh's copy on server srv.
func (s *Store) on(srv, sh int) database.DB {
	if !s.placed() {
		return s.servers[srv].DB
	}
	return database.Schema{Pool: s.servers[srv].DB, Name: s.schemas[sh]}
}

// Migrate applies the shard schema (accounts, outbox, inbox) and then extra
// (the app adds the dead-letter table, which the store never touches) to
// every shard, and checks that each database is the shard its place in the
// list says (claimShard).
func (s *Store) Migrate(ctx context.Context, extra ...fs.FS) error {
	for _, srv := range s.servers {
		// The group commit sends a batch's writes in one round trip (deferred).
		if _, err := srv.DB.ExecContext(ctx, "DO 1; DO 1"); err != nil {
			return fmt.Errorf("server %s: its pool must allow multi statements (database.WithMultiStatements): %w", srv.Name, err)
		}
	}
	for sh := range s.schemas {
		if err := s.MigrateShard(ctx, sh, extra...); err != nil {
			return err
		}
	}
	return nil
}

// MigrateShard is Migrate for shard sh alone, on the server that holds it
// now: the split migrates each schema it makes (shardsplit).
func (s *Store) MigrateShard(ctx context.Context, sh int, extra ...fs.FS) error {
	own, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	srv := s.Server(sh)
	db := s.on(srv, sh)
	for _, m := range append([]fs.FS{own, outbox.Migrations(), inbox.Migrations()}, extra...) {
		if err := database.Migrate(ctx, db, m); err != nil {
			return fmt.Errorf("shard %d: %w", sh, err)
		}
	}
	if err := claimShard(ctx, db, sh, s.servers[srv].Name); err != nil {
		return fmt.Errorf("shard %d: %w", sh, err)
	}
	return nil
}

// Shards returns the number of shards.
func (s *Store) Shards() int { return len(s.schemas) }

// ShardOf returns the shard that owns accountID.
func (s *Store) ShardOf(accountID string) int { return shard.Of(accountID, len(s.schemas)) }

// Ping checks every server.
func (s *Store) Ping(ctx context.Context) error {
	for _, srv := range s.servers {
		if err := srv.DB.PingContext(ctx); err != nil {
			return fmt.Errorf("server %s: %w", srv.Name, err)
		}
	}
	return nil
}
