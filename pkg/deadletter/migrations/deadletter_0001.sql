-- Messages a consumer terminated because they can never be processed, kept
-- for an operator to inspect (and to re-publish once fixed).
CREATE TABLE IF NOT EXISTS dead_letters (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  consumer    VARCHAR(64)  NOT NULL,
  subject     VARCHAR(255) NOT NULL,
  headers     TEXT         NOT NULL,
  data        MEDIUMTEXT   NOT NULL,
  error       TEXT         NOT NULL,
  recorded_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY dead_letters_consumer (consumer, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
