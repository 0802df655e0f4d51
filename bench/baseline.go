package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shopspring/decimal"
)

// The baselines' own schemas on the same MariaDB: the naive loop's and the
// set-based loop's, with the same tables, so both write the same rows.
const (
	naiveSchema    = "wallet_bench_naive"
	setBasedSchema = "wallet_bench_setbased"
)

// baselineDDL is the smallest schema that does what a transfer must:
// balances, a transfer record and an outbox row, durable in one transaction.
// The tables are dropped first, so every run starts from the same empty
// schema.
func baselineDDL(schema string) []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + schema + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"DROP TABLE IF EXISTS " + schema + ".accounts, " + schema + ".transfers, " + schema + ".outbox",
		`CREATE TABLE ` + schema + `.accounts (
		account_id VARCHAR(64) NOT NULL PRIMARY KEY,
		balance DECIMAL(24,4) NOT NULL,
		version BIGINT NOT NULL DEFAULT 0
	) ENGINE=InnoDB`,
		`CREATE TABLE ` + schema + `.transfers (
		transaction_id CHAR(36) NOT NULL PRIMARY KEY,
		from_account VARCHAR(64) NOT NULL,
		to_account VARCHAR(64) NOT NULL,
		amount DECIMAL(24,4) NOT NULL,
		created_at DATETIME(6) NOT NULL
	) ENGINE=InnoDB`,
		`CREATE TABLE ` + schema + `.outbox (
		id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		event_id CHAR(36) NOT NULL,
		payload TEXT NOT NULL
	) ENGINE=InnoDB`,
	}
}

// Baseline is the outcome of one baseline loop.
type Baseline struct {
	Ran            bool    `json:"ran"`
	Seconds        float64 `json:"seconds"`
	Clients        int     `json:"clients"`
	PerTransaction int     `json:"transfers_per_transaction"`
	Transactions   int64   `json:"transactions"`
	Committed      int64   `json:"committed"`
	Insufficient   int64   `json:"insufficient_funds"`
	Errors         int64   `json:"errors"`
	Retries        int64   `json:"deadlock_retries,omitempty"`
	ErrorSample    string  `json:"error_sample,omitempty"`
	PerSecond      float64 `json:"transfers_per_second"`
	Usage          []Usage `json:"processes,omitempty"`
}

// prepareBaseline creates schema afresh with the run's number of accounts,
// funded as setup funds the run's own, and returns a picker over them with
// the run's pair shares.
func prepareBaseline(ctx context.Context, db *sql.DB, schema string, cfg Config, amount decimal.Decimal) (*Picker, error) {
	for _, stmt := range baselineDDL(schema) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s schema: %w", schema, err)
		}
	}
	ids := accountIDs("base-", cfg.Accounts, cfg.Shards)
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		args = append(args, id, fundingFor(i, amount).StringFixed(2))
	}
	q := "INSERT INTO " + schema + ".accounts (account_id, balance) VALUES " + rowsOf(len(ids), "(?, ?)")
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		return nil, fmt.Errorf("%s accounts: %w", schema, err)
	}
	return NewPicker(ids, cfg.Shards, cfg.Cross, cfg.Hot)
}

// Step is one transaction of a baseline loop: how many transfers it
// committed and how many it left out for insufficient funds.
type Step func(ctx context.Context, rng *rand.Rand) (committed, insufficient int, err error)

// runBaseline runs clients loops of step for d and counts what they did,
// with the stack's processes measured meanwhile.
func runBaseline(ctx context.Context, clients int, d time.Duration, procs []Proc, step Step) Baseline {
	var txs, committed, insufficient, failed, retries atomic.Int64
	var firstErr atomic.Value
	sampler := StartSampler(procs)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(c)+1000))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n, short, err := retryDeadlock(func() (int, int, error) { return step(ctx, rng) }, &retries)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				txs.Add(1)
				committed.Add(int64(n))
				insufficient.Add(int64(short))
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	b := Baseline{Ran: true, Seconds: secs, Clients: clients, Transactions: txs.Load(), Committed: committed.Load(),
		Insufficient: insufficient.Load(), Errors: failed.Load(), Retries: retries.Load(),
		PerSecond: float64(committed.Load()) / secs, Usage: sampler.Stop()}
	if s, ok := firstErr.Load().(string); ok {
		b.ErrorSample = s
	}
	return b
}

// deadlockAttempts bounds the retries of a transaction MariaDB chose as a
// deadlock victim or timed out on a lock, as the services' database.InTx does.
const deadlockAttempts = 3

func retryDeadlock(fn func() (int, int, error), retries *atomic.Int64) (int, int, error) {
	for attempt := 1; ; attempt++ {
		n, short, err := fn()
		var me *mysql.MySQLError
		if err == nil || attempt == deadlockAttempts || !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return n, short, err
		}
		retries.Add(1)
	}
}

// rowsOf returns n copies of row joined by commas: the VALUES list of a
// multi-row insert.
func rowsOf(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// outboxPayload is the event the baselines record per transfer: the fields
// a consumer needs, as the services' transfer.completed carries them.
func outboxPayload(txID string, p Pair, amount string) string {
	return fmt.Sprintf(`{"transaction_id":%q,"from_account":%q,"to_account":%q,"amount":%q,"currency":"USD"}`, txID, p.From, p.To, amount)
}
