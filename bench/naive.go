package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// runNaive measures the naive design on the same server: NaiveClients
// loops, each doing one durable transaction per transfer, for
// NaiveDuration, with the run's number of accounts, funding and pair shares.
func runNaive(ctx context.Context, cfg Config, amount decimal.Decimal, procs []Proc) (Baseline, error) {
	db, err := openDB(cfg.MySQL, "", cfg.NaiveClients)
	if err != nil {
		return Baseline{}, err
	}
	defer db.Close()
	picker, err := prepareBaseline(ctx, db, naiveSchema, cfg, amount)
	if err != nil {
		return Baseline{}, err
	}
	b := runBaseline(ctx, cfg.NaiveClients, cfg.NaiveDuration, procs, func(ctx context.Context, rng *rand.Rand) (int, int, error) {
		moved, err := naiveTransfer(ctx, db, naiveSchema, picker.Next(rng), amount)
		if moved {
			return 1, 0, err
		}
		return 0, 1, err
	})
	b.PerTransaction = 1
	return b, nil
}

// naiveTransfer is the whole naive transfer: lock both rows in id order,
// check, move the money, record the transfer and its event, commit. It
// reports false without an error when the source lacks the funds.
func naiveTransfer(ctx context.Context, db *sql.DB, schema string, p Pair, amount decimal.Decimal) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	balances, err := lockBalances(ctx, tx, schema, []string{p.From, p.To})
	if err != nil {
		return false, err
	}
	if balances[p.From].LessThan(amount) {
		return false, nil
	}
	a := amount.StringFixed(2)
	txID := uuid.NewString()
	stmts := []struct {
		q    string
		args []any
	}{
		{"UPDATE " + schema + ".accounts SET balance = balance - ?, version = version + 1 WHERE account_id = ?", []any{a, p.From}},
		{"UPDATE " + schema + ".accounts SET balance = balance + ?, version = version + 1 WHERE account_id = ?", []any{a, p.To}},
		{"INSERT INTO " + schema + ".transfers (transaction_id, from_account, to_account, amount, created_at) VALUES (?, ?, ?, ?, ?)",
			[]any{txID, p.From, p.To, a, time.Now().UTC()}},
		{"INSERT INTO " + schema + ".outbox (event_id, payload) VALUES (?, ?)", []any{uuid.NewString(), outboxPayload(txID, p, a)}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

// lockBalances locks the accounts ids (distinct) in one statement, in
// ascending id order as the services do, and returns their balances. Every
// id must exist.
func lockBalances(ctx context.Context, tx *sql.Tx, schema string, ids []string) (map[string]decimal.Decimal, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, "SELECT account_id, balance FROM "+schema+".accounts WHERE account_id IN ("+
		rowsOf(len(ids), "?")+") ORDER BY account_id FOR UPDATE", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]decimal.Decimal, len(ids))
	for rows.Next() {
		var id string
		var b decimal.Decimal
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != len(ids) {
		return nil, fmt.Errorf("found %d of %d accounts", len(out), len(ids))
	}
	return out, nil
}
