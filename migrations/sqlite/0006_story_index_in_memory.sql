-- The story index moves into the daemon's memory (src/dedup/index.rs), loaded at start from
-- here: each sketch now keeps its article's band keys (24 big-endian 64-bit values) and
-- publication time, so that loading reads one row per article, not 24, and storing an
-- article writes one index row, not 25.
ALTER TABLE sketches ADD COLUMN published INTEGER;
ALTER TABLE sketches ADD COLUMN bands BLOB;

UPDATE sketches SET published = (SELECT a.published FROM articles a WHERE a.id = sketches.article_id);

-- Articles whose keys retention already pruned (published over twice [dedup].window ago)
-- keep no keys: they can no longer place a new article.
UPDATE sketches SET bands = b.bands
FROM (SELECT article_id, unhex(group_concat(printf('%016x', band), '')) AS bands
      FROM story_bands GROUP BY article_id) AS b
WHERE b.article_id = sketches.article_id;

DROP TABLE story_bands;

-- Retention finds the keys to prune by publication time.
CREATE INDEX sketches_by_published ON sketches (published) WHERE bands IS NOT NULL;
