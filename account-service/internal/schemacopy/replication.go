package schemacopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The replication statements are MariaDB 10.11's multi-source syntax: a
// connection is named in the statement. MySQL 8.4 names it a channel and
// words each statement differently:
//
//	MariaDB 10.11                                MySQL 8.4
//	CHANGE MASTER 'c' TO MASTER_HOST=…,          CHANGE REPLICATION SOURCE TO SOURCE_HOST=…,
//	  MASTER_LOG_FILE=…, MASTER_USE_GTID=no        SOURCE_LOG_FILE=… FOR CHANNEL 'c'
//	SET GLOBAL c.replicate_do_db = 's'           CHANGE REPLICATION FILTER REPLICATE_DO_DB = (s) FOR CHANNEL 'c'
//	START / STOP REPLICA 'c'                     START / STOP REPLICA FOR CHANNEL 'c'
//	RESET REPLICA 'c' ALL                        RESET REPLICA ALL FOR CHANNEL 'c'
//	SHOW REPLICA 'c' STATUS                      SHOW REPLICA STATUS FOR CHANNEL 'c' (Source_*/Replica_* columns)
//	MASTER_POS_WAIT(f, p, t, 'c')                SOURCE_POS_WAIT(f, p, t, 'c')
//	SHOW MASTER STATUS                           SHOW BINARY LOG STATUS
//
// Only the MariaDB form is implemented; docs/adr/0033 has the rest.

// MariaDB error numbers this file reacts to.
const errNoConnection = 1617 // "There is no master connection '…'"

// Status is the replication connection's state (SHOW REPLICA STATUS).
type Status struct {
	IORunning  string // Yes, No or Connecting
	SQLRunning string // Yes or No
	IOErrno    int
	IOError    string
	SQLErrno   int
	SQLError   string
	Behind     time.Duration // Seconds_Behind_Master; -1 when unknown (not running)
}

// ReplicationError is a replication connection that stopped on an error:
// the copy no longer follows the source. Abort it and start again.
type ReplicationError struct {
	Connection string
	Status     Status
}

func (e *ReplicationError) Error() string {
	s := e.Status
	if s.SQLErrno != 0 {
		return fmt.Sprintf("schemacopy: replication %s stopped applying: error %d: %s", e.Connection, s.SQLErrno, s.SQLError)
	}
	return fmt.Sprintf("schemacopy: replication %s stopped reading the source: error %d: %s", e.Connection, s.IOErrno, s.IOError)
}

// failure is the error s means for a copy that should be replicating:
// a *ReplicationError, ErrNotRunning, or nil while it runs (also while it
// reconnects to the source, which it retries every second).
func (s Status) failure(conn string) error {
	switch {
	case s.SQLRunning != "Yes" && s.SQLErrno != 0, s.IORunning == "No" && s.IOErrno != 0:
		return &ReplicationError{Connection: conn, Status: s}
	case s.SQLRunning != "Yes" || s.IORunning == "No":
		return fmt.Errorf("%w: %s (io %s, sql %s)", ErrNotRunning, conn, s.IORunning, s.SQLRunning)
	}
	return nil
}

// replicate creates the connection on the target from pos, filtered to
// the schema, and starts it. The filter is set at run time, so it is lost
// when the target restarts; deploy/local/mariadb.sh therefore starts
// servers with skip-slave-start, and the stopped connection fails CatchUp.
func (c *Copy) replicate(ctx context.Context, pos binlogPos) error {
	host, p, err := net.SplitHostPort(c.sourceAddr)
	if err != nil {
		return fmt.Errorf("schemacopy: source address %q: %w", c.sourceAddr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return fmt.Errorf("schemacopy: source address %q: %w", c.sourceAddr, err)
	}
	// File positions, not GTIDs: gtid_slave_pos is one per target and
	// domain, so two moves from one source to one target would share it.
	// Reconnecting after a second keeps a blip from stalling a move.
	steps := []struct {
		q    string
		args []any
	}{
		{`CHANGE MASTER ? TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?,
			MASTER_LOG_FILE = ?, MASTER_LOG_POS = ?, MASTER_USE_GTID = no, MASTER_CONNECT_RETRY = 1`,
			[]any{c.cfg.Connection, host, port, c.cfg.ReplicationUser, c.cfg.ReplicationPassword, pos.File, pos.Pos}},
		{"SET GLOBAL " + quoteName(c.cfg.Connection) + ".replicate_do_db = ?", []any{c.cfg.Schema}},
		{"START REPLICA ?", []any{c.cfg.Connection}},
	}
	for _, s := range steps {
		if _, err := c.target.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("schemacopy: start replication: %w", err)
		}
	}
	return nil
}

