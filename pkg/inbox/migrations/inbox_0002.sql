-- The janitor deletes a consumer's oldest rows (inbox.Prune): it finds them
-- on this index instead of scanning, and locking, the whole table.
-- Safe to re-run after a crash: the ALTER is prepared only while its change
-- is missing (MySQL has no ADD COLUMN IF NOT EXISTS).
SET @wallet_inbox_0002 = IF(EXISTS (SELECT 1 FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'inbox' AND index_name = 'inbox_processed'),
  'DO 0',
  'ALTER TABLE inbox ADD KEY inbox_processed (consumer, processed_at)');

PREPARE wallet_inbox_0002 FROM @wallet_inbox_0002;

EXECUTE wallet_inbox_0002;

DEALLOCATE PREPARE wallet_inbox_0002;
