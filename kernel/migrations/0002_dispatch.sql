-- Durable dispatch: leases on outbox jobs, attempt history, dead letters,
-- the reply correlation ledger, unmatched replies and node leases for
-- single-node pollers. Portable SQL (SQLite and PostgreSQL); one column per
-- ALTER TABLE because SQLite allows no more.

-- The OPS target chosen by routing when the job was queued; '' = no route
-- (the hub had no routing rules), such a job is never taken.
ALTER TABLE dispatch_jobs ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE dispatch_jobs ADD COLUMN line TEXT NOT NULL DEFAULT '';
-- Who holds the job while state = 'leased', until when, and the token that
-- fences a worker whose lease expired and was taken by another.
ALTER TABLE dispatch_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE dispatch_jobs ADD COLUMN lease_token TEXT;
ALTER TABLE dispatch_jobs ADD COLUMN lease_until TEXT;
-- Last failure (JSON: kind, detail) and when the job was dead-lettered.
ALTER TABLE dispatch_jobs ADD COLUMN last_error TEXT;
ALTER TABLE dispatch_jobs ADD COLUMN last_error_kind TEXT;
ALTER TABLE dispatch_jobs ADD COLUMN dead_at TEXT;
ALTER TABLE dispatch_jobs ADD COLUMN replays BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dispatch_jobs ADD COLUMN updated_at TEXT;
CREATE INDEX dispatch_jobs_target_state ON dispatch_jobs (target, state, available_at);
CREATE INDEX dispatch_jobs_dead ON dispatch_jobs (state, dead_at);

-- One row per finished attempt (an attempt cut off by a crash leaves a gap
-- between attempt numbers, which `hub dlq show` reports). `round` counts
-- replays: attempts restart at 1 after each.
CREATE TABLE dispatch_attempts (
    job_id          TEXT NOT NULL REFERENCES dispatch_jobs (id),
    round           BIGINT NOT NULL,
    attempt         BIGINT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    node            TEXT NOT NULL,
    plugin          TEXT NOT NULL,
    plugin_version  TEXT NOT NULL,
    -- accepted | pending | rejected | retry | dead | lost-lease
    outcome         TEXT NOT NULL,
    error_kind      TEXT,
    detail          TEXT,
    PRIMARY KEY (job_id, round, attempt)
);

-- The correlation ledger: orders whose OPS answers later.
CREATE TABLE reply_ledger (
    target          TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    submitted_at    TEXT NOT NULL,
    -- when the first answer must have arrived ('' = no deadline)
    reply_due       TEXT NOT NULL,
    -- waiting | answered | closed
    state           TEXT NOT NULL,
    overdue_at      TEXT,
    ops_ref         TEXT,
    -- status + code of the last feedback applied, so repeated reports
    -- (a poll that sees the same status) add nothing
    last_report     TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (target, correlation_id)
);
CREATE INDEX reply_ledger_order ON reply_ledger (order_id);
CREATE INDEX reply_ledger_due ON reply_ledger (state, reply_due);

-- Answers that matched no order: kept for an operator, never dropped.
CREATE TABLE unmatched_replies (
    id              TEXT PRIMARY KEY,
    target          TEXT NOT NULL,
    source          TEXT NOT NULL,
    correlation_id  TEXT,
    received_at     TEXT NOT NULL,
    -- why it matched nothing (or why the plugin could not read it)
    reason          TEXT NOT NULL,
    -- the plugin's feedback (JSON) when it produced any
    feedback        TEXT,
    -- the raw message, base64
    body            TEXT NOT NULL,
    content_type    TEXT
);
CREATE INDEX unmatched_replies_received ON unmatched_replies (received_at);

-- Leases for work that must run on exactly one node (pollers, deadline
-- sweeps); `token` grows with every change of owner (fencing).
CREATE TABLE node_leases (
    name    TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    token   BIGINT NOT NULL,
    until   TEXT NOT NULL
);
