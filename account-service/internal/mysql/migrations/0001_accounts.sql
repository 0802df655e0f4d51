-- One shard's accounts and the money movements recorded on it.
CREATE TABLE IF NOT EXISTS accounts (
  account_id VARCHAR(64)    NOT NULL PRIMARY KEY,
  owner_id   VARCHAR(64)    NOT NULL,
  currency   CHAR(3)        NOT NULL,
  balance    DECIMAL(24,4)  NOT NULL DEFAULT 0,
  status     VARCHAR(16)    NOT NULL DEFAULT 'active',
  version    BIGINT         NOT NULL DEFAULT 0,
  created_at DATETIME(6)    NOT NULL,
  updated_at DATETIME(6)    NOT NULL,
  CONSTRAINT accounts_balance_not_negative CHECK (balance >= 0),
  KEY accounts_owner (owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Deposits and withdrawals, keyed by their idempotency key.
CREATE TABLE IF NOT EXISTS movements (
  transaction_id VARCHAR(64)   NOT NULL PRIMARY KEY,
  request_hash   CHAR(64)      NOT NULL,
  kind           VARCHAR(16)   NOT NULL,
  account_id     VARCHAR(64)   NOT NULL,
  amount         DECIMAL(24,4) NOT NULL,
  currency       CHAR(3)       NOT NULL,
  balance_after  DECIMAL(24,4) NOT NULL,
  version        BIGINT        NOT NULL,
  created_at     DATETIME(6)   NOT NULL,
  KEY movements_account (account_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Transfers as their source shard records them, keyed by transaction_id.
CREATE TABLE IF NOT EXISTS transfers (
  transaction_id VARCHAR(64)   NOT NULL PRIMARY KEY,
  request_hash   CHAR(64)      NOT NULL,
  from_account   VARCHAR(64)   NOT NULL,
  to_account     VARCHAR(64)   NOT NULL,
  amount         DECIMAL(24,4) NOT NULL,
  currency       CHAR(3)       NOT NULL,
  from_shard     INT           NOT NULL,
  to_shard       INT           NOT NULL,
  status         VARCHAR(16)   NOT NULL,
  reason         VARCHAR(64)   NULL,
  redrives       INT           NOT NULL DEFAULT 0,
  created_at     DATETIME(6)   NOT NULL,
  updated_at     DATETIME(6)   NOT NULL,
  KEY transfers_status (status, updated_at),
  KEY transfers_from (from_account, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Saga steps with their time, on the shard that took them.
CREATE TABLE IF NOT EXISTS transfer_steps (
  transaction_id VARCHAR(64) NOT NULL,
  step           VARCHAR(32) NOT NULL,
  shard          INT         NOT NULL,
  at             DATETIME(6) NOT NULL,
  PRIMARY KEY (transaction_id, step)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
