-- The destination side of cross-shard transfers: one row per transaction_id
-- credited or rejected on this shard. It makes the credit step idempotent by
-- transfer, not only by event id.
CREATE TABLE IF NOT EXISTS credits (
  transaction_id VARCHAR(64)   NOT NULL PRIMARY KEY,
  request_hash   CHAR(64)      NOT NULL,
  from_account   VARCHAR(64)   NOT NULL,
  to_account     VARCHAR(64)   NOT NULL,
  amount         DECIMAL(24,4) NOT NULL,
  currency       CHAR(3)       NOT NULL,
  from_shard     INT           NOT NULL,
  status         VARCHAR(16)   NOT NULL,
  reason         VARCHAR(64)   NULL,
  balance_after  DECIMAL(24,4) NULL,
  version        BIGINT        NULL,
  created_at     DATETIME(6)   NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
