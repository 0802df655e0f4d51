-- Poison rows: a row JetStream refuses for good (too large, a subject no
-- stream takes, another permanent API error) is tried relay.max_attempts
-- times and then set aside with its error, so the rows behind it go out.
-- A set-aside row keeps published_at NULL: it was never published. The
-- relay's poll still walks outbox_unpublished (published_at, id) and skips
-- the few set-aside rows it meets there.
ALTER TABLE outbox
  ADD COLUMN attempts     INT         NOT NULL DEFAULT 0,
  ADD COLUMN last_error   TEXT        NULL,
  ADD COLUMN set_aside_at DATETIME(6) NULL;
