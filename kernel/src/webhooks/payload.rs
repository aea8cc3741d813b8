//! What a webhook carries: a CloudEvents 1.0 JSON document (structured
//! mode) built from a timeline event and its order.
//!
//! Why CloudEvents: receivers get the event's identity, source, type and
//! time in standard attributes any CloudEvents SDK reads, and the hub's own
//! fields under `data`.
//!
//! **Invariant:** only what the customer sees on the order's timeline goes
//! out — kind, customer-facing message, actor, status — never the event's
//! internal `detail` (which has no place in [`OrderEventFacts`] at all).

use serde_json::{Value, json};

use crate::timeline::{Actor, EventKind};

/// Media type of a structured-mode CloudEvent in JSON.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// `type` of every order event is this + the event kind.
pub const ORDER_EVENT_TYPE_PREFIX: &str = "com.order-hub.order.";
/// `type` of a test delivery (`POST /v1/subscriptions/{id}/test`).
pub const PING_TYPE: &str = "com.order-hub.ping";

/// The customer-visible facts of one timeline event.
#[derive(Debug, Clone)]
pub struct OrderEventFacts<'a> {
    pub event_id: &'a str,
    pub kind: EventKind,
    pub at: &'a str,
    pub actor: &'a Actor,
    /// Customer-facing text of the event.
    pub message: &'a str,
    /// Customer-visible structured facts of the event (milestone, amount, …).
    pub data: Option<&'a Value>,
    pub order_id: &'a str,
    pub line: &'a str,
    pub customer_reference: Option<&'a str>,
    /// The order's status right after the event.
    pub status: &'a str,
}

/// `com.order-hub.order.<kind>`.
pub fn order_event_type(kind: EventKind) -> String {
    format!("{ORDER_EVENT_TYPE_PREFIX}{}", kind.as_str())
}

/// The CloudEvent of an order's timeline event.
pub fn order_event(facts: &OrderEventFacts<'_>) -> Value {
    json!({
        "specversion": "1.0",
        "id": facts.event_id,
        "source": format!("/order-hub/orders/{}", facts.order_id),
        "type": order_event_type(facts.kind),
        "subject": facts.order_id,
        "time": facts.at,
        "datacontenttype": "application/json",
        "data": {
            "order_id": facts.order_id,
            "line": facts.line,
            "customer_reference": facts.customer_reference,
            "status": facts.status,
            "kind": facts.kind.as_str(),
            "message": facts.message,
            // as on the timeline: {"kind": "system"}, {"kind": "target", "id": "freight-ops"}, …
            "actor": facts.actor,
            "data": facts.data,
        },
    })
}

/// The CloudEvent of a test delivery.
pub fn ping(ping_id: &str, subscription_id: &str, at: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": ping_id,
        "source": format!("/order-hub/subscriptions/{subscription_id}"),
        "type": PING_TYPE,
        "subject": subscription_id,
        "time": at,
        "datacontenttype": "application/json",
        "data": {
            "subscription_id": subscription_id,
            "message": "test delivery: this endpoint receives Order Hub events",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_events_are_cloudevents_without_internal_detail() {
        let actor = Actor::Target("freight-ops".into());
        let event = order_event(&OrderEventFacts {
            event_id: "e1",
            kind: EventKind::InProgress,
            at: "2026-03-01T08:00:00.000000Z",
            actor: &actor,
            message: "已装船 loaded on board",
            data: Some(&json!({"milestone": "loaded"})),
            order_id: "o1",
            line: "freight-booking",
            customer_reference: Some("PO-1"),
            status: "in-progress",
        });
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["type"], "com.order-hub.order.in-progress");
        assert_eq!(event["source"], "/order-hub/orders/o1");
        assert_eq!(event["subject"], "o1");
        assert_eq!(event["data"]["message"], "已装船 loaded on board");
        assert_eq!(event["data"]["data"], json!({"milestone": "loaded"}));
        assert_eq!(event["data"]["actor"], json!({"kind": "target", "id": "freight-ops"}));
        assert!(event.get("detail").is_none() && event["data"].get("detail").is_none());
    }
}
