-- The last WALLET stream sequence the ledger applied: the ledger applies the
-- stream strictly in sequence, so its journal's order is the stream's (see
-- sequence.go). NULL until the first event with a sequence.
CREATE TABLE IF NOT EXISTS ledger_position (
  id         TINYINT         NOT NULL PRIMARY KEY,
  stream_seq BIGINT UNSIGNED NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT IGNORE INTO ledger_position (id, stream_seq) VALUES (1, NULL);
