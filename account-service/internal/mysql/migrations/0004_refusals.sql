-- Transfers and movements this shard refused when it decided them, under
-- the request's key. A retry with the key replays the refusal, and a late
-- copy of the request (an attempt that sat in another instance's batch
-- while the client retried and was refused) finds it and moves no money.
-- kind is 'transfer' (keyed by transaction_id and from_account) or
-- 'movement' (keyed by transaction_id; from_account is '').
CREATE TABLE IF NOT EXISTS refusals (
  kind           VARCHAR(16)  NOT NULL,
  transaction_id VARCHAR(64)  NOT NULL,
  from_account   VARCHAR(64)  NOT NULL,
  request_hash   CHAR(64)     NOT NULL,
  code           VARCHAR(64)  NOT NULL,
  detail         TEXT         NOT NULL,
  extra          TEXT         NULL,
  created_at     DATETIME(6)  NOT NULL,
  PRIMARY KEY (transaction_id, kind, from_account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
