-- Refused deposits and withdrawals (see 0004): their problem in refusal, and
-- no balance after them, since none changed.
ALTER TABLE movements
  ADD COLUMN refusal TEXT NULL,
  MODIFY balance_after DECIMAL(24,4) NULL,
  MODIFY version BIGINT NULL;
