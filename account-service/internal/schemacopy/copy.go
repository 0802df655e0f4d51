// Package schemacopy copies one schema from a MariaDB server to another
// while the source keeps taking writes, and keeps the copy caught up
// through replication until told to stop: the data half of moving a
// logical shard (docs/adr/0033).
//
// Start takes a consistent snapshot of the schema with its binary log
// coordinates, creates the schema and its tables on the target, loads the
// rows, and starts a named replication connection on the target from those
// coordinates, filtered to the schema. CatchUp waits until the target
// applied everything the source had logged when it was called. Stop removes
// the replication connection and leaves the copy; Abort removes both.
//
// The SQL is MariaDB's (10.11); replication.go says where MySQL 8.4's
// differs.
package schemacopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config says what to copy, from where, to where.
type Config struct {
	// Source and Target are DSNs without a schema, e.g.
	// "wallet_mover:pw@tcp(127.0.0.1:3307)/", as a user with the mover's
	// privileges on both servers (deploy/grants-move.sql).
	Source, Target string
	// Schema is the schema to copy. It must exist on Source and not on
	// Target. Letters, digits and underscores only.
	Schema string
	// SourceAddr is the host:port the target's replication thread dials to
	// reach Source. Default: the address of the Source DSN.
	SourceAddr string
	// ReplicationUser and ReplicationPassword are the login the target's
	// replication thread uses on Source (REPLICATION SLAVE).
	ReplicationUser, ReplicationPassword string
	// Connection names the replication connection on Target. Default
	// "move_" + Schema. Letters, digits and underscores only, at most 64.
	Connection string
	// Progress, if set, is called after every batch of rows loaded and
	// every second CatchUp waits. It runs on the caller's goroutine.
	Progress func(Progress)
}

// Progress is what a copy has done so far.
type Progress struct {
	Step   string        // StepLoad or StepCatchUp
	Table  string        // the table being loaded (StepLoad)
	Rows   int64         // rows loaded so far, all tables
	Total  int64         // rows the snapshot holds, all tables
	Behind time.Duration // replication lag (StepCatchUp); -1 if unknown
}

// The steps a Progress reports.
const (
	StepLoad    = "load"
	StepCatchUp = "catch-up"
)

// String renders p as one line for a command's progress output.
func (p Progress) String() string {
	if p.Step == StepLoad {
		return fmt.Sprintf("load: %d of %d rows (table %s)", p.Rows, p.Total, p.Table)
	}
	if p.Behind < 0 {
		return "catch-up: replication lag unknown"
	}
	return fmt.Sprintf("catch-up: %s behind", p.Behind)
}

// Errors the methods return; test with errors.Is. A replication failure is
// a *ReplicationError.
var (
	// ErrTargetExists: the target already has the schema or the
	// replication connection (a move that was not stopped or aborted).
	ErrTargetExists = errors.New("schemacopy: target already has it")
	// ErrTimeout: CatchUp's timeout passed before the target caught up.
	ErrTimeout = errors.New("schemacopy: target not caught up in time")
	// ErrNotRunning: the replication connection is missing or stopped
	// without an error (e.g. the target restarted: skip-slave-start).
	ErrNotRunning = errors.New("schemacopy: replication connection not running")
	// ErrStopped: Abort after Stop, which would drop the finished copy.
	ErrStopped = errors.New("schemacopy: copy already stopped")
)

// Copy is one schema's copy from Source to Target. Its methods are not
// safe for concurrent use.
type Copy struct {
	cfg            Config
	source, target *sql.DB
	sourceAddr     string
	stopped        bool
}

var name = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// New checks cfg and opens pools on both servers; it changes nothing. Use
// Start to begin a copy, or a fresh Copy's Abort to clean up after a
// process that died mid-move. Close it when done.
func New(cfg Config) (*Copy, error) {
	if cfg.Connection == "" {
		cfg.Connection = "move_" + cfg.Schema
	}
	if !name.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("schemacopy: schema %q: letters, digits and underscores only", cfg.Schema)
	}
	if !name.MatchString(cfg.Connection) {
		return nil, fmt.Errorf("schemacopy: connection %q: letters, digits and underscores only, at most 64", cfg.Connection)
	}
	if cfg.ReplicationUser == "" {
		return nil, errors.New("schemacopy: no replication user")
	}
	src, err := mysql.ParseDSN(cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("schemacopy: source dsn: %w", err)
	}
	addr := cfg.SourceAddr
	if addr == "" {
		addr = src.Addr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("schemacopy: the target reaches the source at host:port, not %q: set SourceAddr", addr)
	}
	source, err := open(cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("schemacopy: source: %w", err)
	}
	target, err := open(cfg.Target)
	if err != nil {
		source.Close()
		return nil, fmt.Errorf("schemacopy: target: %w", err)
	}
	return &Copy{cfg: cfg, source: source, target: target, sourceAddr: addr}, nil
}

