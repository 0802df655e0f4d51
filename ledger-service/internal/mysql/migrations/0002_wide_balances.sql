-- Wide balances: the system accounts can no longer overflow.
--
-- @world:<CUR> holds minus every deposit ever made (less withdrawals) and
-- @in_flight:<CUR> every debit not yet credited or refunded. Neither is
-- bounded by the wallet balance ceiling, so in DECIMAL(24,4) (|x| < 10^20)
-- @world filled after about 10^5 maximal deposits (10^15 each, see
-- money.MaxDigits), and from then on every event behind the one that
-- overflowed it, in every currency, was retried forever.
--
-- DECIMAL(65,4), the widest MySQL and MariaDB have, holds |x| < 10^61.
-- Every posting is below 10^15, so filling it takes more than 10^46 maximal
-- deposits: at a million a second, 10^40 seconds (the universe is about
-- 4 * 10^17 s old). It cannot happen, so system accounts stay stored rows
-- that other jobs (reconcile) read like any other account.
--
-- amount stays DECIMAL(24,4): one posting is bounded by the amount limit.
-- Wallet balances are capped below DECIMAL(24,4) by account-service (the
-- shards' column), so only the system accounts need the width, but one
-- column type for every ledger account keeps the code and queries uniform.
--
-- MODIFY to the definition a column already has changes nothing (at worst
-- it rebuilds the table again), so re-running this file after a crash is
-- safe. Both statements rebuild their table (widening a
-- DECIMAL is not an in-place change): on a large journal, expect the
-- migration to take a while and to block writes to the table meanwhile.
ALTER TABLE ledger_accounts
  MODIFY balance DECIMAL(65,4) NOT NULL DEFAULT 0;

ALTER TABLE journal_entries
  MODIFY balance_after DECIMAL(65,4) NOT NULL;
