package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MaxAttempts bounds how often InTx runs a transaction that keeps hitting
// deadlocks or lock wait time-outs.
const MaxAttempts = 8

var txRetries = promauto.NewCounter(prometheus.CounterOpts{
	Name: "wallet_db_tx_retries_total",
	Help: "Transactions retried after a deadlock (1213) or lock wait time-out (1205).",
})

// InTx runs fn in a transaction and commits it. On a deadlock or lock wait
// time-out the whole transaction is rolled back and fn runs again, with
// jittered back-off, at most MaxAttempts times: fn must not keep state
// between attempts. Any other error rolls back and is returned.
func InTx(ctx context.Context, db DB, fn func(tx *sqlx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = runTx(ctx, db, fn)
		if err == nil || !isRetryable(err) || attempt == MaxAttempts {
			return err
		}
		txRetries.Inc()
		backoff := time.Duration(attempt*attempt) * time.Millisecond
		backoff += time.Duration(rand.Int64N(int64(backoff) + 1))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

func runTx(ctx context.Context, db DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
