-- Gaps in the stream the ledger applies in sequence (ADR 0039): sequence
-- numbers the ledger needed and the stream no longer held (a deleted
-- message, or max_age / max_msgs / max_bytes dropping messages a lagging
-- ledger had not read). A row is written when the ledger detects the gap
-- (detected_at) and completed when an operator skips it with
-- ledger-service skip-gap (skipped_at, skipped_by, reason), in the
-- transaction that moves ledger_position past it. A skip is a record of
-- money the journal may lack: rows are never deleted once skipped.
-- partition_no, not partition: PARTITION is a reserved word.
CREATE TABLE IF NOT EXISTS ledger_gaps (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  stream_name  VARCHAR(64)     NOT NULL,
  partition_no INT             NOT NULL,
  first_seq    BIGINT UNSIGNED NOT NULL,
  last_seq     BIGINT UNSIGNED NOT NULL,
  cause        TEXT            NOT NULL,
  detected_at  DATETIME(6)     NULL,
  skipped_at   DATETIME(6)     NULL,
  skipped_by   VARCHAR(255)    NULL,
  reason       TEXT            NULL,
  forced       BOOLEAN         NOT NULL DEFAULT FALSE,
  -- What is known of the missing events: usually nothing (the stream
  -- kept no trace of them), NULL then.
  known_events TEXT            NULL,
  KEY ledger_gaps_stream (stream_name, first_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
