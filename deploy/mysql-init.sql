-- Run once by the mysql image on an empty data directory (docker-compose.yml).
-- The schemas and the wallet user, which runs the migrations (the migrate-*
-- services of docker-compose.yml); the services' own users and their grants
-- come after the migrations, from deploy/grants.sql.
CREATE DATABASE IF NOT EXISTS wallet_shard_0 CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS wallet_shard_1 CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS wallet_shard_2 CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS wallet_shard_3 CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS wallet_ledger  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE USER IF NOT EXISTS 'wallet'@'%' IDENTIFIED BY 'wallet';
GRANT ALL PRIVILEGES ON wallet_shard_0.* TO 'wallet'@'%';
GRANT ALL PRIVILEGES ON wallet_shard_1.* TO 'wallet'@'%';
GRANT ALL PRIVILEGES ON wallet_shard_2.* TO 'wallet'@'%';
GRANT ALL PRIVILEGES ON wallet_shard_3.* TO 'wallet'@'%';
GRANT ALL PRIVILEGES ON wallet_ledger.*  TO 'wallet'@'%';
FLUSH PRIVILEGES;
