// Package shardsplit divides every logical shard of a deployment into
// several: the upgrade from the release with 4 logical shards (a schema
// each) to 256 (ADR 0036). An account's shard is FNV-1a mod the count, so
// with the new count a multiple of the old one an account of new shard j
// was on old shard j % old: old schema i stays, as new shard i, and gives
// the rows of each new shard j ≡ i to a new schema made on its server.
// Nothing is rehashed across servers and nothing is copied twice.
//
// The split freezes the old shards first (shard_meta.frozen: a writer still
// running is answered 503), moves the rows table by table in batches, each
// one transaction that inserts the batch in the new schemas and deletes it
// from the old one (both on one server), checks that every account,
// balance and transfer is once in the shard of its account, stores the
// placement with the new count and unfreezes every shard. Each step can run
// again: a split stopped anywhere is finished by running it again.
package shardsplit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/placement"
)

// ErrUsage marks a split that cannot be run as asked (a count that is not
// a multiple, a configuration that does not match the shards there are):
// nothing was changed.
var ErrUsage = errors.New("usage")

// Splitter splits a deployment's logical shards into the ones its
// configuration declares.
type Splitter struct {
	// Placement is the placement store: its map says how many logical
	// shards there are now and where each is.
	Placement *placement.Store
	// Layout is the configuration after the upgrade: its schemas are the
	// new logical shards, the first ones the old shards' schemas.
	Layout database.Layout
	// Pools are Layout's servers, by index, as a user that may create
	// schemas and tables (the migration user).
	Pools []*sqlx.DB
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
	// Batch is how many rows one transaction moves (default 500).
	Batch int
	// Parallel is how many new schemas are made at once (default 8).
	Parallel int
	// Hook, if set, is called after each step with its name ("frozen",
	// "created", "batch transfers 1", "placed", …), from several
	// goroutines: the tests stop a split there by cancelling its context.
	Hook func(step string)

	mu sync.Mutex // serialises Progress
}

// Plan is what a split does, as Check finds it.
type Plan struct {
	From, To int
	// Map is the placement read; Version the version the split builds on.
	Map placement.Map
	// Owner[j] is the index of the server new shard j is on.
	Owner []int
	// Started: an earlier run began this split (split_state is there).
	Started bool
	// Placed: the placement has To shards already; only unfreezing and
	// cleaning up can be left.
	Placed bool
	// Rows[i] counts the moved tables' rows of old shard i (Check with
	// counts only).
	Rows []map[string]int64
}

// Done reports that there is nothing to do: the shards are split.
func (p Plan) Done() bool { return p.Placed && !p.Started }

func (s *Splitter) batch() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return 500
}

func (s *Splitter) printf(format string, args ...any) {
	if s.Progress == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.Progress, format+"\n", args...)
}

func (s *Splitter) hook(step string) {
	if s.Hook != nil {
		s.Hook(step)
	}
}

// Check reads the placement and the schemas and returns the plan, or why
// the split cannot run (ErrUsage: as configured; another error: as the
// databases are). It changes nothing. With counts it also counts the rows
// of the old shards.
func (s *Splitter) Check(ctx context.Context, counts bool) (Plan, error) {
	m, _, err := s.Placement.Load(ctx)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{From: m.Shards, To: len(s.Layout.Schemas), Map: m}
	if len(s.Pools) != len(s.Layout.Names) {
		return p, fmt.Errorf("shardsplit: %d pools for %d servers", len(s.Pools), len(s.Layout.Names))
	}
	seen := map[string]bool{}
	for _, schema := range s.Layout.Schemas {
		if seen[schema] {
			return p, fmt.Errorf("%w: schema %s is configured twice in shards", ErrUsage, schema)
		}
		seen[schema] = true
	}
	server := map[string]int{}
	for _, name := range m.Servers {
		i := slices.Index(s.Layout.Names, name)
		if i < 0 {
			return p, fmt.Errorf("%w: the placement lists server %s, which servers does not configure", ErrUsage, name)
		}
		server[name] = i
	}
	if m.Shards == p.To {
		p.Placed = true
		for _, name := range m.Owner {
			p.Owner = append(p.Owner, server[name])
		}
		p.From, p.Started, err = s.unfinished(ctx, p)
		return p, err
	}
	if p.To < m.Shards || p.To%m.Shards != 0 {
		return p, fmt.Errorf("%w: shards declares %d logical shards; there are %d, and a split needs a multiple of them", ErrUsage, p.To, m.Shards)
	}
	for j := range p.To {
		p.Owner = append(p.Owner, server[m.Owner[j%p.From]])
	}
	if err := s.checkSources(ctx, &p); err != nil {
		return p, err
	}
	if err := s.checkTargets(ctx, p); err != nil {
		return p, err
	}
	if counts {
		for i := range p.From {
			rows := map[string]int64{}
			for _, table := range movedTables {
				var n int64
				if err := s.Pools[p.Owner[i]].GetContext(ctx, &n, "SELECT COUNT(*) FROM "+s.table(i, table)); err != nil {
					return p, fmt.Errorf("shard %d: count %s: %w", i, table, err)
				}
				rows[table] = n
			}
			p.Rows = append(p.Rows, rows)
		}
	}
	return p, nil
}

