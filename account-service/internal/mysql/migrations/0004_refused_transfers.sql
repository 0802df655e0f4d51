-- A transfer or deposit/withdrawal this shard refused (insufficient funds,
-- an unknown, frozen or closed account, a currency mismatch, the balance
-- limit) is kept under its key, in the row a success would have taken, with
-- the decision (JSON: code, detail, params; older rows: extra). A retry replays
-- the refusal, and a late copy of the request (one that sat in a batch on a
-- stalled instance while the client retried elsewhere and was refused)
-- finds it, or collides with it on the key, instead of moving money. A
-- refused transfer has status 'refused'; a refused movement changed no
-- balance, so it has none after it.
-- Safe to re-run after a crash (the file is recorded only after its last
-- statement): the column is added only while missing. 0005 does the movements.
SET @wallet_0004 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'transfers' AND column_name = 'refusal'),
  'DO 0',
  'ALTER TABLE transfers ADD COLUMN refusal TEXT NULL');

PREPARE wallet_0004 FROM @wallet_0004;

EXECUTE wallet_0004;

DEALLOCATE PREPARE wallet_0004;
