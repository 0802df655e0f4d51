package shardsplit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/shard"
)

// tally counts what one table's move did.
type tally struct {
	rows, moved, left, synthesized int64
}

// moveShard moves old shard i's rows to its new shards, table by table in
// movedTables' order (transfer_steps before credits: a destination's step
// finds its account through its credit), skipping the tables an earlier
// run finished.
func (s *Splitter) moveShard(ctx context.Context, p Plan, i int) error {
	if err := s.buildMap(ctx, p, i); err != nil {
		return err
	}
	for _, table := range movedTables {
		done, err := s.stepDone(ctx, p, i, "moved "+table)
		if err != nil || done {
			if done {
				s.printf("shard %d: %s moved by an earlier run", i, table)
			}
			if err != nil {
				return err
			}
			continue
		}
		var t tally
		if table == "outbox" {
			t, err = s.moveOutbox(ctx, p, i)
		} else {
			t, err = s.moveTable(ctx, p, i, specs[table])
		}
		if err != nil {
			return fmt.Errorf("shard %d: move %s: %w", i, table, err)
		}
		line := fmt.Sprintf("shard %d: %s: %d rows, %d moved, %d stay", i, table, t.rows, t.moved, t.rows-t.moved)
		if t.synthesized > 0 {
			line += fmt.Sprintf("; %d same-shard transfers now between two shards got their credit and step records", t.synthesized)
		}
		if t.left > 0 {
			line += fmt.Sprintf("; %d of those that stay name an account of another shard, or none", t.left)
		}
		s.printf("%s", line)
		if err := s.markDone(ctx, p, i, "moved "+table); err != nil {
			return err
		}
		s.hook("moved " + table + " " + strconv.Itoa(i))
	}
	return nil
}

func (s *Splitter) stepDone(ctx context.Context, p Plan, i int, step string) (bool, error) {
	var n int
	err := s.Pools[p.Owner[i]].GetContext(ctx, &n, "SELECT COUNT(*) FROM "+s.table(i, stateTable)+" WHERE step = ?", step)
	return n > 0, err
}

func (s *Splitter) markDone(ctx context.Context, p Plan, i int, step string) error {
	_, err := s.Pools[p.Owner[i]].ExecContext(ctx, "INSERT IGNORE INTO "+s.table(i, stateTable)+" (step, value) VALUES (?, '')", step)
	return err
}

