package database

import (
	"context"
	"slices"

	"github.com/jmoiron/sqlx"
)

// Selecter runs a query for rows: a pool, a Schema, a transaction or a
// connection.
type Selecter interface {
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// inChunk bounds the ids one SelectIn statement binds, so a large batch
// never meets the server's packet or placeholder limits.
const inChunk = 1000

// SelectIn runs query, whose one "IN (?)" takes ids (args come before it),
// in chunks of at most 1000 ids, and calls row for every result row in the
// order the server returns them. An empty ids runs nothing. row's error
// stops the scan and is returned.
func SelectIn[T any](ctx context.Context, q Selecter, query string, ids []string, row func(T) error, args ...any) error {
	for part := range slices.Chunk(ids, inChunk) {
		stmt, qargs, err := sqlx.In(query, append(slices.Clone(args), part)...)
		if err != nil {
			return err
		}
		var rows []T
		if err := q.SelectContext(ctx, &rows, stmt, qargs...); err != nil {
			return err
		}
		for _, r := range rows {
			if err := row(r); err != nil {
				return err
			}
		}
	}
	return nil
}
