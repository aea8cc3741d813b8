-- When a stored API key was last used (`hub keys list`): recorded in
-- memory on each node and written in batches (every few seconds and at
-- shutdown), so it may lag by that much. NULL: not used since this
-- migration. Stored form of the time (RFC 3339 UTC, sorts as text).
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
