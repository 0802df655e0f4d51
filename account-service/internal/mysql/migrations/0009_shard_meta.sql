-- Which shard of the configured list this schema is: written once, at the
-- first migration, and checked at every later one, so a reordered or edited
-- list of shard DSNs is refused instead of routing accounts to the wrong
-- database (docs/adr/0029 grows it into the placement fence).
CREATE TABLE IF NOT EXISTS shard_meta (
  id    TINYINT NOT NULL PRIMARY KEY,
  shard INT     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
