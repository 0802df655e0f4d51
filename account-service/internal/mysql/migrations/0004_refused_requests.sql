-- A transfer or deposit/withdrawal this shard refused (insufficient funds,
-- an unknown, frozen or closed account, a currency mismatch, the balance
-- limit) is kept under its key, in the row a success would have taken, with
-- the problem it was answered (JSON: code, detail, extra). A retry replays
-- the refusal, and a late copy of the request (one that sat in a batch on a
-- stalled instance while the client retried elsewhere and was refused)
-- finds it, or collides with it on the key, instead of moving money. A
-- refused transfer has status 'refused'; a refused movement changed no
-- balance, so it has none after it.
ALTER TABLE transfers ADD COLUMN refusal TEXT NULL;

ALTER TABLE movements
  ADD COLUMN refusal TEXT NULL,
  MODIFY balance_after DECIMAL(24,4) NULL,
  MODIFY version BIGINT NULL;
