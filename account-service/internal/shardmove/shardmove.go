// Package shardmove moves one logical shard to another database server
// while the service runs (ADR 0029, 0033): copy the shard's schema and keep
// the copy caught up by replication, freeze the source (every writer's
// fence sees it), let the copy catch up with the last writes, make it the
// live copy and store the new placement, which every instance follows.
// Writes to that one shard pause from the freeze to the switch; other
// shards never do. A move that fails before the switch is rolled back: the
// old placement goes on working.
package shardmove

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/schemacopy"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
)

// ErrUsage marks a move that names no such shard or server, or the
// server that already holds the shard: nothing was tried.
var ErrUsage = errors.New("shardmove: not a move")

// Mover moves shards. Layout's server DSNs are the mover's login on each
// server (deploy/grants-move.sql plus UPDATE on shard_meta).
type Mover struct {
	Placement *placement.Store
	Layout    database.Layout
	// ReplicationUser and ReplicationPassword are the target's login on
	// the source for its replication thread.
	ReplicationUser, ReplicationPassword string
	// Progress, if set, gets one line per step.
	Progress io.Writer
	// CatchUpTimeout bounds the first catch-up (default 2m); PauseTimeout
	// bounds the wait for the last writes once the source is frozen
	// (default 5s): past it the move is rolled back.
	CatchUpTimeout, PauseTimeout time.Duration
	// DropAfter is how long the frozen old copy is kept after the switch,
	// refusing writers that have not followed yet, before it is dropped;
	// 0 keeps it (a later move back drops it first).
	DropAfter time.Duration
}

// Result is what a move did.
type Result struct {
	Shard    int
	From, To string
	Version  uint64        // the placement's version after the move
	Pause    time.Duration // from the freeze to the new placement stored
	Rows     int64         // rows copied in the snapshot
}

// Move moves shard to server to. On error nothing changed: the shard is
// where it was and takes writes. A target the configuration names but the
// placement does not list yet is added to it first (see listed), and stays
// listed, holding no shard, if the move then fails.
func (m *Mover) Move(ctx context.Context, shard int, to string) (Result, error) {
	cur, _, err := m.Placement.Load(ctx)
	if err != nil {
		return Result{}, err
	}
	withTo, err := m.listed(cur, to)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	next, err := withTo.Move(shard, to)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	from := cur.Owner[shard]
	src, dst := slices.Index(m.Layout.Names, from), slices.Index(m.Layout.Names, to)
	if src < 0 || dst < 0 || shard >= len(m.Layout.Schemas) {
		return Result{}, fmt.Errorf("%w: the configuration has no DSN for server %s or %s (servers: %v)", ErrUsage, from, to, m.Layout.Names)
	}
	if withTo.Version != cur.Version {
		if _, err := m.Placement.Update(ctx, cur, func(placement.Map) (placement.Map, error) { return withTo, nil }); err != nil {
			return Result{}, fmt.Errorf("list server %s in the placement: %w", to, err)
		}
		m.say("server %s is configured but was not in the placement: listed it (placement version %d)", to, withTo.Version)
		cur = withTo
	}
	r := Result{Shard: shard, From: from, To: to}
	schema := m.Layout.Schemas[shard]
	source, err := database.Open(m.Layout.ServerDSNs[src])
	if err != nil {
		return r, err
	}
	defer source.Close()
	target, err := database.Open(m.Layout.ServerDSNs[dst])
	if err != nil {
		return r, err
	}
	defer target.Close()

	cfg := schemacopy.Config{Source: m.Layout.ServerDSNs[src], Target: m.Layout.ServerDSNs[dst], Schema: schema,
		ReplicationUser: m.ReplicationUser, ReplicationPassword: m.ReplicationPassword,
		Progress: func(p schemacopy.Progress) {
			if p.Step == schemacopy.StepLoad {
				r.Rows = p.Rows
			}
			m.say("%s", p)
		}}
	if err := m.dropStaleCopy(ctx, target, cfg, to); err != nil {
		return r, err
	}
	c, err := schemacopy.New(cfg)
	if err != nil {
		return r, err
	}
	defer c.Close()
	m.say("copying shard %d (%s) from %s to %s", shard, schema, from, to)
	if err := c.Start(ctx); err != nil {
		return r, fmt.Errorf("copy: %w", err)
	}
	if err := m.catchUp(ctx, c); err != nil {
		return r, m.rollback(ctx, c, source, schema, false, fmt.Errorf("catch up: %w", err))
	}

	m.say("freezing shard %d on %s: its writes pause", shard, from)
	frozenAt := time.Now()
	if err := setMeta(ctx, source, schema, "frozen = TRUE"); err != nil {
		return r, m.rollback(ctx, c, source, schema, true, fmt.Errorf("freeze: %w", err))
	}
	if err := c.CatchUp(ctx, m.pauseTimeout()); err != nil {
		return r, m.rollback(ctx, c, source, schema, true, fmt.Errorf("last writes: %w", err))
	}
	if err := c.Stop(ctx); err != nil {
		return r, m.rollback(ctx, c, source, schema, true, fmt.Errorf("stop replication: %w", err))
	}
	// The copy is whole and nothing writes to it yet: no placement names
	// its server for this shard.
	undo := func(cause error) error {
		ctx := context.WithoutCancel(ctx)
		err := m.persist(ctx, map[string]func(context.Context) error{
			"drop the copy": func(ctx context.Context) error { return dropSchema(ctx, target, schema) },
			"unfreeze":      func(ctx context.Context) error { return setMeta(ctx, source, schema, "frozen = FALSE") },
		})
		if err != nil {
			m.say("rollback incomplete: shard %d may still be frozen on %s: %v", shard, from, err)
			return errors.Join(cause, err)
		}
		m.say("rolled back: shard %d stays on %s", shard, from)
		return cause
	}
	if err := setMeta(ctx, target, schema, "server = ?, frozen = FALSE", to); err != nil {
		return r, undo(fmt.Errorf("activate the copy: %w", err))
	}
	stored, err := m.Placement.Update(ctx, cur, func(placement.Map) (placement.Map, error) { return next, nil })
	if err != nil {
		return r, undo(fmt.Errorf("store the placement: %w", err))
	}
	r.Version, r.Pause = stored.Version, time.Since(frozenAt)
	m.say("shard %d is on %s (placement version %d); writes paused %s", shard, to, r.Version, r.Pause.Round(time.Millisecond))
	if m.DropAfter > 0 {
		m.say("dropping the frozen copy on %s in %s", from, m.DropAfter)
		select {
		case <-ctx.Done():
			return r, nil // the move is done; the copy stays frozen
		case <-time.After(m.DropAfter):
		}
		if err := dropSchema(ctx, source, schema); err != nil {
			m.say("the frozen copy on %s stays (drop: %v); a move back drops it", from, err)
		}
	}
	return r, nil
}

