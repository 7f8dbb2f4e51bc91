-- The story index's second key (src/dedup/headline.rs): the key of each article's headline,
-- when the headline is long enough to identify a story, with the source that carried it, so
-- that an article with too little text for a sketch joins the story another outlet carries
-- under the same headline. Read into memory with the sketches; retention deletes the rows of
-- articles too old to match. Articles stored before this migration have none (their
-- headline key is computed from the feed, and the feed is not stored).
CREATE TABLE headlines (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    story_id   INTEGER NOT NULL REFERENCES stories(id),
    published  INTEGER NOT NULL,
    -- The source whose entry it was, as a plain number: only compared, never joined.
    source_id  INTEGER NOT NULL,
    headline   INTEGER NOT NULL
);
CREATE INDEX headlines_by_published ON headlines (published);
