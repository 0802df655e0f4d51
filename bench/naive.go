package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// naiveSchema is the baseline's own schema on the same MariaDB.
const naiveSchema = "wallet_bench_naive"

// naiveDDL is the smallest schema that does what a transfer must: balances,
// a transfer record and an outbox row, durable in one transaction. The
// tables are dropped first, so every run starts from the same empty schema.
func naiveDDL() []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + naiveSchema + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"DROP TABLE IF EXISTS " + naiveSchema + ".accounts, " + naiveSchema + ".transfers, " + naiveSchema + ".outbox",
		`CREATE TABLE ` + naiveSchema + `.accounts (
		account_id VARCHAR(64) NOT NULL PRIMARY KEY,
		balance DECIMAL(24,4) NOT NULL,
		version BIGINT NOT NULL DEFAULT 0
	) ENGINE=InnoDB`,
		`CREATE TABLE ` + naiveSchema + `.transfers (
		transaction_id CHAR(36) NOT NULL PRIMARY KEY,
		from_account VARCHAR(64) NOT NULL,
		to_account VARCHAR(64) NOT NULL,
		amount DECIMAL(24,4) NOT NULL,
		created_at DATETIME(6) NOT NULL
	) ENGINE=InnoDB`,
		`CREATE TABLE ` + naiveSchema + `.outbox (
		id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		event_id CHAR(36) NOT NULL,
		payload TEXT NOT NULL
	) ENGINE=InnoDB`,
	}
}

// Naive is the baseline's outcome.
type Naive struct {
	Ran          bool    `json:"ran"`
	Seconds      float64 `json:"seconds"`
	Committed    int64   `json:"committed"`
	Insufficient int64   `json:"insufficient_funds"`
	Errors       int64   `json:"errors"`
	ErrorSample  string  `json:"error_sample,omitempty"`
	PerSecond    float64 `json:"transfers_per_second"`
	Usage        []Usage `json:"processes,omitempty"`
}

// runNaive measures the naive design on the same server: clients loops, each
// doing one durable transaction per transfer, for d, with the same accounts,
// funding and pair shares as the run.
func runNaive(ctx context.Context, cfg Config, amount decimal.Decimal, procs []Proc) (Naive, error) {
	db, err := openDB(cfg.MySQL, "", cfg.NaiveClients)
	if err != nil {
		return Naive{}, err
	}
	defer db.Close()
	for _, stmt := range naiveDDL() {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return Naive{}, fmt.Errorf("naive schema: %w", err)
		}
	}
	ids := accountIDs("naive-", cfg.Accounts)
	rows := make([]string, len(ids))
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		rows[i] = "(?, ?)"
		args = append(args, id, fundingFor(i, amount).StringFixed(2))
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+naiveSchema+".accounts (account_id, balance) VALUES "+strings.Join(rows, ", "), args...); err != nil {
		return Naive{}, fmt.Errorf("naive accounts: %w", err)
	}
	picker, err := NewPicker(ids, cfg.Cross, cfg.Hot)
	if err != nil {
		return Naive{}, err
	}

	var committed, insufficient, failed atomic.Int64
	var firstErr atomic.Value
	sampler := StartSampler(procs)
	start := time.Now()
	deadline := start.Add(cfg.NaiveDuration)
	var wg sync.WaitGroup
	for c := range cfg.NaiveClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(c)+1000))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				moved, err := naiveTransfer(ctx, db, picker.Next(rng), amount)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case moved:
					committed.Add(1)
				default:
					insufficient.Add(1)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	n := Naive{Ran: true, Seconds: secs, Committed: committed.Load(), Insufficient: insufficient.Load(),
		Errors: failed.Load(), PerSecond: float64(committed.Load()) / secs, Usage: sampler.Stop()}
	if s, ok := firstErr.Load().(string); ok {
		n.ErrorSample = s
	}
	return n, nil
}

// naiveTransfer is the whole naive transfer: lock both rows in id order,
// check, move the money, record the transfer and its event, commit. It
// reports false without an error when the source lacks the funds.
func naiveTransfer(ctx context.Context, db *sql.DB, p Pair, amount decimal.Decimal) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	rows, err := tx.QueryContext(ctx, "SELECT account_id, balance FROM "+naiveSchema+
		".accounts WHERE account_id IN (?, ?) ORDER BY account_id FOR UPDATE", p.From, p.To)
	if err != nil {
		return false, err
	}
	var fromBalance decimal.Decimal
	found := 0
	for rows.Next() {
		var id string
		var b decimal.Decimal
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return false, err
		}
		found++
		if id == p.From {
			fromBalance = b
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if found != 2 {
		return false, fmt.Errorf("naive: found %d of 2 accounts", found)
	}
	if fromBalance.LessThan(amount) {
		return false, nil
	}
	a := amount.StringFixed(2)
	txID := uuid.NewString()
	stmts := []struct {
		q    string
		args []any
	}{
		{"UPDATE " + naiveSchema + ".accounts SET balance = balance - ?, version = version + 1 WHERE account_id = ?", []any{a, p.From}},
		{"UPDATE " + naiveSchema + ".accounts SET balance = balance + ?, version = version + 1 WHERE account_id = ?", []any{a, p.To}},
		{"INSERT INTO " + naiveSchema + ".transfers (transaction_id, from_account, to_account, amount, created_at) VALUES (?, ?, ?, ?, ?)",
			[]any{txID, p.From, p.To, a, time.Now().UTC()}},
		{"INSERT INTO " + naiveSchema + ".outbox (event_id, payload) VALUES (?, ?)",
			[]any{uuid.NewString(), fmt.Sprintf(`{"transaction_id":%q,"from_account":%q,"to_account":%q,"amount":%q,"currency":"USD"}`, txID, p.From, p.To, a)}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}
