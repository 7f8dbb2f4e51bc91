-- Retention (`[storage] max_age`, `max_per_source`) deletes old articles. Each deleted entry
-- leaves its identity here, so that an outlet that still lists it does not bring it back as
-- new on its next poll. `last_seen` moves while the outlet lists it; a tombstone no outlet
-- has listed for a long time is deleted in turn.
CREATE TABLE tombstones (
    source_id INTEGER NOT NULL REFERENCES sources(id),
    entry_key TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (source_id, entry_key)
) WITHOUT ROWID;

-- Retention picks the oldest articles of each source.
CREATE INDEX articles_by_source ON articles (source_id, published DESC);

-- The status page's chart counts articles by the day they were first seen.
CREATE INDEX articles_by_first_seen ON articles (first_seen);
