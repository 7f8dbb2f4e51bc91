-- What a source's last fetched feed held that was not all read (entries past the cap on
-- entries per feed), shown with the source on `/status` and by `feedmerge sources`.
ALTER TABLE sources ADD COLUMN last_warning TEXT;
