-- Runs of the reconciliation batch job (ledger-service reconcile), one row
-- each: outcome is running, clean, discrepancies or failed; report holds the
-- whole report as JSON text (JSON columns differ between MariaDB and MySQL).
CREATE TABLE IF NOT EXISTS reconcile_runs (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  started_at    DATETIME(6)     NOT NULL,
  finished_at   DATETIME(6)     NULL,
  outcome       VARCHAR(16)     NOT NULL,
  discrepancies BIGINT          NOT NULL DEFAULT 0,
  report        MEDIUMTEXT      NULL,
  error         TEXT            NULL,
  KEY reconcile_runs_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The findings of each run, at most 100 of each kind (the run's report has
-- the exact counts).
CREATE TABLE IF NOT EXISTS reconcile_findings (
  run_id   BIGINT UNSIGNED NOT NULL,
  seq      INT             NOT NULL,
  kind     VARCHAR(32)     NOT NULL,
  location VARCHAR(32)     NOT NULL,
  subject  VARCHAR(128)    NOT NULL,
  detail   TEXT            NOT NULL,
  PRIMARY KEY (run_id, seq),
  KEY reconcile_findings_kind (kind, run_id),
  CONSTRAINT reconcile_findings_run FOREIGN KEY (run_id) REFERENCES reconcile_runs (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
