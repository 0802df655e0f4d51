-- Dead letters an operator acts on: replayed (re-published to the stream
-- once the cause is fixed) or discarded, with the time. stream_seq is the
-- message's WALLET sequence (the capture of JetStream's max-deliveries
-- advisories records it, and is idempotent by it).
-- Safe to re-run after a crash: the ALTER is prepared only while its change
-- is missing (MySQL has no ADD COLUMN IF NOT EXISTS).
SET @wallet_deadletter_0002 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'dead_letters' AND column_name = 'stream_seq'),
  'DO 0',
  'ALTER TABLE dead_letters ADD COLUMN stream_seq BIGINT UNSIGNED NULL, ADD COLUMN handled_at DATETIME(6) NULL, ADD COLUMN resolution VARCHAR(16) NULL, ADD UNIQUE KEY dead_letters_seq (consumer, stream_seq), ADD KEY dead_letters_open (handled_at, id)');

PREPARE wallet_deadletter_0002 FROM @wallet_deadletter_0002;

EXECUTE wallet_deadletter_0002;

DEALLOCATE PREPARE wallet_deadletter_0002;
