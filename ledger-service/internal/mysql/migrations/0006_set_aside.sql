-- Stream messages the ledger passed without their effect (a conflict, or
-- data the database refuses), written in the transaction that moves
-- ledger_position past them. A redelivery at or below the position is
-- otherwise skipped as applied; with this row it is set aside again, so its
-- dead letter is still recorded when the first attempt to record it failed.
CREATE TABLE IF NOT EXISTS ledger_set_aside (
  stream_seq   BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  event_id     VARCHAR(36)     NOT NULL,
  reason       TEXT            NOT NULL,
  set_aside_at DATETIME(6)     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
