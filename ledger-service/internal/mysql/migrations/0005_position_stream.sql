-- Which WALLET stream ledger_position counts in: the stream's creation time.
-- A stream created anew (NATS state lost, another cluster) numbers its
-- messages from 1 again, and a position from the old one would skip them.
ALTER TABLE ledger_position ADD COLUMN stream_created DATETIME(6) NULL;
