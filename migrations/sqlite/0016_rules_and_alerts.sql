-- Rules (src/rules): the entries a source's rules discarded, remembered by their entry key
-- with the rule that discarded them and when a fetch last carried them, so that `/status` and
-- `feedmerge sources` say how many each source's rules keep out.
CREATE TABLE discarded (
    source_id INTEGER NOT NULL REFERENCES sources(id),
    entry_key TEXT NOT NULL,
    rule      INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (source_id, entry_key)
) WITHOUT ROWID;

-- Alerts (src/notify): how far each alert has looked among the stories (the highest story id
-- it has matched), and its deliveries, one per alert and story (the unique key is what keeps
-- replicas from sending one twice), sent in id order, each claimed by one replica at a time.
CREATE TABLE alert_cursors (
    alert      TEXT PRIMARY KEY,
    last_story INTEGER NOT NULL
);
CREATE TABLE alert_deliveries (
    id            INTEGER PRIMARY KEY,
    alert         TEXT NOT NULL,
    story_id      INTEGER NOT NULL,
    -- the signed body, fixed when the story matched: each retry sends the same bytes
    body          TEXT NOT NULL,
    -- pending, delivered, failed (given up)
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try_at   INTEGER NOT NULL,
    claimed_until INTEGER,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    done_at       INTEGER,
    UNIQUE (alert, story_id)
);
CREATE INDEX alert_deliveries_by_state ON alert_deliveries (alert, state, id);
