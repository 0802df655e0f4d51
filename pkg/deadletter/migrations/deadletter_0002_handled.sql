-- Dead letters an operator acts on: replayed (re-published to the stream
-- once the cause is fixed) or discarded, with the time. stream_seq is the
-- message's WALLET sequence (the capture of JetStream's max-deliveries
-- advisories records it, and is idempotent by it).
ALTER TABLE dead_letters
  ADD COLUMN stream_seq BIGINT UNSIGNED NULL,
  ADD COLUMN handled_at DATETIME(6)     NULL,
  ADD COLUMN resolution VARCHAR(16)     NULL,
  ADD UNIQUE KEY dead_letters_seq (consumer, stream_seq),
  ADD KEY dead_letters_open (handled_at, id);
