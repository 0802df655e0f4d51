-- The cross-shard transfers an account received, for its list of transfers
-- (see 0006). Safe to re-run after a crash, as 0006.
SET @wallet_0007 = IF(EXISTS (SELECT 1 FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'credits' AND index_name = 'credits_to_created'),
  'DO 0',
  'ALTER TABLE credits ADD KEY credits_to_created (to_account, created_at)');

PREPARE wallet_0007 FROM @wallet_0007;

EXECUTE wallet_0007;

DEALLOCATE PREPARE wallet_0007;
