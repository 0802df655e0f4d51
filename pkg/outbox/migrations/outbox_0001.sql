-- Events waiting for the relay. id orders them; published_at IS NULL marks
-- the ones still to publish (a cursor on id would skip rows that commit late).
CREATE TABLE IF NOT EXISTS outbox (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id     CHAR(36)     NOT NULL,
  event_type   VARCHAR(64)  NOT NULL,
  topic        VARCHAR(255) NOT NULL,
  source       VARCHAR(255) NOT NULL,
  subject      VARCHAR(255) NOT NULL,
  data         MEDIUMTEXT   NOT NULL,
  occurred_at  DATETIME(6)  NOT NULL,
  published_at DATETIME(6)  NULL,
  UNIQUE KEY outbox_event_id (event_id),
  KEY outbox_unpublished (published_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