// CatchUp waits until the target applied everything the source had
// written to its binary log when CatchUp was called. It returns
// ErrTimeout (with the lag and any connection error) if that takes longer
// than timeout, a *ReplicationError if replication stopped on an error,
// and ErrNotRunning if it is stopped or gone. Called after writes to the
// schema stopped, its success means the copy equals the source.
func (c *Copy) CatchUp(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pos, err := c.sourcePos(ctx)
	if err != nil {
		return err
	}
	for {
		done, err := c.waitFor(ctx, pos, time.Until(deadline))
		if done || err != nil {
			return err
		}
		st, err := c.status(ctx)
		if err != nil {
			return err
		}
		if err := st.failure(c.cfg.Connection); err != nil {
			return err
		}
		c.report(Progress{Step: StepCatchUp, Behind: st.Behind})
		if !time.Now().Before(deadline) {
			if st.IOErrno != 0 {
				return fmt.Errorf("%w (%s, %s behind; reading the source: error %d: %s)",
					ErrTimeout, timeout, st.Behind, st.IOErrno, st.IOError)
			}
			return fmt.Errorf("%w (%s, %s behind)", ErrTimeout, timeout, st.Behind)
		}
	}
}

// waitFor waits up to a second, and at most left, for the target to reach
// pos. MASTER_POS_WAIT counts its timeout in whole seconds (0 would wait
// for ever), so a shorter wait is cut by the context instead: the driver
// drops that connection, and the server ends the wait within a second.
func (c *Copy) waitFor(ctx context.Context, pos binlogPos, left time.Duration) (bool, error) {
	wait := min(max(left, time.Millisecond), time.Second)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var r sql.NullInt64
	err := c.target.QueryRowContext(wctx, "SELECT MASTER_POS_WAIT(?, ?, 1, ?)", pos.File, pos.Pos, c.cfg.Connection).Scan(&r)
	switch {
	case err != nil && ctx.Err() == nil && wctx.Err() != nil:
		return false, nil // this wait's time is up
	case err != nil:
		return false, fmt.Errorf("schemacopy: wait for the target: %w", err)
	case r.Valid && r.Int64 >= 0:
		return true, nil
	case !r.Valid:
		// NULL: the connection is not running; the status says why. A
		// connection that was just started may not count as running yet.
		time.Sleep(min(wait, 20*time.Millisecond))
	}
	return false, nil
}

// sourcePos is the end of the source's binary log.
func (c *Copy) sourcePos(ctx context.Context) (binlogPos, error) {
	row, err := queryRow(ctx, c.source, "SHOW MASTER STATUS")
	if err != nil {
		return binlogPos{}, fmt.Errorf("schemacopy: source position: %w", err)
	}
	if row == nil {
		return binlogPos{}, errors.New("schemacopy: source position: binary log off")
	}
	pos := binlogPos{File: row["File"].String}
	if pos.Pos, err = strconv.ParseUint(row["Position"].String, 10, 64); err != nil {
		return binlogPos{}, fmt.Errorf("schemacopy: source position %q: %w", row["Position"].String, err)
	}
	return pos, nil
}

// Status reports the replication connection; ErrNotRunning if it does not
// exist.
func (c *Copy) Status(ctx context.Context) (Status, error) { return c.status(ctx) }

func (c *Copy) status(ctx context.Context) (Status, error) {
	row, err := queryRow(ctx, c.target, "SHOW REPLICA ? STATUS", c.cfg.Connection)
	if isNoConnection(err) || (err == nil && row == nil) {
		return Status{}, fmt.Errorf("%w: no connection %s on the target", ErrNotRunning, c.cfg.Connection)
	}
	if err != nil {
		return Status{}, fmt.Errorf("schemacopy: replication status: %w", err)
	}
	atoi := func(k string) int { n, _ := strconv.Atoi(row[k].String); return n }
	st := Status{
		IORunning: row["Slave_IO_Running"].String, SQLRunning: row["Slave_SQL_Running"].String,
		IOErrno: atoi("Last_IO_Errno"), IOError: row["Last_IO_Error"].String,
		SQLErrno: atoi("Last_SQL_Errno"), SQLError: row["Last_SQL_Error"].String,
		Behind: -1,
	}
	if b := row["Seconds_Behind_Master"]; b.Valid {
		st.Behind = time.Duration(atoi("Seconds_Behind_Master")) * time.Second
	}
	return st, nil
}

// dropConnection stops and removes the replication connection, if any.
func (c *Copy) dropConnection(ctx context.Context) error {
	for _, q := range []string{"STOP REPLICA ?", "RESET REPLICA ? ALL"} {
		_, err := c.target.ExecContext(ctx, q, c.cfg.Connection)
		if isNoConnection(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("schemacopy: remove replication %s: %w", c.cfg.Connection, err)
		}
	}
	return nil
}

func isNoConnection(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == errNoConnection
}

// queryRow runs a SHOW statement and returns its one row by column name,
// or nil if it returned none.
func queryRow(ctx context.Context, db *sql.DB, q string, args ...any) (map[string]sql.NullString, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	out := make(map[string]sql.NullString, len(cols))
	for i, col := range cols {
		out[col] = vals[i]
	}
	return out, rows.Err()
}