// buildMap fills old shard i's split_shard_of: the new shard of every
// account id a row of a moved table names, computed here (FNV-1a) so that
// the moves are set-based SQL. A run again adds only the ids missing.
func (s *Splitter) buildMap(ctx context.Context, p Plan, i int) error {
	db := s.Pools[p.Owner[i]]
	done, err := s.stepDone(ctx, p, i, "mapped")
	if err != nil || done {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.table(i, mapTable)+` (
		account_id VARCHAR(64) NOT NULL PRIMARY KEY,
		shard      INT         NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`); err != nil {
		return fmt.Errorf("shard %d: create %s: %w", i, mapTable, err)
	}
	var union []string
	for _, c := range accountColumns {
		union = append(union, "SELECT "+quote(c[1])+" AS id FROM "+s.table(i, c[0]))
	}
	// An empty id (a step from before 0003_transfer_keys that matched no
	// transfer) names no account: its row stays.
	rows, err := db.QueryContext(ctx, "SELECT x.id FROM ("+strings.Join(union, " UNION ")+") x WHERE x.id <> '' AND NOT EXISTS (SELECT 1 FROM "+
		s.table(i, mapTable)+" m WHERE m.account_id = x.id)")
	if err != nil {
		return fmt.Errorf("shard %d: list account ids: %w", i, err)
	}
	// Inserted while read, a chunk at a time: an old shard may name
	// millions of accounts. The query's read view does not see the inserts.
	n := 0
	var chunk []string
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		args := make([]any, 0, 2*len(chunk))
		for _, id := range chunk {
			args = append(args, id, shard.Of(id, p.To))
		}
		_, err := db.ExecContext(ctx, "INSERT IGNORE INTO "+s.table(i, mapTable)+" (account_id, shard) VALUES "+database.Tuples(len(chunk), 2), args...)
		n += len(chunk)
		chunk = chunk[:0]
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if chunk = append(chunk, id); len(chunk) == 1000 {
			if err := flush(); err != nil {
				rows.Close()
				return fmt.Errorf("shard %d: fill %s: %w", i, mapTable, err)
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("shard %d: list account ids: %w", i, err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("shard %d: fill %s: %w", i, mapTable, err)
	}
	s.printf("shard %d: %d account ids mapped to their new shards", i, n)
	if err := s.markDone(ctx, p, i, "mapped"); err != nil {
		return err
	}
	s.hook("mapped " + strconv.Itoa(i))
	return nil
}

// columns lists a table's columns in order (generated ones excepted: the
// target computes them again).
func columns(ctx context.Context, db *sqlx.DB, schema, table string) ([]string, error) {
	var cols []string
	err := db.SelectContext(ctx, &cols, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%GENERATED%' ORDER BY ORDINAL_POSITION`, schema, table)
	if err == nil && len(cols) == 0 {
		err = fmt.Errorf("%s.%s has no columns", schema, table)
	}
	return cols, err
}

// route is where a row of old shard i goes: the new shard of its account
// if that is one split from i, else i (it stays; routable false).
func route(ns sql.NullInt64, i, from int) (sh int, routable bool) {
	if ns.Valid && int(ns.Int64)%from == i {
		return int(ns.Int64), true
	}
	return i, false
}

// scanned is one row of a batch: its key, its new shard and the extra
// columns its spec reads.
type scanned struct {
	key   []any
	shard sql.NullInt64
	extra []sql.NullString
}

// moveTable moves one table of old shard i in batches. Each batch is one
// transaction on the shard's server: it locks the next rows by key, inserts
// each new shard's part in that shard's schema (rewriting the shard
// columns), deletes them from the old schema and rewrites the shard columns
// of the rows that stay. A run again starts from the first row: the rows
// moved are gone from the old schema, and the rewrite sets values computed
// from the accounts, so doing it twice changes nothing.
func (s *Splitter) moveTable(ctx context.Context, p Plan, i int, sp spec) (tally, error) {
	db, src := s.Pools[p.Owner[i]], quote(s.Layout.Schemas[i])
	cols, err := columns(ctx, db, s.Layout.Schemas[i], sp.name)
	if err != nil {
		return tally{}, err
	}
	joins := strings.ReplaceAll(sp.joins, "{src}", src)
	keyList := "t." + strings.Join(sp.key, ", t.")
	scan := "SELECT " + keyList + ", " + sp.shard
	if len(sp.extra) > 0 {
		scan += ", " + strings.Join(sp.extra, ", ")
	}
	scan += " FROM " + src + "." + quote(sp.name) + " t " + joins
	var total tally
	var after []any
	for n := 1; ; n++ {
		var t tally
		var last []any
		err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
			t, last = tally{}, nil
			q, args := scan, []any(nil)
			if after != nil {
				cond, cargs := keyAfter(sp.key, after)
				q, args = q+" WHERE "+cond, cargs
			}
			q += " ORDER BY " + keyList + " LIMIT " + strconv.Itoa(s.batch()) + " FOR UPDATE"
			rows, err := scanRows(ctx, tx, q, args, len(sp.key), len(sp.extra))
			if err != nil || len(rows) == 0 {
				return err
			}
			last = rows[len(rows)-1].key
			return s.moveBatch(ctx, tx, p, i, sp, cols, joins, rows, &t)
		})
		if err != nil {
			return total, err
		}
		if last == nil {
			return total, nil
		}
		total.rows += t.rows
		total.moved += t.moved
		total.left += t.left
		total.synthesized += t.synthesized
		after = last
		s.hook("batch " + sp.name + " " + strconv.Itoa(i))
	}
}

// moveBatch moves one locked batch (see moveTable).
func (s *Splitter) moveBatch(ctx context.Context, tx *sqlx.Tx, p Plan, i int, sp spec, cols []string, joins string, rows []scanned, t *tally) error {
	src := quote(s.Layout.Schemas[i]) + "." + quote(sp.name)
	groups := map[int][][]any{}
	var stay, moved [][]any
	synthCredits := map[[2]int][][]any{} // (to's shard, from's shard) → keys
	synthSteps := map[int][][]any{}      // from's shard → keys
	for _, r := range rows {
		t.rows++
		sh, ok := route(r.shard, i, p.From)
		if !ok {
			t.left++
			continue
		}
		if sp.name == "transfers" {
			if to, ok := becomesCrossShard(r, sh, i, p.From); ok {
				synthCredits[[2]int{to, sh}] = append(synthCredits[[2]int{to, sh}], r.key)
				synthSteps[sh] = append(synthSteps[sh], r.key)
				t.synthesized++
			}
		}
		if sh == i {
			stay = append(stay, r.key)
			continue
		}
		groups[sh] = append(groups[sh], r.key)
		moved = append(moved, r.key)
	}
	// The synthesized records are read from the transfer rows, so before
	// these move.
	for k, keys := range synthCredits {
		cond, args := keyIn("t", sp.key, keys)
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.table(k[0], "credits")+
			" (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, status, created_at)"+
			" SELECT t.transaction_id, t.request_hash, t.from_account, t.to_account, t.amount, t.currency, "+strconv.Itoa(k[1])+
			", '"+account.StepCredited+"', t.created_at FROM "+src+" t WHERE "+cond, args...); err != nil {
			return fmt.Errorf("record the credits of same-shard transfers on shard %d: %w", k[0], err)
		}
	}
	for sh, keys := range synthSteps {
		// Releases before 91d9a6a wrote a same-shard transfer's step: it
		// moved with its source account already, and is kept.
		cond, args := keyIn("t", sp.key, keys)
		steps := s.table(sh, "transfer_steps")
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+steps+
			" (transaction_id, from_account, step, shard, at) SELECT t.transaction_id, t.from_account, '"+account.StepCompleted+"', "+
			strconv.Itoa(sh)+", t.created_at FROM "+src+" t WHERE "+cond+" AND NOT EXISTS (SELECT 1 FROM "+steps+
			" s WHERE s.transaction_id = t.transaction_id AND s.from_account = t.from_account AND s.step = '"+account.StepCompleted+"')", args...); err != nil {
			return fmt.Errorf("record the steps of same-shard transfers on shard %d: %w", sh, err)
		}
	}
	targets := make([]int, 0, len(groups))
	for sh := range groups {
		targets = append(targets, sh)
	}
	slices.Sort(targets)
	for _, sh := range targets {
		if p.Owner[sh] != p.Owner[i] {
			return fmt.Errorf("shard %d is on another server than shard %d", sh, i)
		}
		exprs := make([]string, len(cols))
		for c, col := range cols {
			exprs[c] = "t." + quote(col)
			if e, ok := sp.rewrite[col]; ok {
				exprs[c] = rewriteExpr(e, sh)
			}
		}
		cond, args := keyIn("t", sp.key, groups[sh])
		q := "INSERT INTO " + s.table(sh, sp.name) + " (" + quoteAll(cols) + ") SELECT " + strings.Join(exprs, ", ") +
			" FROM " + src + " t " + joins + " WHERE " + cond
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("insert into shard %d: %w", sh, err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(groups[sh])) {
			return fmt.Errorf("inserted %d rows into shard %d, want %d", n, sh, len(groups[sh]))
		}
	}
	if len(moved) > 0 {
		cond, args := keyIn("t", sp.key, moved)
		res, err := tx.ExecContext(ctx, "DELETE t FROM "+src+" t WHERE "+cond, args...)
		if err != nil {
			return fmt.Errorf("delete the moved rows: %w", err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(moved)) {
			return fmt.Errorf("deleted %d moved rows, want %d", n, len(moved))
		}
		t.moved += int64(len(moved))
	}
	if len(sp.rewrite) > 0 && len(stay) > 0 {
		var set []string
		for _, col := range cols {
			if e, ok := sp.rewrite[col]; ok {
				set = append(set, "t."+quote(col)+" = "+rewriteExpr(e, i))
			}
		}
		cond, args := keyIn("t", sp.key, stay)
		if _, err := tx.ExecContext(ctx, "UPDATE "+src+" t "+joins+" SET "+strings.Join(set, ", ")+" WHERE "+cond, args...); err != nil {
			return fmt.Errorf("rewrite the shard numbers of the rows that stay: %w", err)
		}
	}
	return nil
}

