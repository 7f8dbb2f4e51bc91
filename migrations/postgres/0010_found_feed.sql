-- A source whose url is a web page advertising one feed is polled at that feed
-- (`effective_url`); `found_on_page` tells that from a permanent redirect, so that `sources`
-- and `/status` say where the feed was found rather than that it moved.
ALTER TABLE sources ADD COLUMN found_on_page BOOLEAN NOT NULL DEFAULT FALSE;
