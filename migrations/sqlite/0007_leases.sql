-- Work sharing between processes polling one database: a process claims a due source before
-- fetching it, until `lease_until` (Unix ms); its result, or the lease's expiry, frees it.
ALTER TABLE sources ADD COLUMN lease_owner TEXT;
ALTER TABLE sources ADD COLUMN lease_until INTEGER;
