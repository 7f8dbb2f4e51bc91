-- Stories: one piece of news as several outlets carried it, each under its own link and
-- headline. Articles with the same link are already one article (with one appearance per
-- outlet); a story groups articles whose text is nearly the same. The merged feed publishes
-- one entry per story.
CREATE TABLE stories (
    id             INTEGER PRIMARY KEY,
    -- the published entry id: the first article's, fixed however many versions join later
    entry_id       TEXT NOT NULL UNIQUE,
    -- the version whose text is published: the earliest published
    representative INTEGER NOT NULL REFERENCES articles(id),
    -- the representative's publication time, which orders the feed
    published      INTEGER NOT NULL,
    -- moves only when the representative's own text changes, so that a version joining
    -- later does not make readers show the story as new again
    updated        INTEGER NOT NULL,
    first_seen     INTEGER NOT NULL
);
CREATE INDEX stories_by_published ON stories (published DESC, id DESC);

ALTER TABLE articles ADD COLUMN story_id INTEGER REFERENCES stories(id);

-- Every article stored so far is a story of its own, published under its own entry id.
INSERT INTO stories (id, entry_id, representative, published, updated, first_seen)
    SELECT id, entry_id, id, published, updated, first_seen FROM articles;
UPDATE articles SET story_id = id;
CREATE INDEX articles_by_story ON articles (story_id);

-- The near-duplicate sketch of an article's title and lead (src/dedup/fingerprint.rs), for
-- articles with enough text to compare. A table of its own, not a column of `articles`:
-- comparing a candidate then reads one small row, not the end of a row stored after a long
-- content column that fills overflow pages. An article's story never changes once placed.
CREATE TABLE sketches (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    story_id   INTEGER NOT NULL REFERENCES stories(id),
    sketch     BLOB NOT NULL
);

-- The locality-sensitive index over sketches: an article under each of its band keys, so
-- that the versions of a story are found by key lookups rather than by comparing a new
-- article with every stored one. Ordered by publication time within a key, because only
-- articles published within [dedup].window of each other can be one story.
CREATE TABLE story_bands (
    band       INTEGER NOT NULL,
    published  INTEGER NOT NULL,
    article_id INTEGER NOT NULL,
    PRIMARY KEY (band, published, article_id)
) WITHOUT ROWID;
