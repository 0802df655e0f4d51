-- The relay lease: one row per shard database. The relay instance named in
-- owner publishes this shard's outbox until expires_at (database time); the
-- others wait and take over when it lapses.
CREATE TABLE IF NOT EXISTS outbox_lease (
  id         TINYINT      NOT NULL PRIMARY KEY,
  owner      VARCHAR(128) NOT NULL,
  expires_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT IGNORE INTO outbox_lease (id, owner, expires_at) VALUES (1, '', '1970-01-02 00:00:00');
