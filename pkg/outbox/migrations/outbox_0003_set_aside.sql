-- Poison rows: a row JetStream refuses for good (too large, a subject no
-- stream takes, another permanent API error) is tried relay.max_attempts
-- times and then set aside with its error, so the rows behind it go out.
-- A set-aside row keeps published_at NULL: it was never published. The
-- relay's poll still walks outbox_unpublished (published_at, id) and skips
-- the few set-aside rows it meets there.
-- Safe to re-run after a crash: the ALTER is prepared only while its change
-- is missing (MySQL has no ADD COLUMN IF NOT EXISTS).
SET @wallet_outbox_0003 = IF(EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'outbox' AND column_name = 'attempts'),
  'DO 0',
  'ALTER TABLE outbox ADD COLUMN attempts INT NOT NULL DEFAULT 0, ADD COLUMN last_error TEXT NULL, ADD COLUMN set_aside_at DATETIME(6) NULL');

PREPARE wallet_outbox_0003 FROM @wallet_outbox_0003;

EXECUTE wallet_outbox_0003;

DEALLOCATE PREPARE wallet_outbox_0003;
