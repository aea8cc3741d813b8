//! The audit trail's vocabulary: order statuses, event kinds and actors.
//!
//! The vocabulary is the hub's own and the same for every business line and
//! every OPS; the portal never has to learn an OPS's codes.

use serde::{Deserialize, Serialize};

/// A closed vocabulary from one table: the enum, its text form (serde,
/// [`as_str`](OrderStatus::as_str), [`parse`](OrderStatus::parse)) and
/// `ALL` are generated from the same `Variant = "text"` list, so the
/// strings are written once and cannot drift apart.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        $vis enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in the table's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text form, as stored and as the API shows it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value of a text form; `None` for text outside the vocabulary.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Where an order stands. (`received`, `reviewed` and `replayed` are
    /// moments, not states: they are [`EventKind`]s only; the order moves on
    /// to `queued` or `needs-review` in the same transaction.)
    pub enum OrderStatus {
        /// Waiting for staff to fix reviewable problems.
        NeedsReview = "needs-review",
        /// Accepted and waiting in the outbox for dispatch.
        Queued = "queued",
        /// Refused by staff in review or by the OPS (customer-facing reasons on the timeline).
        Rejected = "rejected",
        /// Handed to the OPS; its answer is awaited (correlation ledger).
        Submitted = "submitted",
        /// Booked by the OPS (the OPS reference is on the timeline).
        Accepted = "accepted",
        /// The OPS reported progress (a milestone, when it named one, is in the event's data).
        InProgress = "in-progress",
        Completed = "completed",
        Cancelled = "cancelled",
        /// Delivery gave up (retries exhausted or a permanent failure): a dead
        /// letter an operator can replay.
        Failed = "failed",
    }
}

vocabulary! {
    /// What happened, as recorded on an order's timeline.
    pub enum EventKind {
        Received = "received",
        Normalized = "normalized",
        NeedsReview = "needs-review",
        Reviewed = "reviewed",
        Queued = "queued",
        Rejected = "rejected",
        /// One delivery attempt failed; a retry is scheduled.
        AttemptFailed = "attempt-failed",
        /// Handed to the OPS (with its correlation id when an answer is awaited).
        Submitted = "submitted",
        /// Booked by the OPS; data `{"ops_ref"}`.
        Accepted = "accepted",
        /// Progress; data `{"milestone"}` when the OPS named one.
        InProgress = "in-progress",
        Completed = "completed",
        Cancelled = "cancelled",
        /// Retries exhausted or a permanent failure: parked as a dead letter.
        Failed = "failed",
        /// An operator sent a dead letter again.
        Replayed = "replayed",
        /// The OPS did not answer within the target's reply deadline.
        ReplyOverdue = "reply-overdue",
        /// Finance: the OPS confirmed a charge; data `{"amount", "currency"}`.
        /// Finance events never change the order's status.
        ChargeConfirmed = "charge-confirmed",
        /// Finance: an invoice was issued; data `{"document", "amount", "currency"}`.
        InvoiceIssued = "invoice-issued",
        /// Finance: the customer's payment was received; data `{"amount", "currency"}`.
        PaymentReceived = "payment-received",
    }
}

impl EventKind {
    /// Finance events: they add to the timeline and leave the status alone.
    pub fn is_finance(self) -> bool {
        matches!(
            self,
            EventKind::ChargeConfirmed | EventKind::InvoiceIssued | EventKind::PaymentReceived
        )
    }
}

vocabulary! {
    /// Where the goods are: the logistics milestones an OPS reports (as
    /// `in-progress`, or with `completed` for `delivered`/`shipped`), the
    /// same for every OPS. On the timeline it is the event's data
    /// `{"milestone": "departed"}`.
    pub enum Milestone {
        /// The carrier collected the goods from the shipper.
        PickedUp = "picked-up",
        /// The goods arrived at a warehouse and were checked in.
        ReceivedAtWarehouse = "received-at-warehouse",
        /// Put away: in stock at the warehouse.
        Stored = "stored",
        /// Picked and packed at the warehouse, ready to leave.
        Packed = "packed",
        /// Left the warehouse.
        Shipped = "shipped",
        /// Loaded on the vessel, aircraft, train or truck.
        Loaded = "loaded",
        /// The vessel, aircraft, train or truck left the origin.
        Departed = "departed",
        /// Arrived at the destination port, airport or hub.
        Arrived = "arrived",
        /// Released by customs.
        CustomsCleared = "customs-cleared",
        /// Held (customs inspection, damage, missing papers) until further notice.
        Held = "held",
        /// On the vehicle for the last leg to the consignee.
        OutForDelivery = "out-for-delivery",
        /// Handed to the consignee.
        Delivered = "delivered",
    }
}

impl Milestone {
    /// What the customer reads when the OPS gave no text of its own.
    pub fn customer_message(self) -> &'static str {
        match self {
            Milestone::PickedUp => "Picked up from the shipper",
            Milestone::ReceivedAtWarehouse => "Received at the warehouse",
            Milestone::Stored => "Stored at the warehouse",
            Milestone::Packed => "Picked and packed at the warehouse",
            Milestone::Shipped => "Shipped from the warehouse",
            Milestone::Loaded => "Loaded for transport",
            Milestone::Departed => "Departed from origin",
            Milestone::Arrived => "Arrived at destination",
            Milestone::CustomsCleared => "Cleared by customs",
            Milestone::Held => "On hold; we will tell you as soon as it moves again",
            Milestone::OutForDelivery => "Out for delivery",
            Milestone::Delivered => "Delivered",
        }
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
    /// Customer-visible structured facts (a milestone, an amount, the OPS
    /// reference, reasons); shown to everyone who may read the order.
    pub data: Option<serde_json::Value>,
    /// Internal detail; never shown to customers.
    pub detail: Option<serde_json::Value>,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor: Actor, message: impl Into<String>) -> Self {
        NewEvent {
            kind,
            actor,
            message: message.into(),
            data: None,
            detail: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
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
    /// Customer-visible structured facts, see [`NewEvent::data`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Staff only: the API removes it for customers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde, `as_str` and `parse` agree for every word of every vocabulary.
    #[test]
    fn text_forms_agree() {
        fn check<T: Copy + PartialEq + std::fmt::Debug + Serialize>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            let mut seen = std::collections::BTreeSet::new();
            for &value in all {
                let text = as_str(value);
                assert!(seen.insert(text), "`{text}` twice");
                assert_eq!(serde_json::to_value(value).ok(), Some(serde_json::json!(text)));
                assert_eq!(parse(text), Some(value));
            }
        }
        check(OrderStatus::ALL, OrderStatus::as_str, OrderStatus::parse);
        check(EventKind::ALL, EventKind::as_str, EventKind::parse);
        check(Milestone::ALL, Milestone::as_str, Milestone::parse);
        assert_eq!(EventKind::parse("no-such-kind"), None);
        assert_eq!(EventKind::ALL.len(), 18);
        assert_eq!(Milestone::ALL.len(), 12);
    }
}