// table is the qualified name of table in shard sh's schema.
func (s *Splitter) table(sh int, table string) string {
	return quote(s.Layout.Schemas[sh]) + "." + quote(table)
}

// checkSources checks that each old shard's schema is where the placement
// says, is that shard's live copy, has only tables the split knows, and is
// frozen only by this split.
func (s *Splitter) checkSources(ctx context.Context, p *Plan) error {
	for i := range p.From {
		db, schema, name := s.Pools[p.Owner[i]], s.Layout.Schemas[i], p.Map.Owner[i]
		tables, err := tablesOf(ctx, db, schema)
		if err != nil {
			return fmt.Errorf("shard %d (%s on %s): %w", i, schema, name, err)
		}
		if !slices.Contains(tables, "shard_meta") {
			return fmt.Errorf("%w: %s on %s is not a shard's schema (no shard_meta): the first %d schemas of shards must be the shards there are, in order",
				ErrUsage, schema, name, p.From)
		}
		for _, t := range tables {
			if !known(t) {
				return fmt.Errorf("shard %d (%s): table %s is not one the split knows what to do with (see shardsplit/tables.go)", i, schema, t)
			}
		}
		var meta struct {
			Shard  int    `db:"shard"`
			Server string `db:"server"`
			Frozen bool   `db:"frozen"`
		}
		if err := db.GetContext(ctx, &meta, "SELECT shard, server, frozen FROM "+s.table(i, "shard_meta")+" WHERE id = 1"); err != nil {
			return fmt.Errorf("shard %d (%s on %s): read shard_meta: %w", i, schema, name, err)
		}
		if meta.Shard != i || meta.Server != name {
			return fmt.Errorf("%w: %s on %s records shard %d on server %q, not shard %d on %s: the first %d schemas of shards must be the shards there are, in order",
				ErrUsage, schema, name, meta.Shard, meta.Server, i, name, p.From)
		}
		started := slices.Contains(tables, stateTable)
		if started {
			var plan string
			err := db.GetContext(ctx, &plan, "SELECT value FROM "+s.table(i, stateTable)+" WHERE step = 'plan'")
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("shard %d: read split_state: %w", i, err)
			}
			if err == nil && plan != planOf(p.From, p.To) {
				return fmt.Errorf("%w: shard %d is half-way through a split %s; configure that many shards and run it again", ErrUsage, i, plan)
			}
			p.Started = true
		}
		if meta.Frozen && !started {
			return fmt.Errorf("shard %d is frozen by an unfinished move: run that shards move again (it finishes or undoes it) before the split", i)
		}
		for srv, other := range s.Pools {
			if srv == p.Owner[i] {
				continue
			}
			if ok, err := schemaExists(ctx, other, schema); err != nil || ok {
				if err == nil {
					err = fmt.Errorf("%s has a copy of shard %d (%s), left by an unfinished move: run that move again, or drop the copy", s.Layout.Names[srv], i, schema)
				}
				return err
			}
		}
	}
	return nil
}

