//! Webhook subscriptions: the portal learns what happens to its orders
//! without polling. A customer registers an endpoint with an event filter;
//! every matching timeline event of its tenant's orders is sent there as a
//! signed CloudEvent.
//!
//! Why each piece:
//! - [`signing`]: Standard Webhooks signatures, so receivers verify with
//!   any library; two signatures while a rotated secret overlaps.
//! - [`payload`]: CloudEvents 1.0 JSON; what the customer sees on the
//!   timeline, never the internal `detail`.
//! - [`ssrf`]: customers choose the URLs, so the hub refuses to call its
//!   own network — at registration and again at every delivery (DNS can
//!   change in between).
//! - [`delivery`]: one attempt, and the retry schedule with jitter.
//! - [`worker`]: the node's delivery loop: lease due deliveries, send,
//!   record, disable endpoints that keep failing.
//!
//! **Guarantees**
//! - *Nothing is lost*: a delivery row is written in the transaction that
//!   appends its event ([`crate::store`]); a node that dies mid-delivery
//!   leaves a lease that expires, and any node sends it again.
//! - *At-least-once*: the `webhook-id` header (the delivery id) is the same
//!   on every attempt, so receivers can drop repeats.
//! - *A failing endpoint costs the others nothing*: attempts are bounded by
//!   a timeout and the node's concurrency, and an endpoint failing for
//!   `disable_after_ms` is disabled; its events are kept as held
//!   deliveries until it is enabled again.

pub mod delivery;
pub mod payload;
pub mod signing;
pub mod ssrf;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use delivery::{AttemptOutcome, RetrySchedule, Sender};
pub use signing::{SecretError, SigningSecret};
pub use ssrf::{TargetPolicy, TargetRefused};
pub use worker::Worker;

use crate::config::WebhooksConfig;

/// The event filter entry that matches every event kind.
pub const ALL_EVENTS: &str = "*";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

/// What the API and the worker of one node share: the guard's policy, the
/// limits, and the bell that wakes the worker after the API queued work.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub policy: TargetPolicy,
    pub secret_overlap: Duration,
    pub max_subscriptions_per_tenant: u32,
    bell: Arc<Notify>,
}

impl WebhookSettings {
    pub fn from_config(config: &WebhooksConfig) -> Self {
        WebhookSettings {
            policy: TargetPolicy {
                allow_private_targets: config.allow_private_targets,
                allow_insecure_http: config.allow_insecure_http,
            },
            secret_overlap: Duration::from_millis(config.secret_overlap_ms),
            max_subscriptions_per_tenant: config.max_subscriptions_per_tenant,
            bell: Arc::new(Notify::new()),
        }
    }

    /// Wakes this node's worker (after a commit that made deliveries due).
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    fn bell(&self) -> Arc<Notify> {
        self.bell.clone()
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings::from_config(&WebhooksConfig::default())
    }
}
