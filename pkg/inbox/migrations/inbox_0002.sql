-- The janitor deletes a consumer's oldest rows (inbox.Prune): it finds them
-- on this index instead of scanning, and locking, the whole table.
ALTER TABLE inbox ADD KEY inbox_processed (consumer, processed_at);