// checkTargets checks that no new shard's schema is anywhere but on its
// server, and there, before the split started, holds no rows (make run
// and migrate may have made it empty).
func (s *Splitter) checkTargets(ctx context.Context, p Plan) error {
	for srv, db := range s.Pools {
		var names []string
		if err := db.SelectContext(ctx, &names, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"); err != nil {
			return fmt.Errorf("server %s: list schemas: %w", s.Layout.Names[srv], err)
		}
		for _, name := range names {
			j := slices.Index(s.Layout.Schemas, name)
			if j < p.From {
				continue
			}
			if p.Owner[j] != srv {
				return fmt.Errorf("%s already has schema %s, which the split makes on %s (with shard %d's accounts): drop it",
					s.Layout.Names[srv], name, s.Layout.Names[p.Owner[j]], j%p.From)
			}
			tables, err := tablesOf(ctx, db, name)
			if err != nil {
				return err
			}
			if slices.Contains(tables, "shard_meta") {
				var sh int
				err := db.GetContext(ctx, &sh, "SELECT shard FROM "+s.table(j, "shard_meta")+" WHERE id = 1")
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("schema %s on %s: read shard_meta: %w", name, s.Layout.Names[srv], err)
				}
				if err == nil && sh != j {
					return fmt.Errorf("schema %s on %s records shard %d: it is not shard %d's, which the split makes there", name, s.Layout.Names[srv], sh, j)
				}
			}
			if p.Started {
				continue
			}
			for _, t := range movedTables {
				if !slices.Contains(tables, t) {
					continue
				}
				var one int
				err := db.GetContext(ctx, &one, "SELECT 1 FROM "+s.table(j, t)+" LIMIT 1")
				if err == nil {
					return fmt.Errorf("schema %s on %s already holds %s rows: it is not a schema the split may fill", name, s.Layout.Names[srv], t)
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
		}
	}
	return nil
}

// unfinished finds a split whose placement was stored but whose end (the
// unfreeze, the clean-up) was not reached: its old shards still hold
// split_state. It returns the old count and whether there is one.
func (s *Splitter) unfinished(ctx context.Context, p Plan) (int, bool, error) {
	for srv, db := range s.Pools {
		var schemas []string
		if err := db.SelectContext(ctx, &schemas, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME = ?", stateTable); err != nil {
			return 0, false, fmt.Errorf("server %s: %w", s.Layout.Names[srv], err)
		}
		for _, schema := range schemas {
			j := slices.Index(s.Layout.Schemas, schema)
			if j < 0 || p.Owner[j] != srv {
				continue
			}
			var plan string
			if err := db.GetContext(ctx, &plan, "SELECT value FROM "+s.table(j, stateTable)+" WHERE step = 'plan'"); err != nil {
				return 0, false, fmt.Errorf("shard %d: read split_state: %w", j, err)
			}
			from, to, ok := parsePlan(plan)
			if !ok || to != p.To {
				return 0, false, fmt.Errorf("shard %d records a split %q, not one to the %d shards there are", j, plan, p.To)
			}
			return from, true, nil
		}
	}
	return p.To, false, nil
}

func planOf(from, to int) string { return strconv.Itoa(from) + "->" + strconv.Itoa(to) }

func parsePlan(s string) (from, to int, ok bool) {
	a, b, found := strings.Cut(s, "->")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	return from, to, found && err1 == nil && err2 == nil
}

// Run splits the shards as Check plans it, or finishes a split an earlier
// run began. It returns the plan it carried out.
func (s *Splitter) Run(ctx context.Context) (Plan, error) {
	p, err := s.Check(ctx, false)
	if err != nil || p.Done() {
		return p, err
	}
	if p.Placed {
		s.printf("the placement has %d logical shards already: finishing the split", p.To)
		return p, s.finish(ctx, p)
	}
	targets := p.To - p.From
	if p.Started {
		s.printf("continuing the split of %d logical shards into %d (placement version %d)", p.From, p.To, p.Map.Version)
	} else {
		s.printf("splitting %d logical shards into %d (placement version %d): %d new schemas", p.From, p.To, p.Map.Version, targets)
	}
	store, err := s.store(p)
	if err != nil {
		return p, err
	}
	s.printf("freezing shards 0-%d: writes to them are refused (503) until the split ends", p.From-1)
	p.Started = true // from here a failure leaves shards frozen: a run again ends it
	if err := s.freeze(ctx, p); err != nil {
		return p, err
	}
	s.hook("frozen")
	for i := range p.From {
		if err := store.MigrateShard(ctx, i, deadletter.Migrations()); err != nil {
			return p, err
		}
		if err := s.recordBefore(ctx, p, i); err != nil {
			return p, err
		}
	}
	s.hook("migrated")
	start := time.Now()
	s.printf("making and migrating %d schemas (%s…%s)", targets, s.Layout.Schemas[p.From], s.Layout.Schemas[p.To-1])
	if err := s.makeTargets(ctx, p, store); err != nil {
		return p, err
	}
	s.printf("made %d schemas in %s", targets, time.Since(start).Round(time.Millisecond))
	s.hook("created")
	start = time.Now()
	if err := parallel(p.From, p.From, func(i int) error { return s.moveShard(ctx, p, i) }); err != nil {
		return p, err
	}
	s.printf("moved the rows in %s", time.Since(start).Round(time.Millisecond))
	for i := range p.From {
		if err := s.verify(ctx, p, i); err != nil {
			return p, err
		}
	}
	s.printf("checked: every account, balance and transfer is once, in the shard of its account")
	s.hook("verified")
	next, err := s.Placement.Update(ctx, p.Map, func(cur placement.Map) (placement.Map, error) { return cur.Split(p.To) })
	if err != nil {
		return p, fmt.Errorf("store the placement with %d shards (did a shard move during the split?): %w", p.To, err)
	}
	s.printf("placement version %d: %d logical shards", next.Version, next.Shards)
	s.hook("placed")
	p.Placed = true
	return p, s.finish(ctx, p)
}

// store is the account store over the new shards, placed as the split
// places them: it migrates each schema as account-service would.
func (s *Splitter) store(p Plan) (*mysql.Store, error) {
	servers := make([]mysql.Server, len(s.Pools))
	for i, db := range s.Pools {
		servers[i] = mysql.Server{Name: s.Layout.Names[i], DB: db}
	}
	return mysql.NewPlaced(servers, s.Layout.Schemas, p.Owner)
}

// freeze records the split in each old shard (split_state, so that a run
// again knows the freeze is its own) and freezes it. The update of
// shard_meta waits for the writers' transactions holding it (the fence)
// and every later one is refused.
func (s *Splitter) freeze(ctx context.Context, p Plan) error {
	for i := range p.From {
		db := s.Pools[p.Owner[i]]
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.table(i, stateTable)+` (
			step  VARCHAR(64) NOT NULL PRIMARY KEY,
			value MEDIUMTEXT  NOT NULL,
			at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`); err != nil {
			return fmt.Errorf("shard %d: create %s: %w", i, stateTable, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT IGNORE INTO "+s.table(i, stateTable)+" (step, value) VALUES ('plan', ?)", planOf(p.From, p.To)); err != nil {
			return fmt.Errorf("shard %d: record the split: %w", i, err)
		}
		if err := s.setFrozen(ctx, p, i, true); err != nil {
			return err
		}
	}
	return nil
}

// setFrozen sets shard sh's shard_meta.frozen, waiting at most 10 s for
// the transactions that hold it.
func (s *Splitter) setFrozen(ctx context.Context, p Plan, sh int, frozen bool) error {
	conn, err := s.Pools[p.Owner[sh]].Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 10"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "UPDATE "+s.table(sh, "shard_meta")+" SET frozen = ? WHERE id = 1", frozen); err != nil {
		return fmt.Errorf("shard %d: set frozen = %v: %w", sh, frozen, err)
	}
	return nil
}

