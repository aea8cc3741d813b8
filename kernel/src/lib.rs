//! # Order Hub kernel
//!
//! Takes customer orders in, normalizes and validates them against their
//! business line's schema, parks fixable ones for staff review, and keeps
//! every step durable and audited.
//!
//! # Layout
//!
//! Data flows one way through these modules (see `ARCHITECTURE.md`):
//!
//! - [`config`]: `hub.toml` + environment → a checked [`config::HubConfig`].
//! - [`schema`]: loads and checks `schemas/*.json` into a [`schema::SchemaRegistry`].
//! - [`normalize`]: messy order → canonical order + problems (schema-driven).
//! - [`validate`]: normalization + JSON Schema → a [`validate::Verdict`].
//! - [`intake`]: accepts an order durably (idempotency, one transaction).
//! - [`review`]: the staff review queue: list, release with corrections, reject.
//! - [`timeline`]: the event vocabulary and actors of the audit trail.
//! - [`store`]: sqlx persistence on SQLite (default) or PostgreSQL.
//! - [`auth`]: API keys → principals and roles.
//! - [`dispatch`]: outbox jobs → plugin calls: leases, retries, breakers, dead letters.
//! - [`replies`]: answers after submit: callbacks, AMQP replies, polling, correlation, reply deadlines.
//! - [`responses`]: OPS response folders on FTP/SFTP: stable-size pickup, archive, error folder.
//! - [`dlq`]: dead letters: list, inspect, replay (API and CLI).
//! - [`route`]: routing rules → the OPS target of a normalized order, with reasons.
//! - [`sandbox`]: runs OPS plugins (WebAssembly components) under limits.
//! - [`transports`]: HTTP, AMQP, files — what plugins borrow to reach an OPS.
//! - [`plugins`]: a hub's installed plugins and its targets, bound at start-up.
//! - [`plugin_test`]: `hub plugin test` — recorded cases, no network.
//! - [`secret`]: credentials that never print.
//! - [`server`]: a whole hub (store, plugins, dispatcher, consumers, pollers, API) in one call.
//! - [`api`]: the HTTP surface (axum); the only module that knows HTTP.
//! - [`telemetry`]: tracing set-up.
//! - [`webhooks`]: customers' webhook subscriptions: signed CloudEvents, retries, the SSRF guard.

pub mod api;
pub mod auth;
pub mod config;
pub mod dispatch;
pub mod dlq;
pub mod intake;
pub mod normalize;
pub mod plugin_test;
pub mod plugins;
pub mod problem;
pub mod replies;
pub mod responses;
pub mod review;
pub mod route;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod transports;
pub mod validate;
pub mod webhooks;
