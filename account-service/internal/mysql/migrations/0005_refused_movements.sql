-- Refused deposits and withdrawals (see 0004): their decision in refusal, and
-- no balance after them, since none changed. One ALTER, prepared only while
-- the column is missing, so the file can run again after a crash.
SET @wallet_0005 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'movements' AND column_name = 'refusal'),
  'DO 0',
  'ALTER TABLE movements ADD COLUMN refusal TEXT NULL, MODIFY balance_after DECIMAL(24,4) NULL, MODIFY version BIGINT NULL');

PREPARE wallet_0005 FROM @wallet_0005;

EXECUTE wallet_0005;

DEALLOCATE PREPARE wallet_0005;
