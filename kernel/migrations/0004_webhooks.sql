-- Webhook subscriptions (customers' endpoints and event filters) and their
-- deliveries (one row per subscription × timeline event, written in the
-- transaction that appends the event). Portable SQL (SQLite and
-- PostgreSQL): times are RFC 3339 UTC text, JSON is text.

CREATE TABLE webhook_subscriptions (
    id                     TEXT PRIMARY KEY,
    tenant                 TEXT NOT NULL,
    url                    TEXT NOT NULL,
    -- JSON array of event kinds ("accepted", "in-progress", …) or ["*"]
    events                 TEXT NOT NULL,
    -- whsec_… (the HMAC key is its base64 part); shown once, never listed
    secret                 TEXT NOT NULL,
    -- the secret before the last rotation, also signing until previous_secret_until
    previous_secret        TEXT,
    previous_secret_until  TEXT,
    description            TEXT NOT NULL,
    -- enabled | disabled
    state                  TEXT NOT NULL,
    disabled_at            TEXT,
    disabled_reason        TEXT,
    -- first failure since the last success; the endpoint is disabled when
    -- it is still failing disable_after_ms later
    failing_since          TEXT,
    created_by             TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant, created_at);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    -- the timeline event (CloudEvents id), or a ping's own id
    event_id         TEXT NOT NULL,
    -- NULL for a ping
    order_id         TEXT,
    -- CloudEvents type, e.g. com.order-hub.order.accepted
    event_type       TEXT NOT NULL,
    -- the CloudEvents JSON exactly as sent on every attempt
    payload          TEXT NOT NULL,
    -- pending | leased | delivered | failed | held
    state            TEXT NOT NULL,
    -- attempts in the current round (enable starts a new round)
    attempts         BIGINT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_until      TEXT,
    -- HTTP status of the last attempt (NULL: no answer — timeout, refused, …)
    last_status      BIGINT,
    last_error       TEXT,
    last_attempt_at  TEXT,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at);
