-- Transaction ids are scoped to the source account: the same UUID sent from
-- two source accounts is two transfers. Before this migration transfers,
-- credits and transfer_steps were keyed by transaction_id alone, so a second
-- transfer under a reused id was refused on its source shard when both
-- sources share it, or credited-rejected on a destination shard that had
-- credited the first (or had used the id as a source itself), and
-- GET /v1/wallet/transfers/{id} mixed the steps of both. Each record is now
-- keyed by (transaction_id, from_account). Every statement is one atomic
-- change that can run again: the file is recorded only after its last, so a
-- crash halfway re-runs it from the top. Re-keying a table to the same key
-- is harmless, the column is added only while missing, and the backfills only
-- touch rows not yet filled.
ALTER TABLE transfers DROP PRIMARY KEY, ADD PRIMARY KEY (transaction_id, from_account);

ALTER TABLE credits DROP PRIMARY KEY, ADD PRIMARY KEY (transaction_id, from_account);

-- from_account of the transfer a step belongs to (its source account). The
-- default only serves the rows that exist before the backfills below; every
-- insert names it. MySQL has no ADD COLUMN IF NOT EXISTS, so the ALTER is
-- prepared only while the column is missing (it re-keys in the same
-- statement, so the column's presence says both are done).
SET @wallet_0003 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'transfer_steps' AND column_name = 'from_account'),
  'DO 0',
  'ALTER TABLE transfer_steps ADD COLUMN from_account VARCHAR(64) NOT NULL DEFAULT '''' AFTER transaction_id, DROP PRIMARY KEY, ADD PRIMARY KEY (transaction_id, from_account, step)');

PREPARE wallet_0003 FROM @wallet_0003;

EXECUTE wallet_0003;

DEALLOCATE PREPARE wallet_0003;

-- Source-side steps belong to this shard's transfer under the id, destination
-- side steps to its credit; before this migration each was unique per id.
UPDATE transfer_steps s JOIN transfers t ON t.transaction_id = s.transaction_id
  SET s.from_account = t.from_account
  WHERE s.from_account = '' AND s.step IN ('debited', 'completed', 'refunded');

UPDATE transfer_steps s JOIN credits c ON c.transaction_id = s.transaction_id
  SET s.from_account = c.from_account
  WHERE s.from_account = '' AND s.step IN ('credited', 'credit_rejected');
