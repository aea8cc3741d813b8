-- Orders, their audit timeline, idempotency keys and the dispatch outbox.
-- Portable SQL: the same file runs on SQLite and PostgreSQL. Times are
-- RFC 3339 UTC text with fixed microsecond precision (they sort as text);
-- JSON documents are text.

CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    tenant              TEXT NOT NULL,
    line                TEXT NOT NULL,
    schema_version      BIGINT NOT NULL,
    status              TEXT NOT NULL,
    -- the body exactly as the customer sent it
    submission          TEXT NOT NULL,
    normalized          TEXT NOT NULL,
    -- open problems (JSON array), empty once the order continues
    problems            TEXT NOT NULL,
    customer_reference  TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    -- optimistic concurrency for staff actions
    revision            BIGINT NOT NULL
);
CREATE INDEX orders_tenant_created ON orders (tenant, created_at);
CREATE INDEX orders_status_created ON orders (status, created_at);

CREATE TABLE order_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    -- customer-facing text
    message     TEXT NOT NULL,
    -- internal detail (JSON), never shown to customers
    detail      TEXT,
    UNIQUE (order_id, seq)
);

CREATE TABLE idempotency_keys (
    tenant        TEXT NOT NULL,
    key           TEXT NOT NULL,
    line          TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    order_id      TEXT NOT NULL REFERENCES orders (id),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- The outbox: a job is written in the same transaction that accepts (or
-- releases) an order; dispatch workers take it from here.
CREATE TABLE dispatch_jobs (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL REFERENCES orders (id),
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    available_at  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX dispatch_jobs_state_available ON dispatch_jobs (state, available_at);
