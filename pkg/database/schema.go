package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// DB is what the wallet's stores use of a database: a *sqlx.DB whose
// default schema is the one they work in, or a Schema, which enters one
// schema on a pool shared by every schema of its server.
type DB interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error)
	Connx(ctx context.Context) (*sqlx.Conn, error)
	PingContext(ctx context.Context) error
}

// Schema is one schema on a server's pool. Logical shards are schemas, many
// to a server (ADR 0036): one pool per server keeps the connections
// proportional to servers, and every transaction or statement first enters
// its schema with USE (one more round trip).
type Schema struct {
	Pool *sqlx.DB
	Name string
}

// Use returns the statement that makes name the session's default schema.
func Use(name string) string { return "USE `" + strings.ReplaceAll(name, "`", "``") + "`" }

// Connx returns a connection of the pool that is in the schema.
func (s Schema) Connx(ctx context.Context) (*sqlx.Conn, error) {
	c, err := s.Pool.Connx(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, Use(s.Name)); err != nil {
		c.Close()
		return nil, fmt.Errorf("enter schema %s: %w", s.Name, err)
	}
	return c, nil
}

// BeginTxx begins a transaction in the schema.
func (s Schema) BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error) {
	tx, err := s.Pool.BeginTxx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, Use(s.Name)); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("enter schema %s: %w", s.Name, err)
	}
	return tx, nil
}

// GetContext runs a query for one row in the schema.
func (s Schema) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	c, err := s.Connx(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.GetContext(ctx, dest, query, args...)
}

// SelectContext runs a query for rows in the schema.
func (s Schema) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	c, err := s.Connx(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SelectContext(ctx, dest, query, args...)
}

// ExecContext runs a statement in the schema.
func (s Schema) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c, err := s.Connx(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ExecContext(ctx, query, args...)
}

// PingContext checks that the schema can be entered.
func (s Schema) PingContext(ctx context.Context) error {
	c, err := s.Connx(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// WithMultiStatements returns dsn with multi statements allowed: a group
// commit sends a batch's writes for many schemas in one round trip. A
// malformed dsn is returned as it is, for Open to refuse.
func WithMultiStatements(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// Qualified is table in schema, quoted, for a statement on a server's pool
// that reaches several schemas; the schema "" is the pool's default one.
func Qualified(schema, table string) string {
	if schema == "" {
		return "`" + strings.ReplaceAll(table, "`", "``") + "`"
	}
	return "`" + strings.ReplaceAll(schema, "`", "``") + "`.`" + strings.ReplaceAll(table, "`", "``") + "`"
}

// UnionAll joins n SELECTs, part(0) … part(n-1), each in parentheses (each
// may have its own LIMIT), into one statement: a look at every schema of a
// server costs one round trip and one statement (ADR 0036). The rows of a
// UNION ALL come in no promised order.
func UnionAll(n int, part func(i int) string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("(")
		b.WriteString(part(i))
		b.WriteString(")")
	}
	return b.String()
}