// listed returns cur, or, when the configuration names server to and cur
// does not list it, cur's next version that lists it holding no shard. The
// first placement lists the servers configured when account-service first
// started; one added later (a second MariaDB server for a stack that began
// with one, or one upgraded from the release before placement) is listed by
// its first move, not by a start, so that only a command changes the map.
func (m *Mover) listed(cur placement.Map, to string) (placement.Map, error) {
	if slices.Contains(cur.Servers, to) || !slices.Contains(m.Layout.Names, to) {
		return cur, nil // listed, or unknown: Move says which
	}
	return cur.AddServer(to)
}

// catchUp waits until the copy is close behind: repeated until one wait is
// short, so the pause after the freeze only covers the last writes.
func (m *Mover) catchUp(ctx context.Context, c *schemacopy.Copy) error {
	timeout := m.CatchUpTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		start := time.Now()
		if err := c.CatchUp(ctx, time.Until(deadline)); err != nil {
			return err
		}
		if time.Since(start) < 50*time.Millisecond || time.Now().After(deadline) {
			return nil
		}
	}
}

func (m *Mover) pauseTimeout() time.Duration {
	if m.PauseTimeout <= 0 {
		return 5 * time.Second
	}
	return m.PauseTimeout
}

// rollback undoes a move that has not switched: the copy is dropped and,
// if it was frozen, the source unfrozen.
func (m *Mover) rollback(ctx context.Context, c *schemacopy.Copy, source *sqlx.DB, schema string, frozen bool, cause error) error {
	ctx = context.WithoutCancel(ctx)
	steps := map[string]func(context.Context) error{"drop the copy": c.Abort}
	if frozen {
		steps["unfreeze"] = func(ctx context.Context) error { return setMeta(ctx, source, schema, "frozen = FALSE") }
	}
	if err := m.persist(ctx, steps); err != nil {
		m.say("rollback incomplete: the shard may still be frozen where it was: %v", err)
		return errors.Join(cause, err)
	}
	m.say("rolled back: the shard stays where it was")
	return cause
}

// rollbackTimeout bounds how long a rollback waits for a server that does
// not answer. The freeze is durable: a source that restarted while frozen
// would refuse every write to the shard until someone unfreezes it, and
// the copy's replication connection on the target would block the next
// move from the same source.
const rollbackTimeout = 2 * time.Minute

// persist runs each step until it succeeds, retrying the failed ones every
// half second (a server restarting after a crash answers again within
// seconds), for at most rollbackTimeout; it returns the last errors of
// the steps that never succeeded.
func (m *Mover) persist(ctx context.Context, steps map[string]func(context.Context) error) error {
	deadline := time.Now().Add(rollbackTimeout)
	for waited := false; ; waited = true {
		var errs []error
		for what, step := range steps {
			if err := step(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				continue
			}
			delete(steps, what)
		}
		if len(errs) == 0 || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		if !waited {
			m.say("rolling back: %v; retrying for up to %s", errors.Join(errs...), rollbackTimeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dropStaleCopy removes what an earlier move left on the target: the
// frozen copy of a move away from it, or an unfinished copy. It refuses a
// live copy, which only the placement's owner may hold.
func (m *Mover) dropStaleCopy(ctx context.Context, target *sqlx.DB, cfg schemacopy.Config, to string) error {
	var n int
	if err := target.GetContext(ctx, &n, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", cfg.Schema); err != nil {
		return fmt.Errorf("look for an old copy on %s: %w", to, err)
	}
	if n == 0 {
		return nil
	}
	var server sql.NullString
	var frozen sql.NullBool
	err := target.QueryRowxContext(ctx, "SELECT server, frozen FROM "+quote(cfg.Schema)+".shard_meta WHERE id = 1").Scan(&server, &frozen)
	switch {
	case errNumber(err) == 1146: // a schema without shard_meta: an unfinished copy, or an empty one
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("look for an old copy on %s: %w", to, err)
	case err == nil && server.String == to && !frozen.Bool:
		return fmt.Errorf("%s already holds a live copy of %s, though the placement says otherwise: refusing to drop it", to, cfg.Schema)
	}
	m.say("dropping the old copy of %s on %s", cfg.Schema, to)
	c, err := schemacopy.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Abort(ctx)
}

func (m *Mover) say(format string, args ...any) {
	if m.Progress != nil {
		fmt.Fprintf(m.Progress, format+"\n", args...)
	}
}
