-- Which WALLET stream ledger_position counts in: the stream's creation time.
-- A stream created anew (NATS state lost, another cluster) numbers its
-- messages from 1 again, and a position from the old one would skip them.
-- Safe to re-run after a crash: the ALTER is prepared only while its change
-- is missing (MySQL has no ADD COLUMN IF NOT EXISTS).
SET @wallet_ledger_0005 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'ledger_position' AND column_name = 'stream_created'),
  'DO 0',
  'ALTER TABLE ledger_position ADD COLUMN stream_created DATETIME(6) NULL');

PREPARE wallet_ledger_0005 FROM @wallet_ledger_0005;

EXECUTE wallet_ledger_0005;

DEALLOCATE PREPARE wallet_ledger_0005;
