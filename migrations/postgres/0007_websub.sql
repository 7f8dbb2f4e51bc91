-- WebSub (see src/websub). Times are Unix milliseconds, as everywhere.

-- Our subscriptions at outlets' hubs: one per source at most, found by its callback's token
-- (the last segment of <base_url>/websub/callback/TOKEN). Keyed by the source's name, not its
-- id: a source removed from the config keeps its row until the hub confirms the unsubscribe.
CREATE TABLE push_subscriptions (
    token          TEXT PRIMARY KEY,
    source         TEXT NOT NULL UNIQUE,
    hub            TEXT NOT NULL,
    topic          TEXT NOT NULL,
    -- the hub.secret we gave: deliveries are signed with it
    secret         TEXT NOT NULL,
    -- whether the hub may be on a private address (the source's allow_private when asked),
    -- kept for the unsubscribe of a source gone from the config
    allow_private  BOOLEAN NOT NULL DEFAULT FALSE,
    -- pending (asked, not verified), active, failed, unsubscribing
    state          TEXT NOT NULL,
    -- why it failed, for a failed one
    error          TEXT,
    -- when it was last asked for (subscribe, renewal or unsubscribe)
    requested_at   BIGINT NOT NULL,
    lease_until    BIGINT,
    last_push_at   BIGINT,
    pushes         BIGINT NOT NULL DEFAULT 0,
    -- deliveries refused for a bad signature
    rejected       BIGINT NOT NULL DEFAULT 0,
    -- new stories pushed, and new stories a poll found that no push had brought
    pushed_new     BIGINT NOT NULL DEFAULT 0,
    missed         BIGINT NOT NULL DEFAULT 0
);

-- Readers subscribed to our hub: one row per topic (one of our feeds' URLs) and callback.
CREATE TABLE hub_subscriptions (
    topic        TEXT NOT NULL,
    callback     TEXT NOT NULL,
    -- the host of the callback, for the cap on subscriptions per host
    host         TEXT NOT NULL,
    secret       TEXT,
    lease_until  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (topic, callback)
);

-- What each subscribed topic's first page was when last delivered (a digest of its bytes):
-- a replica delivers a change only if it is the one that moves the digest on, so a change
-- is delivered once however many replicas see it.
CREATE TABLE hub_topics (
    topic       TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
