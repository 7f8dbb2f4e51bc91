-- The plain text of each article's content (else its summary), derived once when it is
-- stored, for what matches or quotes it (views, excerpts) without parsing HTML per request.
-- NULL for articles stored before this migration: their text is derived when needed.
ALTER TABLE articles ADD COLUMN plain_text TEXT;
