-- Where a story sits in the merged feed. Normally its publication time; but an entry dated in
-- the future, or back-dated by more than two days when its source was already being polled,
-- is placed at the time feedmerge first saw it, so that no outlet can pin the top of the feed
-- or slip a new story in below the fold. Fixed when the story is first stored, so that
-- versions joining later never move it.
ALTER TABLE stories ADD COLUMN sort_at INTEGER;
UPDATE stories SET sort_at = MIN(published, first_seen);
CREATE INDEX stories_by_sort_at ON stories (sort_at DESC, id DESC);
DROP INDEX stories_by_published;
