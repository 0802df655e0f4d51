-- The MariaDB logins that move a logical shard's schema between servers
-- (account-service shards move, docs/adr/0033). Run on every server, as a
-- user with GRANT OPTION; @REPL_PASSWORD@ and @MOVER_PASSWORD@ are replaced
-- first. MariaDB 10.11 privilege names; MySQL 8.4's in the comments.
-- Not for docker-compose.yml's MySQL: moves are MariaDB-only for now.

-- wallet_repl: a target's replication thread reads the source's binary log.
CREATE USER IF NOT EXISTS 'wallet_repl'@'%' IDENTIFIED BY '@REPL_PASSWORD@';
ALTER USER 'wallet_repl'@'%' IDENTIFIED BY '@REPL_PASSWORD@';
GRANT REPLICATION SLAVE ON *.* TO 'wallet_repl'@'%';

-- wallet_mover: the operator's copy of a schema (schemacopy).
-- On the source: reads the schema in one snapshot (SELECT) and the end of
-- the binary log (BINLOG MONITOR; MySQL: REPLICATION CLIENT).
-- On the target: creates and loads the copy (CREATE, INSERT), drops it on
-- abort (DROP), and runs the replication connection: CHANGE MASTER, START
-- and STOP REPLICA and its replicate_do_db (REPLICATION SLAVE ADMIN; MySQL:
-- REPLICATION_SLAVE_ADMIN), SHOW REPLICA STATUS (REPLICA MONITOR; MySQL:
-- REPLICATION CLIENT), and RESET REPLICA ALL, which needs RELOAD. RELOAD
-- also allows FLUSH and RESET MASTER: this is an operator's login, never a
-- service's. The move's fence (freezing the shard, its placement version)
-- needs UPDATE on the schema's shard_meta besides.
CREATE USER IF NOT EXISTS 'wallet_mover'@'%' IDENTIFIED BY '@MOVER_PASSWORD@';
ALTER USER 'wallet_mover'@'%' IDENTIFIED BY '@MOVER_PASSWORD@';
GRANT BINLOG MONITOR, REPLICATION SLAVE ADMIN, REPLICA MONITOR, RELOAD ON *.* TO 'wallet_mover'@'%';
GRANT SELECT, CREATE, INSERT, DROP ON `wallet\_shard\_%`.* TO 'wallet_mover'@'%';
