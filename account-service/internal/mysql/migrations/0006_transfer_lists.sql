-- An account's transfers are listed newest first (GET
-- /v1/accounts/{id}/transfers): the ones it sent, and the same-shard ones it
-- received. The primary key (transaction_id, from_account) rides along in
-- each key, so a page is one range read. One statement per file (see 0004);
-- 0007 does the credits.
ALTER TABLE transfers
  ADD KEY transfers_from_created (from_account, created_at),
  ADD KEY transfers_to_created (to_account, created_at);
