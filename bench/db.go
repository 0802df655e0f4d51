package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/walletco/wallet/pkg/database"
)

// ledgerSchema is the ledger's schema on the local stack's MariaDB server
// (the shards' are found there, see shardSchemaLike).
const ledgerSchema = "wallet_ledger"

// openDB opens a pool on dsn (a DSN with or without a schema) using schema,
// through the services' own database.Open: parameters interpolated
// client-side (one round trip per statement), READ COMMITTED on every
// connection, the same session settings; so the baselines pay what
// the services pay.
func openDB(dsn, schema string, conns int) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse -mysql: %w", err)
	}
	cfg.DBName = schema
	x, err := database.Open(cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db := x.DB
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

// ledgerTables finds the ledger_accounts tables of the partitions'
// journals, schemas wallet_ledger_<p>, on db.
func ledgerTables(ctx context.Context, db *sql.DB) ([]LedgerTable, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_schema FROM information_schema.tables
WHERE table_schema LIKE 'wallet\_ledger\_%' AND table_name = 'ledger_accounts' ORDER BY table_schema`)
	if err != nil {
		return nil, fmt.Errorf("find the ledger's schemas: %w", err)
	}
	defer rows.Close()
	var out []LedgerTable
	for rows.Next() {
		var schema string
		if err := rows.Scan(&schema); err != nil {
			return nil, err
		}
		out = append(out, LedgerTable{DB: db, Table: "`" + schema + "`.ledger_accounts"})
	}
	return out, rows.Err()
}
