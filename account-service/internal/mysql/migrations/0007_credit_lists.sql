-- The cross-shard transfers an account received, for its list of transfers
-- (see 0006).
ALTER TABLE credits ADD KEY credits_to_created (to_account, created_at);