// becomesCrossShard reports whether a transfers row (scanned with its
// status, from_shard, to_shard and the destination's new shard) is a
// same-shard transfer that completed at once and whose two accounts are
// on two shards of the new count, and returns the destination's new shard.
// Its destination would not list it (the row is on the source's shard)
// nor would its steps show, so the split records the credit and the step
// the saga would have recorded. from_shard = to_shard tells a row not
// rewritten yet, which is what makes this happen once.
func becomesCrossShard(r scanned, sh, i, from int) (int, bool) {
	status, fromShard, toShard, to := r.extra[0], r.extra[1], r.extra[2], r.extra[3]
	if status.String != string(account.Completed) || !fromShard.Valid || fromShard != toShard || !to.Valid {
		return 0, false
	}
	dst, err := strconv.Atoi(to.String)
	if err != nil || dst == sh || dst%from != i {
		return 0, false
	}
	return dst, true
}

// rewriteExpr is a rewrite's expression, with "" the row's new shard sh.
func rewriteExpr(e string, sh int) string {
	if e == "" {
		return strconv.Itoa(sh)
	}
	return e
}

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

// keyIn is the condition "alias's key is one of keys". A composite key is
// matched by its first column's IN as well as the row IN: MariaDB reads a
// long row IN as a full scan, the first column's list as ranges.
func keyIn(alias string, key []string, keys [][]any) (string, []any) {
	first := make([]any, len(keys))
	for k, v := range keys {
		first[k] = v[0]
	}
	cond := alias + "." + quote(key[0]) + " IN (" + placeholders(len(keys)) + ")"
	args := first
	if len(key) > 1 {
		cols := make([]string, len(key))
		for c, name := range key {
			cols[c] = alias + "." + quote(name)
		}
		cond += " AND (" + strings.Join(cols, ", ") + ") IN (" + database.Tuples(len(keys), len(key)) + ")"
		for _, v := range keys {
			args = append(args, v...)
		}
	}
	return cond, args
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// keyAfter is the keyset condition "t's key is after after", spelled out
// column by column so that both servers read it as a range of the key.
func keyAfter(key []string, after []any) (string, []any) {
	var ors []string
	var args []any
	for c := range key {
		var ands []string
		for e := range c {
			ands = append(ands, "t."+quote(key[e])+" = ?")
			args = append(args, after[e])
		}
		ands = append(ands, "t."+quote(key[c])+" > ?")
		args = append(args, after[c])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// scanRows reads a batch: nkey string key columns, the new shard, nextra
// extra columns.
func scanRows(ctx context.Context, tx *sqlx.Tx, q string, args []any, nkey, nextra int) ([]scanned, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []scanned
	for rows.Next() {
		keys := make([]string, nkey)
		r := scanned{extra: make([]sql.NullString, nextra)}
		dest := make([]any, 0, nkey+1+nextra)
		for k := range keys {
			dest = append(dest, &keys[k])
		}
		dest = append(dest, &r.shard)
		for e := range r.extra {
			dest = append(dest, &r.extra[e])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for _, k := range keys {
			r.key = append(r.key, k)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// moveOutbox moves old shard i's outbox rows not yet published, by the
// account whose shard emitted each event (eventAccount), in batches of
// ascending id. The rows keep their ids, so each new shard's relay
// publishes an account's events in the order they were written. Their
// payloads keep the shard numbers they were written with: see ADR 0036.
func (s *Splitter) moveOutbox(ctx context.Context, p Plan, i int) (tally, error) {
	db, src := s.Pools[p.Owner[i]], s.table(i, "outbox")
	cols, err := columns(ctx, db, s.Layout.Schemas[i], "outbox")
	if err != nil {
		return tally{}, err
	}
	var total tally
	var after uint64
	for {
		var t tally
		var last uint64
		err := database.InTx(ctx, db, func(tx *sqlx.Tx) error {
			t, last = tally{}, 0
			var rows []struct {
				ID   uint64 `db:"id"`
				Type string `db:"event_type"`
				Data string `db:"data"`
			}
			if err := tx.SelectContext(ctx, &rows, "SELECT id, event_type, data FROM "+src+
				" WHERE published_at IS NULL AND id > ? ORDER BY id LIMIT ? FOR UPDATE", after, s.batch()); err != nil || len(rows) == 0 {
				return err
			}
			last = rows[len(rows)-1].ID
			groups := map[int][]uint64{}
			var moved []uint64
			for _, r := range rows {
				t.rows++
				sh := eventShard(r.Type, r.Data, i, p.From, p.To)
				if sh == i {
					if eventAccount(r.Type, r.Data) == "" {
						t.left++
					}
					continue
				}
				groups[sh] = append(groups[sh], r.ID)
				moved = append(moved, r.ID)
			}
			for sh, ids := range groups {
				res, err := tx.ExecContext(ctx, "INSERT INTO "+s.table(sh, "outbox")+" ("+quoteAll(cols)+") SELECT "+quoteAll(cols)+
					" FROM "+src+" WHERE id IN ("+uintList(ids)+") ORDER BY id")
				if err != nil {
					return fmt.Errorf("insert into shard %d: %w", sh, err)
				}
				if n, _ := res.RowsAffected(); n != int64(len(ids)) {
					return fmt.Errorf("inserted %d outbox rows into shard %d, want %d", n, sh, len(ids))
				}
			}
			if len(moved) > 0 {
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+src+" WHERE id IN ("+uintList(moved)+")"); err != nil {
					return fmt.Errorf("delete the moved rows: %w", err)
				}
				t.moved = int64(len(moved))
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if last == 0 {
			return total, nil
		}
		total.rows += t.rows
		total.moved += t.moved
		total.left += t.left
		after = last
		s.hook("batch outbox " + strconv.Itoa(i))
	}
}

func uintList(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ",")
}
