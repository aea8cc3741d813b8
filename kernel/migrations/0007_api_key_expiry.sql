-- Optional expiry of stored API keys (`hub keys create --expires-in 30d`,
-- `--expires-at`): stored form of the time (RFC 3339 UTC, sorts as text),
-- NULL for keys that do not expire (every key stored before this migration).
-- An expired key is refused like an unknown one.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
