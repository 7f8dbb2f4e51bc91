-- feedmerge's first schema. Times are INTEGER milliseconds since the Unix epoch (UTC):
-- compact, and they sort and compare as numbers.

-- One row per configured source, keyed by its name in the config. A source that leaves the
-- config keeps its row, so that the articles it contributed keep their credit.
CREATE TABLE sources (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    url                  TEXT NOT NULL,
    -- what the feed says about itself, refreshed on every successful parse
    title                TEXT,
    site_url             TEXT,
    -- HTTP validators of the copy we last stored, sent back for a conditional GET
    etag                 TEXT,
    last_modified        TEXT,
    last_attempt_at      INTEGER,
    last_success_at      INTEGER,
    last_status          INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0
);

-- One row per article, stored once however many sources carry it.
CREATE TABLE articles (
    id             INTEGER PRIMARY KEY,
    -- the published entry id: fixed at first sight, never recomputed
    entry_id       TEXT NOT NULL UNIQUE,
    -- the source that carried it first: its text is the one we publish
    source_id      INTEGER NOT NULL REFERENCES sources(id),
    canonical_link TEXT,
    link           TEXT,
    title          TEXT NOT NULL,
    summary        TEXT,
    content        TEXT,
    authors        TEXT NOT NULL DEFAULT '[]',  -- JSON array of names
    categories     TEXT NOT NULL DEFAULT '[]',  -- JSON array of terms
    published      INTEGER NOT NULL,
    updated        INTEGER NOT NULL,
    first_seen     INTEGER NOT NULL,
    content_hash   TEXT NOT NULL
);
CREATE INDEX articles_by_canonical_link ON articles (canonical_link);
CREATE INDEX articles_by_published ON articles (published DESC, id DESC);

-- Every entry of every source that carries an article: the first source's, and one for each
-- other source whose entry had the same canonical link. (source_id, entry_key) is how the
-- next poll of that source recognises the entry again.
CREATE TABLE appearances (
    source_id  INTEGER NOT NULL REFERENCES sources(id),
    entry_key  TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    link       TEXT,
    title      TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (source_id, entry_key)
) WITHOUT ROWID;
CREATE INDEX appearances_by_article ON appearances (article_id);
