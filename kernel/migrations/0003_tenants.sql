-- Tenants' API keys, the audit log of staff actions that concern no single
-- order, and indexes for the order query API. Portable SQL (SQLite and
-- PostgreSQL).

-- API keys created with `hub keys create`. Only the SHA-256 of a key is
-- stored (keys are 256-bit random strings, so a fast hash is enough); the
-- key itself is shown once, at creation.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    -- who the key acts as (the actor on timelines)
    principal     TEXT NOT NULL,
    role          TEXT NOT NULL,
    -- the customer a `customer` key belongs to ('' for staff keys)
    tenant        TEXT NOT NULL,
    key_sha256    TEXT NOT NULL UNIQUE,
    -- the first characters of the key, to recognise it in lists
    key_prefix    TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);

-- Staff and system actions outside an order's timeline: keys created and
-- revoked, webhook subscriptions changed or disabled.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    -- JSON, never a secret
    detail      TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- GET /v1/orders filters: newest first within a tenant, by line, by reference.
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_tenant_line_created ON orders (tenant, line, created_at);
CREATE INDEX orders_reference ON orders (customer_reference);
