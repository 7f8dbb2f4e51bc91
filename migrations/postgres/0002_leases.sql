-- Work sharing between replicas: a replica claims a due source before fetching it, until
-- `lease_until` (Unix ms); its result, or the lease's expiry, frees it for the others.
ALTER TABLE sources ADD COLUMN lease_owner TEXT;
ALTER TABLE sources ADD COLUMN lease_until BIGINT;
