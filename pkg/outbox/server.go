package outbox

import (
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
)

// Server is one database server and the logical shards the placement puts
// on it now. The relay runs one worker per server, under one lease, and asks
// each server with one query which of its shards have rows to publish: its
// costs grow with servers, not shards (ADR 0036).
type Server struct {
	// Name identifies the server across relay instances: it is the key of
	// the server's lease (see LeaseBucket), so it must be a valid key (the
	// placement's server names are).
	Name string
	// DB is the server's pool. Its queries name each shard's schema, so the
	// pool needs no default schema.
	DB *sqlx.DB
	// Shards are the shards on the server now, ascending by N.
	Shards []Shard
}

// Shard is one logical shard on a server.
type Shard struct {
	N int // the shard number, as in WakeSubject and the metrics' shard label
	// Schema is the shard's schema on the server; "" means the pool's
	// default schema, which only a server's sole shard may use (see
	// EachOwnServer).
	Schema string
}

// EachOwnServer returns a placement that never changes in which shard i is
// dbs[i]'s default schema, alone on a server of its own named "shard<i>":
// for tests and tools that open one database per shard.
func EachOwnServer(dbs ...*sqlx.DB) func() []Server {
	servers := make([]Server, len(dbs))
	for i, db := range dbs {
		servers[i] = Server{Name: "shard" + strconv.Itoa(i), DB: db, Shards: []Shard{{N: i}}}
	}
	return func() []Server { return servers }
}

// check refuses a server whose shards the relay could confuse: out of
// order, twice, or in the default schema beside others.
func (s Server) check() error {
	for i, sh := range s.Shards {
		if sh.Schema == "" && len(s.Shards) > 1 {
			return fmt.Errorf("server %s: shard %d has no schema name beside %d other shards", s.Name, sh.N, len(s.Shards)-1)
		}
		if i > 0 && s.Shards[i-1].N >= sh.N {
			return fmt.Errorf("server %s: shards not ascending at %d", s.Name, sh.N)
		}
	}
	return nil
}

// outboxTable returns the name of sh's outbox table in a statement on its
// server's pool.
func outboxTable(sh Shard) string { return database.Qualified(sh.Schema, "outbox") }

// unionAll joins one SELECT per shard of shards, each made by part and in
// parentheses (each may have its own LIMIT), into one statement: the relay
// asks a server about all its shards in one round trip.
func unionAll(shards []Shard, part func(Shard) string) string {
	return database.UnionAll(len(shards), func(i int) string { return part(shards[i]) })
}
