-- Full text (src/fulltext, src/store/full_text.rs): an article's page read for its main text,
-- once. A row is the state of that reading: due again at `next_try_at` (a claim in flight, or
-- a failure's next try), done (its text and what the page said of the article), or given up
-- (the last error, no next try).
CREATE TABLE full_texts (
    article_id  BIGINT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    -- the page read: the article's link when it was claimed
    url         TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_try_at BIGINT,
    -- sanitised HTML, and the page's byline, lead picture and language, once read
    content     TEXT,
    byline      TEXT,
    image       TEXT,
    language    TEXT,
    error       TEXT,
    done_at     BIGINT
);
CREATE INDEX full_texts_due ON full_texts (next_try_at);
