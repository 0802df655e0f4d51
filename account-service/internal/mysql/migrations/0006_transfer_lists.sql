-- An account's transfers are listed newest first (GET
-- /v1/accounts/{id}/transfers): the ones it sent, and the same-shard ones it
-- received. The primary key (transaction_id, from_account) rides along in
-- each key, so a page is one range read; 0007 does the credits. Safe to re-run
-- after a crash: MySQL has no ADD KEY IF NOT EXISTS, so the ALTER (one, adding
-- both keys at once) is prepared only while they are missing.
SET @wallet_0006 = IF(EXISTS (SELECT 1 FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'transfers' AND index_name = 'transfers_from_created'),
  'DO 0',
  'ALTER TABLE transfers ADD KEY transfers_from_created (from_account, created_at), ADD KEY transfers_to_created (to_account, created_at)');

PREPARE wallet_0006 FROM @wallet_0006;

EXECUTE wallet_0006;

DEALLOCATE PREPARE wallet_0006;
