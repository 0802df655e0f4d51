package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
)

// inChunk bounds the ids one IN list of a batch's reads binds, as
// database.SelectIn does.
const inChunk = 1000

// reads collects a batch's reads for every shard it touches and runs them
// in one multi-statement round trip (run): each SELECT is one result set,
// read in order by its scan. With many logical shards on a server, a batch
// touches many schemas, and reading them one statement at a time made the
// round trips, not the rows, the cost (ADR 0036). The locking reads keep
// their order: the statements run in the order they were added.
type reads struct {
	q     strings.Builder
	args  []any
	scans []func(*sqlx.Rows) error
}

// add appends a statement; scan reads its result set, nil for one that has
// none (USE).
func (r *reads) add(query string, args []any, scan func(*sqlx.Rows) error) {
	if r.q.Len() > 0 {
		r.q.WriteString(";\n")
	}
	r.q.WriteString(query)
	r.args = append(r.args, args...)
	if scan != nil {
		r.scans = append(r.scans, scan)
	}
}

// use makes the statements added next read schema ("": the pool's default).
func (r *reads) use(schema string) {
	if schema != "" {
		r.add("USE "+quoteName(schema), nil, nil)
	}
}

// addRows appends a query whose rows, scanned into T (a struct), go to row
// in order.
func addRows[T any](r *reads, query string, args []any, row func(T) error) {
	r.add(query, args, func(rows *sqlx.Rows) error {
		var all []T
		if err := sqlx.StructScan(rows, &all); err != nil {
			return err
		}
		for _, v := range all {
			if err := row(v); err != nil {
				return err
			}
		}
		return nil
	})
}

// addIn appends query, whose one "IN (?)" takes ids (args come before
// it), once per chunk of ids; none for no ids.
func addIn[T any](r *reads, query string, ids []string, row func(T) error, args ...any) error {
	for part := range slices.Chunk(ids, inChunk) {
		stmt, qargs, err := sqlx.In(query, append(slices.Clone(args), part)...)
		if err != nil {
			return err
		}
		addRows(r, stmt, qargs, row)
	}
	return nil
}

// run runs the statements in tx and scans their results.
func (r *reads) run(ctx context.Context, tx *sqlx.Tx) error {
	if len(r.scans) == 0 {
		return nil
	}
	rows, err := tx.QueryxContext(ctx, r.q.String(), r.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for i, scan := range r.scans {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("mysql: %d result sets, %d expected", i, len(r.scans))
		}
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Close()
}

// addLoad appends what a batch of one shard reads: its accounts, locked in
// ascending account_id order in one statement (see lockAccounts), then the
// transfers and credits under the batch's ids (locked), the movements and
// the saga inbox rows. A concurrent request with the same key waits on the
// account lock and then reads the first one's rows.
func addLoad(r *reads, b *account.Batch, k keys) error {
	if len(k.accounts) > 0 {
		args := make([]any, len(k.accounts))
		for i, id := range k.accounts { // keysOf sorted them
			args[i] = id
		}
		addRows(r, "SELECT "+accountColumns+" FROM accounts WHERE account_id IN ("+placeholders(len(args))+
			") ORDER BY account_id FOR UPDATE", args, func(row accountRow) error {
			a := row.toAccount(b.Shard)
			b.Accounts[a.ID] = &a
			return nil
		})
	}
	steps := []error{
		addIn(r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id IN (?) ORDER BY transaction_id, from_account FOR UPDATE",
			k.transfers, func(row transferRow) error {
				t, err := row.toTransfer()
				b.Transfers[t.Key()] = &t
				return err
			}),
		addIn(r, "SELECT "+creditColumns+" FROM credits WHERE transaction_id IN (?) ORDER BY transaction_id, from_account FOR UPDATE",
			k.credits, func(row creditRow) error {
				c, err := row.toCredit()
				b.Credits[account.Key{TransactionID: c.TransactionID, From: c.From}] = &c
				return err
			}),
		addIn(r, "SELECT "+movementColumns+" FROM movements WHERE transaction_id IN (?)",
			k.movements, func(row movementRow) error {
				m, err := row.toMovement()
				b.Movements[m.TransactionID] = &m
				return err
			}),
		addIn(r, "SELECT event_id FROM inbox WHERE consumer = ? AND event_id IN (?)",
			k.events, func(row struct {
				ID string `db:"event_id"`
			}) error {
				b.Seen[row.ID] = true
				return nil
			}, sagaInbox),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	return nil
}

// addFence appends the fence's read of shard_meta (see fence) into m; a
// schema without the row is refused as not the shard's.
func addFence(r *reads, m *meta) {
	m.Shard = -1
	addRows(r, "SELECT shard, server, frozen FROM shard_meta WHERE id = 1 LOCK IN SHARE MODE", nil, func(row meta) error {
		*m = row
		return nil
	})
}
