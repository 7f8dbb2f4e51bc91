-- Full-text search (src/store/search.rs): every article's search terms (src/query.rs: words
-- without case or accents, Chinese, Japanese and Korean characters one by one), written by
-- the store with the article. Contentless: the terms are not kept, only the index of them,
-- which a deleted article leaves with it.
CREATE VIRTUAL TABLE article_search USING fts5(
    title, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

-- The story of each indexed article: what a search groups its matches by, read without
-- touching the articles' own (large) rows.
CREATE TABLE search_docs (
    rowid    INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL
);

-- Articles stored before the index existed: the store indexes those with ids below `below`,
-- newest first, a batch at a time after it opens, and deletes the row when none is left.
CREATE TABLE search_backlog (below INTEGER NOT NULL);
INSERT INTO search_backlog SELECT COALESCE(MAX(id), 0) + 1 FROM articles;
