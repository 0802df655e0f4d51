-- The owner of a customer account, from account.opened's owner_id: the
-- ledger checks a customer's reads against it without reading
-- account-service's tables (issue 19). NULL for system accounts and for
-- accounts opened before the column (their owner is not in the journal;
-- replay fills it). Safe to re-run after a crash: the ALTER is prepared only
-- while its change is missing (MySQL has no ADD COLUMN IF NOT EXISTS).
SET @wallet_ledger_0007 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'ledger_accounts' AND column_name = 'owner_id'),
  'DO 0',
  'ALTER TABLE ledger_accounts ADD COLUMN owner_id VARCHAR(64) NULL');

PREPARE wallet_ledger_0007 FROM @wallet_ledger_0007;

EXECUTE wallet_ledger_0007;

DEALLOCATE PREPARE wallet_ledger_0007;
