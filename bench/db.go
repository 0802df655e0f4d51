package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// shardSchema and ledgerSchema name the local stack's schemas on the one
// MariaDB server.
const ledgerSchema = "wallet_ledger"

func shardSchema(s int) string { return fmt.Sprintf("wallet_shard_%d", s) }

// openDB opens a pool on dsn (a DSN with or without a schema) using schema,
// set up as the services set up theirs: parameters interpolated client-side
// (one round trip per statement) and READ COMMITTED on every connection, so
// the naive baseline pays what the services pay.
func openDB(dsn, schema string, conns int) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse -mysql: %w", err)
	}
	cfg.DBName = schema
	cfg.InterpolateParams = true
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(readCommitted{connector})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to MariaDB: %w", err)
	}
	return db, nil
}

// readCommitted sets READ COMMITTED on each new connection, as
// pkg/database does (MariaDB's variable is tx_isolation, so the DSN cannot).
type readCommitted struct{ driver.Connector }

func (c readCommitted) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("driver connection cannot execute statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set isolation level: %w", err)
	}
	return conn, nil
}
