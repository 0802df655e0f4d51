-- A message's data is bytes, not text: a payload that is not UTF-8 (the
-- very kind of message that ends here) could not be recorded in a
-- utf8mb4 column, and would be retried for ever. MODIFY to the same type
-- again is harmless, so the file can re-run.
ALTER TABLE dead_letters MODIFY data MEDIUMBLOB NOT NULL;
