-- Refused movements are pruned after account.refusal_retention; the janitor
-- finds the oldest on this index (a refused movement is the only one with no
-- balance after it; refused transfers have transfers_status). Safe to re-run
-- after a crash: MySQL has no ADD KEY IF NOT EXISTS, so the ALTER is prepared
-- only while the index is missing.
SET @wallet_0008 = IF(EXISTS (SELECT 1 FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'movements' AND index_name = 'movements_refused'),
  'DO 0',
  'ALTER TABLE movements ADD KEY movements_refused (balance_after, created_at)');

PREPARE wallet_0008 FROM @wallet_0008;

EXECUTE wallet_0008;

DEALLOCATE PREPARE wallet_0008;
