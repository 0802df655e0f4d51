-- Ledger accounts: customer wallets and the system accounts @world:<CUR> and
-- @in_flight:<CUR>. balance is the sum of the account's journal entries; rows
-- are locked FOR UPDATE in ascending account_id order while entries are posted.
CREATE TABLE IF NOT EXISTS ledger_accounts (
  account_id VARCHAR(64)   NOT NULL PRIMARY KEY,
  currency   CHAR(3)       NOT NULL,
  balance    DECIMAL(24,4) NOT NULL DEFAULT 0,
  updated_at DATETIME(6)   NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per applied money event. event_id is unique as a second guard
-- behind the inbox: an event can never be journaled twice. (transaction_id,
-- event_type, origin_account) is unique too: a saga step repeated under a new
-- event id (a redrive) is the same business event and is journaled once.
-- origin_account (the deposit's account, the transfer's source) is part of
-- the key because transaction ids are unique per source shard, not globally.
CREATE TABLE IF NOT EXISTS journal_transactions (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id       CHAR(36)        NOT NULL,
  event_type     VARCHAR(64)     NOT NULL,
  transaction_id VARCHAR(64)     NULL,
  origin_account VARCHAR(64)     NULL,
  occurred_at    DATETIME(6)     NOT NULL,
  recorded_at    DATETIME(6)     NOT NULL,
  UNIQUE KEY journal_transactions_event (event_id),
  UNIQUE KEY journal_transactions_business (transaction_id, event_type, origin_account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The entries of each journal transaction; they sum to zero per currency.
-- (account_id, id) serves history pages newest first, (account_id,
-- occurred_at, id) serves as-of balances.
CREATE TABLE IF NOT EXISTS journal_entries (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  journal_id    BIGINT UNSIGNED NOT NULL,
  account_id    VARCHAR(64)     NOT NULL,
  currency      CHAR(3)         NOT NULL,
  amount        DECIMAL(24,4)   NOT NULL,
  balance_after DECIMAL(24,4)   NOT NULL,
  occurred_at   DATETIME(6)     NOT NULL,
  KEY journal_entries_account (account_id, id),
  KEY journal_entries_account_time (account_id, occurred_at, id),
  CONSTRAINT journal_entries_journal FOREIGN KEY (journal_id) REFERENCES journal_transactions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
