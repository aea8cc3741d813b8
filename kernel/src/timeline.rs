//! The audit trail's vocabulary: order statuses, event kinds and actors.
//!
//! The vocabulary is the hub's own and the same for every business line and
//! every OPS; the portal never has to learn an OPS's codes.

use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderStatus {
    /// Waiting for staff to fix reviewable problems.
    NeedsReview,
    /// Accepted and waiting in the outbox for dispatch.
    Queued,
    /// Refused by staff in review or by the OPS (customer-facing reasons on the timeline).
    Rejected,
    /// Handed to the OPS; its answer is awaited (correlation ledger).
    Submitted,
    /// Booked by the OPS (the OPS reference is on the timeline).
    Accepted,
    /// The OPS reported progress (a milestone is on the timeline).
    InProgress,
    Completed,
    Cancelled,
    /// Delivery gave up (retries exhausted or a permanent failure): a dead
    /// letter an operator can replay.
    Failed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::NeedsReview => "needs-review",
            OrderStatus::Queued => "queued",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Submitted => "submitted",
            OrderStatus::Accepted => "accepted",
            OrderStatus::InProgress => "in-progress",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::NeedsReview,
        OrderStatus::Queued,
        OrderStatus::Rejected,
        OrderStatus::Submitted,
        OrderStatus::Accepted,
        OrderStatus::InProgress,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What happened, as recorded on an order's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Received,
    Normalized,
    NeedsReview,
    Reviewed,
    Queued,
    Rejected,
    /// One delivery attempt failed; a retry is scheduled.
    AttemptFailed,
    /// Handed to the OPS (with its correlation id when an answer is awaited).
    Submitted,
    Accepted,
    InProgress,
    Completed,
    Cancelled,
    /// Retries exhausted or a permanent failure: parked as a dead letter.
    Failed,
    /// An operator sent a dead letter again.
    Replayed,
    /// The OPS did not answer within the target's reply deadline.
    ReplyOverdue,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Received => "received",
            EventKind::Normalized => "normalized",
            EventKind::NeedsReview => "needs-review",
            EventKind::Reviewed => "reviewed",
            EventKind::Queued => "queued",
            EventKind::Rejected => "rejected",
            EventKind::AttemptFailed => "attempt-failed",
            EventKind::Submitted => "submitted",
            EventKind::Accepted => "accepted",
            EventKind::InProgress => "in-progress",
            EventKind::Completed => "completed",
            EventKind::Cancelled => "cancelled",
            EventKind::Failed => "failed",
            EventKind::Replayed => "replayed",
            EventKind::ReplyOverdue => "reply-overdue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use EventKind::*;
        [
            Received,
            Normalized,
            NeedsReview,
            Reviewed,
            Queued,
            Rejected,
            AttemptFailed,
            Submitted,
            Accepted,
            InProgress,
            Completed,
            Cancelled,
            Failed,
            Replayed,
            ReplyOverdue,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Who or what did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Actor {
    /// The hub itself.
    System,
    /// A customer's API key, by principal id.
    Customer(String),
    /// A staff member, by principal id.
    Staff(String),
    /// An OPS, by target name (its answers and reports).
    Target(String),
}

impl Actor {
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::System => ("system", "hub"),
            Actor::Customer(id) => ("customer", id),
            Actor::Staff(id) => ("staff", id),
            Actor::Target(name) => ("target", name),
        }
    }

    pub fn from_parts(kind: &str, id: String) -> Self {
        match kind {
            "customer" => Actor::Customer(id),
            "staff" => Actor::Staff(id),
            "target" => Actor::Target(id),
            _ => Actor::System,
        }
    }
}

/// An event about to be appended to a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor: Actor,
    /// Customer-facing text.
    pub message: String,
    /// Internal detail; never shown to customers.
    pub detail: Option<serde_json::Value>,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor: Actor, message: impl Into<String>) -> Self {
        NewEvent {
            kind,
            actor,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub id: String,
    pub seq: i64,
    pub kind: EventKind,
    pub at: String,
    pub actor: Actor,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}
