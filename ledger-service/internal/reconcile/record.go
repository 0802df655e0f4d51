package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
)

// Outcomes of a recorded run.
const (
	OutcomeRunning       = "running"
	OutcomeClean         = "clean"
	OutcomeDiscrepancies = "discrepancies"
	OutcomeFailed        = "failed"
)

// Begin records the start of a run in the ledger's reconcile_runs table and
// returns its id. A run that never finishes stays "running", which shows it
// crashed.
func Begin(ctx context.Context, db *sqlx.DB, started time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, "INSERT INTO reconcile_runs (started_at, outcome) VALUES (?, ?)",
		started.UTC().Truncate(time.Microsecond), OutcomeRunning)
	if err != nil {
		return 0, fmt.Errorf("record run: %w", err)
	}
	return res.LastInsertId()
}

// Finish records how run id ended: its report and listed findings, or the
// error that stopped it (then rep may be partial or nil).
func Finish(ctx context.Context, db *sqlx.DB, id int64, rep *Report, runErr error, finished time.Time) error {
	outcome, errText := OutcomeClean, ""
	var discrepancies int64
	var report []byte
	if rep != nil {
		discrepancies = rep.Discrepancies()
		var err error
		if report, err = json.Marshal(rep); err != nil {
			return err
		}
	}
	switch {
	case runErr != nil:
		outcome, errText = OutcomeFailed, runErr.Error()
	case discrepancies > 0:
		outcome = OutcomeDiscrepancies
	}
	return database.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET finished_at = ?, outcome = ?, discrepancies = ?, report = ?, error = ?
			WHERE id = ?`, finished.UTC().Truncate(time.Microsecond), outcome, discrepancies, nullable(string(report)), nullable(errText), id); err != nil {
			return fmt.Errorf("record run %d: %w", id, err)
		}
		if rep == nil {
			return nil
		}
		for i, f := range rep.Findings {
			if _, err := tx.ExecContext(ctx, `INSERT INTO reconcile_findings (run_id, seq, kind, location, subject, detail)
				VALUES (?, ?, ?, ?, ?, ?)`, id, i+1, f.Kind, f.Where, truncate(f.Subject, 128), f.Detail); err != nil {
				return fmt.Errorf("record finding of run %d: %w", id, err)
			}
		}
		return nil
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
