-- The polling engine's per-source state, so that a restarted daemon resumes where it was.

-- When the source is next due (ms since the epoch); NULL: never polled, due at once.
ALTER TABLE sources ADD COLUMN next_due_at INTEGER;
-- Where a chain of permanent redirects (301/308) led; NULL: the configured URL.
ALTER TABLE sources ADD COLUMN effective_url TEXT;
-- Why the source is no longer polled (410 Gone); NULL: it is polled.
ALTER TABLE sources ADD COLUMN disabled_reason TEXT;
-- The shortest interval the feed asks to be polled at (ttl, sy:updatePeriod, max-age), seconds.
ALTER TABLE sources ADD COLUMN min_interval_secs INTEGER;