// makeTargets makes, migrates and freezes each new schema on the server of
// its old shard, Parallel at a time, with the old schema's character set.
func (s *Splitter) makeTargets(ctx context.Context, p Plan, store *mysql.Store) error {
	charset := make([][2]string, p.From)
	for i := range p.From {
		if err := s.Pools[p.Owner[i]].QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
			FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, s.Layout.Schemas[i]).Scan(&charset[i][0], &charset[i][1]); err != nil {
			return fmt.Errorf("shard %d: read its character set: %w", i, err)
		}
	}
	workers := s.Parallel
	if workers <= 0 {
		workers = 8
	}
	return parallel(p.To-p.From, workers, func(k int) error {
		j := p.From + k
		cs := charset[j%p.From]
		if _, err := s.Pools[p.Owner[j]].ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quote(s.Layout.Schemas[j])+
			" CHARACTER SET "+cs[0]+" COLLATE "+cs[1]); err != nil {
			return fmt.Errorf("shard %d: create schema %s: %w", j, s.Layout.Schemas[j], err)
		}
		if err := store.MigrateShard(ctx, j, deadletter.Migrations()); err != nil {
			return err
		}
		return s.setFrozen(ctx, p, j, true)
	})
}

// finish unfreezes every shard and drops the split's own tables, whose
// presence says a split is not finished: last.
func (s *Splitter) finish(ctx context.Context, p Plan) error {
	for j := range p.To {
		if err := s.setFrozen(ctx, p, j, false); err != nil {
			return err
		}
	}
	s.printf("unfroze the %d logical shards", p.To)
	s.hook("unfrozen")
	for i := range p.From {
		for _, t := range []string{mapTable, stateTable} {
			if _, err := s.Pools[p.Owner[i]].ExecContext(ctx, "DROP TABLE IF EXISTS "+s.table(i, t)); err != nil {
				return fmt.Errorf("shard %d: drop %s: %w", i, t, err)
			}
		}
	}
	return nil
}

