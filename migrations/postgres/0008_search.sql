-- Full-text search (src/store/search.rs): every article's search terms (src/query.rs: words
-- without case or accents, Chinese, Japanese and Korean characters one by one), written by
-- the store with the article, as tsvectors of the 'simple' configuration (no stemming, no
-- stop words: the terms are already what is matched), under GIN indexes. The database's
-- ctype must be UTF-8 (C.UTF-8, en_US.UTF-8, ...) for the parser to see letters beyond ASCII.
CREATE TABLE article_search (
    rowid      BIGINT PRIMARY KEY,
    -- the article's story, which a search groups its matches by
    story_id   BIGINT NOT NULL,
    -- the headline's terms, for title:
    title      tsvector NOT NULL,
    -- the headline's and the text's
    body       tsvector NOT NULL
);
CREATE INDEX article_search_title ON article_search USING GIN (title);
CREATE INDEX article_search_body ON article_search USING GIN (body);
-- As SQLite has it, so that the store's searches read alike on both.
CREATE VIEW search_docs AS SELECT rowid, story_id FROM article_search;

-- Articles stored before the index existed: the store indexes those with ids below `below`,
-- newest first, a batch at a time after it opens, and deletes the row when none is left.
CREATE TABLE search_backlog (below BIGINT NOT NULL);
INSERT INTO search_backlog SELECT COALESCE(MAX(id), 0) + 1 FROM articles;
