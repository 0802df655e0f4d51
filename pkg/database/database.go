// Package database opens MySQL/MariaDB pools, applies embedded migrations and
// runs transactions that are retried whole on deadlocks and lock wait
// time-outs.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// MySQL error numbers the wallet reacts to.
const (
	errDuplicate = 1062
	errDeadlock  = 1213
	errLockWait  = 1205
)

// IdleTimeout is the session wait_timeout Open sets unless the DSN names
// one, so that a stopped process's transaction is rolled back and its row
// locks freed instead of stalling every other instance (ADR 0023).
const IdleTimeout = 10 * time.Second

// Open parses dsn, forces the session settings the wallet relies on and
// returns a pool. It does not wait for the server: see WaitReady.
func Open(dsn string) (*sqlx.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// One round-trip per statement instead of prepare/execute/close.
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'"
	idle := IdleTimeout
	if v, ok := cfg.Params["wait_timeout"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("dsn: wait_timeout %q is not a number of seconds", v)
		}
		idle = time.Duration(n) * time.Second
	}
	cfg.Params["wait_timeout"] = strconv.Itoa(int(idle / time.Second))
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(readCommitted{connector}), "mysql")
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(idle / 2) // before the server closes it
	return db, nil
}

// OpenAll opens one pool per DSN, in order; on error it closes the ones
// already open.
func OpenAll(dsns []string) ([]*sqlx.DB, error) {
	dbs := make([]*sqlx.DB, 0, len(dsns))
	for i, dsn := range dsns {
		db, err := Open(dsn)
		if err != nil {
			for _, d := range dbs {
				d.Close()
			}
			return nil, fmt.Errorf("database %d: %w", i, err)
		}
		dbs = append(dbs, db)
	}
	return dbs, nil
}

// WaitReady pings db until it answers or ctx ends, so services can start
// before their database.
func WaitReady(ctx context.Context, db DB) error {
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not reachable: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// IsDuplicate reports a unique-key violation, which means "already done"
// for idempotency keys and dedupe rows.
func IsDuplicate(err error) bool { return mysqlErr(err) == errDuplicate }

func isRetryable(err error) bool {
	n := mysqlErr(err)
	return n == errDeadlock || n == errLockWait
}

func mysqlErr(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// readCommitted sets READ COMMITTED on every new connection: locking reads
// then take no gap locks, so inserts of unrelated keys do not block each
// other. (The DSN cannot do it: MariaDB calls the variable tx_isolation,
// MySQL 8 transaction_isolation.)
type readCommitted struct{ driver.Connector }

func (c readCommitted) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("database: driver connection cannot execute statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set isolation level: %w", err)
	}
	return conn, nil
}

// ByServer groups DSNs by the server they reach: servers are the DSNs
// without their schema, one per distinct server (same user, address and
// parameters) in first-seen order; dsns[i] is schema schemas[i] on
// servers[server[i]].
func ByServer(dsns []string) (servers []string, server []int, schemas []string, err error) {
	seen := map[string]int{}
	for i, dsn := range dsns {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("database %d: parse dsn: %w", i, err)
		}
		schemas = append(schemas, cfg.DBName)
		cfg.DBName = ""
		key := cfg.FormatDSN()
		at, ok := seen[key]
		if !ok {
			at = len(servers)
			seen[key] = at
			servers = append(servers, key)
		}
		server = append(server, at)
	}
	return servers, server, schemas, nil
}

// WithSchema returns dsn, a DSN without a schema, with schema as its
// default database. A malformed dsn is returned as it is, for Open to
// refuse.
func WithSchema(dsn, schema string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	cfg.DBName = schema
	return cfg.FormatDSN()
}

// Layout is where a deployment's shards live: shard i is schema Schemas[i],
// first placed on server Owners[i]; server j is named Names[j] and reached
// by ServerDSNs[j] (without a schema).
type Layout struct {
	Names, ServerDSNs []string
	Schemas           []string
	Owners            []int
}

// LayoutOf reads the layout from the configured servers ("name=DSN" each;
// none: one per distinct server the shard DSNs name, called db1, db2, …)
// and the shard DSNs, which name each shard's schema and first server. A
// shard DSN whose server is not among the configured ones is refused.
func LayoutOf(servers, shards []string) (Layout, error) {
	keys, owners, schemas, err := ByServer(shards)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Schemas: schemas}
	if len(servers) == 0 {
		for i, key := range keys {
			l.Names = append(l.Names, fmt.Sprintf("db%d", i+1))
			l.ServerDSNs = append(l.ServerDSNs, key)
		}
		l.Owners = owners
		return l, nil
	}
	at := map[string]int{}
	for i, s := range servers {
		name, dsn, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return Layout{}, fmt.Errorf("servers[%d]: want name=DSN", i)
		}
		key, _, _, err := ByServer([]string{dsn})
		if err != nil {
			return Layout{}, fmt.Errorf("servers[%d]: %w", i, err)
		}
		if _, dup := at[key[0]]; dup || slices.Contains(l.Names, name) {
			return Layout{}, fmt.Errorf("servers[%d]: %s is configured twice", i, name)
		}
		at[key[0]] = i
		l.Names = append(l.Names, name)
		l.ServerDSNs = append(l.ServerDSNs, key[0])
	}
	for sh, o := range owners {
		srv, ok := at[keys[o]]
		if !ok {
			return Layout{}, fmt.Errorf("shards[%d]: its server is not among the configured servers", sh)
		}
		l.Owners = append(l.Owners, srv)
	}
	return l, nil
}

// DSN returns the DSN of shard sh's schema on server srv.
func (l Layout) DSN(sh, srv int) string { return WithSchema(l.ServerDSNs[srv], l.Schemas[sh]) }
