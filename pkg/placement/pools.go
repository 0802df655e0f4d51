package placement

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
)

// Pools hands out, for each logical shard, its schema on the server that
// holds it now: a reader of the shards (the relay, the ledger) follows
// moves with it. It holds one pool per server, however many shards there
// are. Until a Follower is attached, the configured layout places the
// shards.
type Pools struct {
	layout  database.Layout
	servers []*sqlx.DB
	f       atomic.Pointer[Follower]
}

// NewPools opens, through open, a pool per server of l: no connection is
// made until one is used.
func NewPools(l database.Layout, open func(dsn string) (*sqlx.DB, error)) (*Pools, error) {
	p := &Pools{layout: l}
	for srv := range l.Names {
		db, err := open(l.ServerDSNs[srv])
		if err != nil {
			p.Close()
			return nil, err
		}
		p.servers = append(p.servers, db)
	}
	return p, nil
}

// Shards is the number of logical shards.
func (p *Pools) Shards() int { return len(p.layout.Schemas) }

// Server returns the index of the configured server that holds shard sh
// now. A server the placement names but the configuration does not is
// skipped for the configured one, whose copy the fence then refuses to
// writers; so is a placement with fewer shards than configured (a reader
// started with the upgrade's 256 before the split that makes them).
func (p *Pools) Server(sh int) int {
	srv := p.layout.Owners[sh]
	if f := p.f.Load(); f != nil {
		if owner := f.Current().Owner; sh < len(owner) {
			if i := slices.Index(p.layout.Names, owner[sh]); i >= 0 {
				srv = i
			}
		}
	}
	return srv
}

// Layout returns the configured layout: the servers' names and the shards'
// schemas. It is shared: treat it as read-only.
func (p *Pools) Layout() database.Layout { return p.layout }

// Pool returns the pool of configured server srv (an index as Server
// returns), which has no default schema: for a reader that names each
// shard's schema in its statements.
func (p *Pools) Pool(srv int) *sqlx.DB { return p.servers[srv] }

// DB returns shard sh's schema on the server that holds it now.
func (p *Pools) DB(sh int) database.DB {
	return database.Schema{Pool: p.servers[p.Server(sh)], Name: p.layout.Schemas[sh]}
}

// All returns every shard's current schema, in shard order.
func (p *Pools) All() []database.DB {
	out := make([]database.DB, p.Shards())
	for sh := range out {
		out[sh] = p.DB(sh)
	}
	return out
}

// Follow places the shards by f from now on.
func (p *Pools) Follow(f *Follower) { p.f.Store(f) }

// FollowWhenStored attaches to the placement bucket, waiting until
// account-service stored the first placement, follows it and keeps it
// current until ctx ends. For readers, which may start first.
func (p *Pools) FollowWhenStored(ctx context.Context, js jetstream.JetStream, log *slog.Logger) {
	for ctx.Err() == nil {
		f, err := attachFollower(ctx, js, log)
		if err == nil {
			p.Follow(f)
			if err := f.Run(ctx); err != nil && ctx.Err() == nil {
				log.Warn("placement: following stopped", "err", err)
			}
			continue
		}
		if !errors.Is(err, ErrNoPlacement) {
			log.Warn("placement: not readable yet, shards placed as configured", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func attachFollower(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*Follower, error) {
	s, err := Attach(ctx, js)
	if err != nil {
		return nil, err
	}
	return s.Follow(ctx, log)
}

// Close closes every pool.
func (p *Pools) Close() {
	for _, db := range p.servers {
		db.Close()
	}
}

// PlaceNow places the shards by the placement stored now, for a one-shot
// command; without one stored yet, as configured.
func (p *Pools) PlaceNow(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	f, err := attachFollower(ctx, js, log)
	if errors.Is(err, ErrNoPlacement) {
		return nil
	}
	if err != nil {
		return err
	}
	p.Follow(f)
	return nil
}

// DSNs returns each shard's DSN on the server the stored placement names
// now (as configured while none is stored), for a one-shot command that
// opens its own connections.
func DSNs(ctx context.Context, js jetstream.JetStream, l database.Layout, log *slog.Logger) ([]string, error) {
	owners := slices.Clone(l.Owners)
	f, err := attachFollower(ctx, js, log)
	if err != nil && !errors.Is(err, ErrNoPlacement) {
		return nil, err
	}
	if f != nil {
		for sh, name := range f.Current().Owner {
			if i := slices.Index(l.Names, name); i >= 0 && sh < len(owners) {
				owners[sh] = i
			}
		}
	}
	dsns := make([]string, len(l.Schemas))
	for sh := range dsns {
		dsns[sh] = l.DSN(sh, owners[sh])
	}
	return dsns, nil
}
