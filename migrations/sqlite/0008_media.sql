-- What an article brings besides its text: its attached files and its picture, as the JSON
-- of `parse::Media` (NULL: none, and every article stored before this migration). And each
-- outlet's own publication time for the entry it carries, for the story page (NULL before
-- this migration: the time it was first seen stands in).
ALTER TABLE articles ADD COLUMN media TEXT;
ALTER TABLE appearances ADD COLUMN published INTEGER;