// parallel runs fn(0) … fn(n-1), at most limit at a time, and returns
// their errors joined.
func parallel(n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tablesOf lists schema's base tables.
func tablesOf(ctx context.Context, db *sqlx.DB, schema string) ([]string, error) {
	var tables []string
	err := db.SelectContext(ctx, &tables, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", schema)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	return tables, nil
}

func schemaExists(ctx context.Context, db *sqlx.DB, schema string) (bool, error) {
	var n int
	err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema)
	return n > 0, err
}

// Print writes p for an operator (shards split --dry-run).
func (p Plan) Print(w io.Writer, l database.Layout) {
	switch {
	case p.Done():
		fmt.Fprintf(w, "nothing to do: the placement has the %d logical shards configured\n", p.To)
		return
	case p.Placed:
		fmt.Fprintf(w, "a split of %d logical shards into %d stored its placement but did not end: a run unfreezes the %d shards and drops the split's tables\n",
			p.From, p.To, p.To)
		return
	}
	fmt.Fprintf(w, "split %d logical shards into %d: placement version %d -> %d\n", p.From, p.To, p.Map.Version, p.Map.Version+1)
	if p.Started {
		fmt.Fprintln(w, "an earlier run began this split: a run goes on from where it stopped")
	}
	per := p.To / p.From
	for i := range p.From {
		fmt.Fprintf(w, "shard %d (%s on %s)", i, l.Schemas[i], l.Names[p.Owner[i]])
		if i < len(p.Rows) {
			var parts []string
			for _, t := range movedTables {
				parts = append(parts, fmt.Sprintf("%d %s", p.Rows[i][t], t))
			}
			fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
		}
		fmt.Fprintf(w, "\n  keeps about 1/%d of its accounts as shard %d; the others go to %d new schemas on %s: %s, %s, … %s\n",
			per, i, per-1, l.Names[p.Owner[i]], l.Schemas[i+p.From], l.Schemas[min(i+2*p.From, i+(per-1)*p.From)], l.Schemas[i+(per-1)*p.From])
	}
	fmt.Fprintf(w, "steps: freeze shards 0-%d (writes get 503); migrate them; make and migrate %d schemas; move the rows, a batch per transaction; "+
		"check every account, balance and transfer; store placement version %d with %d shards; unfreeze all %d\n",
		p.From-1, p.To-p.From, p.Map.Version+1, p.To, p.To)
}
