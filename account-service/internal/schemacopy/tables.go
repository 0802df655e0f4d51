package schemacopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// table is one base table of the schema as the snapshot sees it.
type table struct {
	name   string
	create string
	rows   int64
	cols   []column
}

type column struct {
	name   string
	binary bool // bytes as they are; otherwise text in the session's character set
}

// tables lists the schema's tables with their definition, columns and row
// count. Anything but base tables (views, sequences) is refused: the copy
// would miss it.
func (c *Copy) tables(ctx context.Context, src *sql.Conn) ([]table, error) {
	rows, err := src.QueryContext(ctx,
		"SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", c.cfg.Schema)
	if err != nil {
		return nil, fmt.Errorf("schemacopy: list tables: %w", err)
	}
	var out []table
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			rows.Close()
			return nil, err
		}
		if kind != "BASE TABLE" {
			rows.Close()
			return nil, fmt.Errorf("schemacopy: %s.%s is a %s; only base tables can be copied", c.cfg.Schema, name, kind)
		}
		out = append(out, table{name: name})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("schemacopy: list tables: %w", err)
	}
	for i := range out {
		if err := c.describe(ctx, src, &out[i]); err != nil {
			return nil, fmt.Errorf("schemacopy: table %s: %w", out[i].name, err)
		}
	}
	return out, nil
}

// binaryTypes are the column types whose values are bytes, not text.
var binaryTypes = map[string]bool{
	"binary": true, "varbinary": true, "tinyblob": true, "blob": true, "mediumblob": true, "longblob": true,
	"bit": true, "geometry": true, "point": true, "linestring": true, "polygon": true, "multipoint": true,
	"multilinestring": true, "multipolygon": true, "geometrycollection": true,
}

func (c *Copy) describe(ctx context.Context, src *sql.Conn, t *table) error {
	qualified := quoteName(c.cfg.Schema) + "." + quoteName(t.name)
	var name string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+qualified).Scan(&name, &t.create); err != nil {
		return err
	}
	if err := src.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+qualified).Scan(&t.rows); err != nil {
		return err
	}
	// Generated columns are computed again on the target; invisible ones
	// are named, so SELECT and INSERT both see them.
	rows, err := src.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%GENERATED%' ORDER BY ORDINAL_POSITION`,
		c.cfg.Schema, t.name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return err
		}
		t.cols = append(t.cols, column{name: col, binary: binaryTypes[strings.ToLower(typ)]})
	}
	return rows.Err()
}

// copyTable creates t on the target and inserts the snapshot's rows in
// batches; it returns how many rows it copied.
func (c *Copy) copyTable(ctx context.Context, src, dst *sql.Conn, t table, done, total int64) (int64, error) {
	if _, err := dst.ExecContext(ctx, t.create); err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	names := make([]string, len(t.cols))
	for i, col := range t.cols {
		names[i] = quoteName(col.name)
	}
	list := strings.Join(names, ", ")
	rows, err := src.QueryContext(ctx, "SELECT "+list+" FROM "+quoteName(c.cfg.Schema)+"."+quoteName(t.name))
	if err != nil {
		return 0, fmt.Errorf("select: %w", err)
	}
	defer rows.Close()
	b := insertBatch{prefix: "INSERT INTO " + quoteName(t.name) + " (" + list + ") VALUES ", tuple: tuple(len(t.cols))}
	raw := make([]sql.RawBytes, len(t.cols))
	dest := make([]any, len(t.cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var n int64
	flush := func() error {
		if err := b.exec(ctx, dst); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		c.report(Progress{Step: StepLoad, Table: t.name, Rows: done + n, Total: total, Behind: -1})
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		b.add(raw, t.cols)
		n++
		if b.rows >= batchRows || b.bytes >= batchBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("select: %w", err)
	}
	if b.rows > 0 || n == 0 {
		if err := flush(); err != nil {
			return n, err
		}
	}
	if n != t.rows {
		return n, fmt.Errorf("copied %d rows, the snapshot counted %d", n, t.rows)
	}
	return n, nil
}

// tuple is "(?, ?, …)" for n columns.
func tuple(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }

// insertBatch gathers rows into one multi-row INSERT.
type insertBatch struct {
	prefix, tuple string
	sql           strings.Builder
	args          []any
	rows, bytes   int
}

// add appends one row, copying its values (RawBytes are reused by Scan):
// bytes for binary columns, text for the rest, so the target converts
// text between character sets as the source did.
func (b *insertBatch) add(raw []sql.RawBytes, cols []column) {
	if b.rows > 0 {
		b.sql.WriteString(", ")
	}
	b.sql.WriteString(b.tuple)
	for i, v := range raw {
		b.bytes += len(v)
		switch {
		case v == nil:
			b.args = append(b.args, nil)
		case cols[i].binary:
			b.args = append(b.args, append([]byte{}, v...))
		default:
			b.args = append(b.args, string(v))
		}
	}
	b.rows++
}

// exec runs the INSERT, if it has rows, and empties the batch.
func (b *insertBatch) exec(ctx context.Context, dst *sql.Conn) error {
	if b.rows == 0 {
		return nil
	}
	_, err := dst.ExecContext(ctx, b.prefix+b.sql.String(), b.args...)
	b.sql.Reset()
	b.args, b.rows, b.bytes = b.args[:0], 0, 0
	return err
}
