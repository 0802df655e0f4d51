package main

import (
	"context"
	"database/sql"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// runSetBased measures what a plain loop does on the same server when it
// batches: SetBasedClients loops, each committing SetBasedBatch transfers
// per transaction with one statement per kind of row, for SetBasedDuration,
// with the run's number of accounts, funding and pair shares. Commits are
// as durable as the server makes them: no session setting is changed.
func runSetBased(ctx context.Context, cfg Config, amount decimal.Decimal, procs []Proc) (Baseline, error) {
	db, err := openDB(cfg.MySQL, "", cfg.SetBasedClients)
	if err != nil {
		return Baseline{}, err
	}
	defer db.Close()
	picker, err := prepareBaseline(ctx, db, setBasedSchema, cfg, amount)
	if err != nil {
		return Baseline{}, err
	}
	b := runBaseline(ctx, cfg.SetBasedClients, cfg.SetBasedDuration, procs, func(ctx context.Context, rng *rand.Rand) (int, int, error) {
		pairs := make([]Pair, cfg.SetBasedBatch)
		for i := range pairs {
			pairs[i] = picker.Next(rng)
		}
		return setBasedBatch(ctx, db, setBasedSchema, pairs, amount)
	})
	b.PerTransaction = cfg.SetBasedBatch
	return b, nil
}

// setBasedBatch does pairs in one transaction: lock every account they touch
// in one ordered SELECT … FOR UPDATE, decide each transfer in order against
// running balances, then one UPDATE of the balances, one multi-row INSERT of
// the transfers and one of their outbox rows, and commit. It returns how
// many transfers it committed and how many lacked the funds.
func setBasedBatch(ctx context.Context, db *sql.DB, schema string, pairs []Pair, amount decimal.Decimal) (int, int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	balances, err := lockBalances(ctx, tx, schema, accountsOf(pairs))
	if err != nil {
		return 0, 0, err
	}
	moved, touches := decideBatch(balances, pairs, amount)
	if len(moved) > 0 {
		if err := saveBatch(ctx, tx, schema, balances, touches, moved, amount); err != nil {
			return 0, 0, err
		}
	}
	return len(moved), len(pairs) - len(moved), tx.Commit()
}

// accountsOf returns the accounts of pairs, sorted, each once.
func accountsOf(pairs []Pair) []string {
	ids := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		ids = append(ids, p.From, p.To)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// decideBatch applies pairs in order to balances (changed in place): a
// transfer whose source lacks amount at its turn is left out. It returns the
// transfers made and how many of them touched each account.
func decideBatch(balances map[string]decimal.Decimal, pairs []Pair, amount decimal.Decimal) ([]Pair, map[string]int) {
	var moved []Pair
	touches := map[string]int{}
	for _, p := range pairs {
		if balances[p.From].LessThan(amount) {
			continue
		}
		balances[p.From] = balances[p.From].Sub(amount)
		balances[p.To] = balances[p.To].Add(amount)
		touches[p.From]++
		touches[p.To]++
		moved = append(moved, p)
	}
	return moved, touches
}

// saveBatch writes a decided batch: the touched accounts' new balances and
// versions (UPDATE … CASE, as the services' group commit does), the
// transfer rows and their outbox rows, one statement each.
func saveBatch(ctx context.Context, tx *sql.Tx, schema string, balances map[string]decimal.Decimal, touches map[string]int,
	moved []Pair, amount decimal.Decimal) error {
	ids := slices.Sorted(maps.Keys(touches))
	var args []any
	for _, id := range ids {
		args = append(args, id, balances[id].StringFixed(4))
	}
	for _, id := range ids {
		args = append(args, id, touches[id])
	}
	for _, id := range ids {
		args = append(args, id)
	}
	cases := strings.Repeat("WHEN ? THEN ? ", len(ids))
	q := "UPDATE " + schema + ".accounts SET balance = CASE account_id " + cases + " END, version = version + CASE account_id " +
		cases + " END WHERE account_id IN (" + rowsOf(len(ids), "?") + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return err
	}
	a := amount.StringFixed(2)
	now := time.Now().UTC()
	transfers := make([]any, 0, 5*len(moved))
	events := make([]any, 0, 2*len(moved))
	for _, p := range moved {
		txID := uuid.NewString()
		transfers = append(transfers, txID, p.From, p.To, a, now)
		events = append(events, uuid.NewString(), outboxPayload(txID, p, a))
	}
	q = "INSERT INTO " + schema + ".transfers (transaction_id, from_account, to_account, amount, created_at) VALUES " +
		rowsOf(len(moved), "(?, ?, ?, ?, ?)")
	if _, err := tx.ExecContext(ctx, q, transfers...); err != nil {
		return err
	}
	q = "INSERT INTO " + schema + ".outbox (event_id, payload) VALUES " + rowsOf(len(moved), "(?, ?)")
	_, err := tx.ExecContext(ctx, q, events...)
	return err
}
