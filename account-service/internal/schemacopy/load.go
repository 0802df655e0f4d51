package schemacopy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// binlogPos is a place in the source's binary log.
type binlogPos struct {
	File string
	Pos  uint64
}

// Batches of rows inserted into the target: whichever limit comes first.
const (
	batchRows  = 1000
	batchBytes = 1 << 20 // well below max_allowed_packet (16M by default)
)

const errDBExists = 1007 // ER_DB_CREATE_EXISTS

// checkFree refuses a target that already has the replication connection
// (the schema is refused when created).
func (c *Copy) checkFree(ctx context.Context) error {
	_, err := c.status(ctx)
	if err == nil {
		return fmt.Errorf("%w: replication connection %s", ErrTargetExists, c.cfg.Connection)
	}
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	return err
}

// load copies the schema as of one consistent snapshot of the source and
// returns the source's binary log position at that snapshot. MariaDB
// reports the position with the snapshot (binlog_snapshot_file and
// _position), so no global read lock is needed; MySQL 8.4 has no such
// status and would take it from performance_schema.log_status under a
// brief FLUSH TABLES WITH READ LOCK.
func (c *Copy) load(ctx context.Context) (binlogPos, error) {
	src, err := c.source.Conn(ctx)
	if err != nil {
		return binlogPos{}, fmt.Errorf("schemacopy: source: %w", err)
	}
	defer discard(src)
	// A snapshot needs REPEATABLE READ (the server's default may differ),
	// or each statement would see newer rows.
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			return binlogPos{}, fmt.Errorf("schemacopy: snapshot: %w", err)
		}
	}
	pos, err := snapshotPos(ctx, src)
	if err != nil {
		return binlogPos{}, err
	}
	dst, err := c.target.Conn(ctx)
	if err != nil {
		return binlogPos{}, fmt.Errorf("schemacopy: target: %w", err)
	}
	defer discard(dst)
	if err := c.createSchema(ctx, src, dst); err != nil {
		return binlogPos{}, err
	}
	tables, err := c.tables(ctx, src)
	if err != nil {
		return binlogPos{}, err
	}
	var total, done int64
	for _, t := range tables {
		total += t.rows
	}
	for _, t := range tables {
		n, err := c.copyTable(ctx, src, dst, t, done, total)
		if err != nil {
			return binlogPos{}, fmt.Errorf("schemacopy: table %s: %w", t.name, err)
		}
		done += n
	}
	return pos, nil
}

func snapshotPos(ctx context.Context, src *sql.Conn) (binlogPos, error) {
	rows, err := src.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return binlogPos{}, fmt.Errorf("schemacopy: snapshot position: %w", err)
	}
	defer rows.Close()
	var pos binlogPos
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return binlogPos{}, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			if _, err := fmt.Sscan(v, &pos.Pos); err != nil {
				return binlogPos{}, fmt.Errorf("schemacopy: snapshot position %q: %w", v, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return binlogPos{}, err
	}
	if pos.File == "" {
		return binlogPos{}, errors.New("schemacopy: the source reports no binlog snapshot position (binary log off?)")
	}
	return pos, nil
}

// createSchema creates the schema on the target as the source declares it,
// then its tables (SHOW CREATE, run in the schema).
func (c *Copy) createSchema(ctx context.Context, src, dst *sql.Conn) error {
	var name, create string
	if err := src.QueryRowContext(ctx, "SHOW CREATE DATABASE "+quoteName(c.cfg.Schema)).Scan(&name, &create); err != nil {
		return fmt.Errorf("schemacopy: source schema: %w", err)
	}
	if _, err := dst.ExecContext(ctx, create); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == errDBExists {
			return fmt.Errorf("%w: schema %s", ErrTargetExists, c.cfg.Schema)
		}
		return fmt.Errorf("schemacopy: create schema: %w", err)
	}
	// The load session: rows go in as they are, faster without checks
	// the source already made.
	for _, q := range []string{
		"USE " + quoteName(c.cfg.Schema),
		"SET SESSION foreign_key_checks = 0",
		"SET SESSION unique_checks = 0",
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
	} {
		if _, err := dst.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("schemacopy: target session: %w", err)
		}
	}
	return nil
}

// discard closes conn rather than return it to the pool, with the
// load's session settings (or its snapshot, which closing rolls back).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// report calls the configured Progress function, if any.
func (c *Copy) report(p Progress) {
	if c.cfg.Progress != nil {
		c.cfg.Progress(p)
	}
}