// open returns a small pool for dsn whose sessions copy values exactly:
// text results (no time parsing), UTC, and statements with their
// arguments interpolated (one round trip, no prepared-statement limits).
func open(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DBName = ""
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// TIMESTAMP values travel as text in the session time zone: the same
	// on both sides keeps them exact.
	cfg.Params["time_zone"] = "'+00:00'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	return db, nil
}

// Close closes the pools; it leaves the copy and its replication as they are.
func (c *Copy) Close() error {
	return errors.Join(c.source.Close(), c.target.Close())
}

// Start copies the schema and starts replicating the source's later
// writes to it. On failure it removes what it created on the target and
// returns the error; the source is only read.
func (c *Copy) Start(ctx context.Context) error {
	if err := c.checkServers(ctx); err != nil {
		return err
	}
	if err := c.checkFree(ctx); err != nil {
		return err
	}
	pos, err := c.load(ctx)
	if err == nil {
		err = c.replicate(ctx, pos)
	}
	if err != nil && !errors.Is(err, ErrTargetExists) {
		// The target's copy and connection are this call's: undo them,
		// also when ctx is what failed.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return errors.Join(err, c.remove(cleanup))
	}
	return err
}

// Stop ends replication to the copy and forgets the connection; the copy
// stays on the target. Call it after a CatchUp that began once writes to
// the schema on the source had stopped.
func (c *Copy) Stop(ctx context.Context) error {
	if err := c.dropConnection(ctx); err != nil {
		return err
	}
	c.stopped = true
	return nil
}

// Abort ends replication and drops the target's copy; the source is not
// touched. It works on a fresh Copy too (after a process died mid-move),
// and when there is nothing to remove. Only call it for a target that is
// not the schema's placement: it drops the schema there. It refuses after
// Stop, and when Source and Target are the same server or the source has
// no such schema (the target's could be the only copy).
func (c *Copy) Abort(ctx context.Context) error {
	if c.stopped {
		return ErrStopped
	}
	if err := c.checkServers(ctx); err != nil {
		return err
	}
	var n int
	err := c.source.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", c.cfg.Schema).Scan(&n)
	if err != nil {
		return fmt.Errorf("schemacopy: abort: source schema: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("schemacopy: abort: source has no schema %s, the target's may be the only copy", c.cfg.Schema)
	}
	return c.remove(ctx)
}

// remove drops the replication connection, if any, and the target's copy.
func (c *Copy) remove(ctx context.Context) error {
	if err := c.dropConnection(ctx); err != nil {
		return err
	}
	if _, err := c.target.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteName(c.cfg.Schema)); err != nil {
		return fmt.Errorf("schemacopy: drop target schema: %w", err)
	}
	return nil
}

// checkServers refuses two sessions on one server (they would share a
// server_id), and a source without a row-based binary log.
func (c *Copy) checkServers(ctx context.Context) error {
	var srcID, dstID uint32
	var logBin int
	var format string
	err := c.source.QueryRowContext(ctx, "SELECT @@server_id, @@log_bin, @@binlog_format").Scan(&srcID, &logBin, &format)
	if err != nil {
		return fmt.Errorf("schemacopy: source: %w", err)
	}
	if err := c.target.QueryRowContext(ctx, "SELECT @@server_id").Scan(&dstID); err != nil {
		return fmt.Errorf("schemacopy: target: %w", err)
	}
	if srcID == dstID {
		return fmt.Errorf("schemacopy: source and target have the same server_id %d (the same server?)", srcID)
	}
	if logBin != 1 || !strings.EqualFold(format, "ROW") {
		return fmt.Errorf("schemacopy: source needs the binary log in ROW format (log_bin=%d, binlog_format=%s)", logBin, format)
	}
	return nil
}

// quoteName quotes an identifier checked by New.
func quoteName(s string) string { return "`" + s + "`" }
