-- The placement fence (docs/adr/0029): the server on which this schema is
-- the shard's live copy, and whether a move froze it. Every writing
-- transaction reads the row under a shared lock and refuses a frozen copy
-- or one that is another server's. Rows from before it get their server at
-- the next start (claimShard). Safe to re-run: each column is added only
-- while missing.
SET @wallet_0010 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'shard_meta' AND column_name = 'server'),
  'DO 0',
  'ALTER TABLE shard_meta ADD COLUMN server VARCHAR(64) NOT NULL DEFAULT \'\'');

PREPARE wallet_0010 FROM @wallet_0010;

EXECUTE wallet_0010;

DEALLOCATE PREPARE wallet_0010;

SET @wallet_0010b = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'shard_meta' AND column_name = 'frozen'),
  'DO 0',
  'ALTER TABLE shard_meta ADD COLUMN frozen BOOLEAN NOT NULL DEFAULT FALSE');

PREPARE wallet_0010b FROM @wallet_0010b;

EXECUTE wallet_0010b;

DEALLOCATE PREPARE wallet_0010b;
