//! Reference plugin: warehouse orders to a WMS over RabbitMQ request/reply.
//!
//! Many warehouse systems take work from a message broker rather than an
//! HTTP API: the WMS consumes a request queue at its own pace and answers on
//! a reply queue, often several times per order (accepted, picking,
//! shipped). So `submit` cannot wait for a booking: the broker's publisher
//! confirm means the order is *handed over*, and the plugin answers
//! `pending(correlation id)`. Everything the WMS says afterwards arrives
//! through `on_inbound` and becomes feedback.
//!
//! **Request** (`submit`): one JSON message (UTF-8, `content-type:
//! application/json`) published to the target's exchange with the routing
//! key of setting `routing_key` (default `wms.order.create`; it must also be
//! one of the target's allowed routing keys). `message-id` and
//! `correlation-id` are both the order's idempotency key — stable across
//! retries and replays, so a WMS that deduplicates on message id books the
//! order once however often the hub re-sends it — and `expect-reply` asks
//! the hub to set `reply-to` to the target's reply queue. Headers:
//! `x-hub-order-id`, `x-hub-attempt`. The body is [`WmsOrder`].
//!
//! **Reply** (`on_inbound`): a JSON [`WmsReply`] on the reply queue, with
//! the request's correlation id in the AMQP `correlation-id` property and/or
//! the body's `correlation_id`. Statuses map to feedback and milestones
//! (see [`feedback_status`]: RECEIVING → received-at-warehouse, PACKED →
//! packed, RECEIVED → completed + stored, SHIPPED → completed + shipped);
//! the WMS's `message` is the customer's text (without one the hub writes
//! it). A status this plugin does not know is kept as `in-progress` with
//! the WMS's raw code for staff, because dropping an answer we do not
//! understand would hide it from the operator, while failing it would only
//! park it in the unmatched list. WMS field names in `errors` are
//! mapped back to JSON Pointers into the hub's normalized order, so the
//! customer sees which of *their* fields is wrong. A reply that is not the
//! expected JSON is refused with the parser's line and column.

use hub_plugin_sdk::{
    Failure, FailureExt, Feedback, FeedbackStatus, Inbound, Milestone, Order, Outcome, OutcomeExt, Plugin, Reason,
    amqp, config, export_plugin, log,
};
use serde::{Deserialize, Serialize};

struct WarehouseAmqp;

export_plugin!(WarehouseAmqp);

/// The routing key used when the target's settings name none.
const DEFAULT_ROUTING_KEY: &str = "wms.order.create";

/// The hub's normalized warehouse order (`schemas/warehouse-order.v1.json`).
#[derive(Deserialize)]
struct WarehouseOrder {
    customer_reference: Option<String>,
    direction: String,
    warehouse_code: String,
    expected_date: String,
    reference_numbers: ReferenceNumbers,
    contact: Option<Contact>,
    lines: Vec<Line>,
}

#[derive(Deserialize)]
struct ReferenceNumbers {
    customer_order_no: String,
    po_no: Option<String>,
    asn_no: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct Contact {
    name: String,
    phone: String,
}

#[derive(Deserialize)]
struct Line {
    sku: String,
    description: Option<String>,
    /// Kept as the JSON number it was (1200 stays 1200, not 1200.0).
    quantity: serde_json::Number,
    unit: String,
    batch_no: Option<String>,
}

/// The WMS's order message.
#[derive(Serialize)]
struct WmsOrder<'a> {
    message_type: &'static str,
    /// The hub's idempotency key: the WMS deduplicates on it.
    order_ref: &'a str,
    hub_order_id: &'a str,
    customer: &'a str,
    client_reference: Option<&'a str>,
    order_type: &'a str,
    warehouse: &'a str,
    expected_date: &'a str,
    customer_order_no: &'a str,
    po_no: Option<&'a str>,
    asn_no: Option<&'a str>,
    contact: Option<&'a Contact>,
    lines: Vec<WmsLine<'a>>,
}

#[derive(Serialize)]
struct WmsLine<'a> {
    /// 1-based, for people reading the WMS screens.
    line_no: usize,
    sku: &'a str,
    description: Option<&'a str>,
    qty: &'a serde_json::Number,
    uom: &'a str,
    batch: Option<&'a str>,
}

/// What the WMS answers on the reply queue. Fields this plugin does not
/// know are ignored: a WMS upgrade that adds one must not make every reply
/// unreadable.
#[derive(Deserialize)]
struct WmsReply {
    correlation_id: Option<String>,
    status: String,
    wms_ref: Option<String>,
    message: Option<String>,
    event_time: Option<String>,
    #[serde(default)]
    errors: Vec<WmsError>,
}

#[derive(Deserialize)]
struct WmsError {
    field: Option<String>,
    code: String,
    message: String,
}

impl Plugin for WarehouseAmqp {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let warehouse_order: WarehouseOrder = order.payload_as()?;
        let message = to_wms(&order, &warehouse_order);
        let body = serde_json::to_vec(&message)
            .map_err(|error| Failure::permanent(format!("cannot encode the WMS order as JSON: {error}")))?;
        let routing_key = config::get("routing_key").unwrap_or_else(|| DEFAULT_ROUTING_KEY.to_owned());
        amqp::publish(&amqp::Message {
            routing_key: routing_key.clone(),
            body,
            content_type: Some("application/json".to_owned()),
            message_id: Some(order.idempotency_key.clone()),
            correlation_id: Some(order.idempotency_key.clone()),
            expect_reply: true,
            headers: vec![
                ("x-hub-order-id".to_owned(), order.id.clone()),
                ("x-hub-attempt".to_owned(), order.attempt.to_string()),
            ],
        })
        .map_err(|error| Failure::from_transport(&format!("publish to the WMS ({routing_key})"), error))?;
        log::info(&format!(
            "order {} handed to the WMS with routing key {routing_key}; waiting for its reply",
            order.id
        ));
        Ok(Outcome::pending(order.idempotency_key))
    }

    fn on_inbound(message: Inbound) -> Result<Vec<Feedback>, Failure> {
        let what = describe(&message);
        if message.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Failure::permanent(format!(
                "{what} has an empty body; expected a JSON object"
            )));
        }
        let reply: WmsReply = serde_json::from_slice(&message.body)
            .map_err(|error| Failure::permanent(format!("{what} is not a WMS status reply: {error}")))?;
        let correlation_id = match (reply.correlation_id.clone(), message.correlation_id.clone()) {
            (Some(in_body), Some(property)) if in_body != property => {
                return Err(Failure::permanent(format!(
                    "{what}: body correlation_id `{in_body}` differs from the AMQP correlation-id `{property}`"
                )));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                return Err(Failure::permanent(format!(
                    "{what} names no order: no AMQP correlation-id and no `correlation_id` in the body"
                )));
            }
        };
        Ok(vec![to_feedback(reply, correlation_id)])
    }
}

fn to_wms<'a>(order: &'a Order, warehouse_order: &'a WarehouseOrder) -> WmsOrder<'a> {
    WmsOrder {
        message_type: "ORDER_CREATE",
        order_ref: &order.idempotency_key,
        hub_order_id: &order.id,
        customer: &order.customer,
        client_reference: warehouse_order.customer_reference.as_deref(),
        order_type: &warehouse_order.direction,
        warehouse: &warehouse_order.warehouse_code,
        expected_date: &warehouse_order.expected_date,
        customer_order_no: &warehouse_order.reference_numbers.customer_order_no,
        po_no: warehouse_order.reference_numbers.po_no.as_deref(),
        asn_no: warehouse_order.reference_numbers.asn_no.as_deref(),
        contact: warehouse_order.contact.as_ref(),
        lines: warehouse_order
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| WmsLine {
                line_no: index + 1,
                sku: &line.sku,
                description: line.description.as_deref(),
                qty: &line.quantity,
                uom: &line.unit,
                batch: line.batch_no.as_deref(),
            })
            .collect(),
    }
}

/// "WMS reply `<message id>`" for error messages: which message failed.
fn describe(message: &Inbound) -> String {
    match (&message.name, &message.correlation_id) {
        (Some(name), _) => format!("WMS reply (message id `{name}`)"),
        (None, Some(correlation_id)) => format!("WMS reply (correlation id `{correlation_id}`)"),
        (None, None) => "WMS reply".to_owned(),
    }
}

/// The WMS's statuses in the hub's vocabulary, with the milestone each
/// implies; `None` for a status this plugin does not know. Inbound orders go
/// RECEIVING → PUTAWAY → RECEIVED, outbound ones ALLOCATED → PICKING →
/// PACKED → SHIPPED.
fn feedback_status(wms_status: &str) -> Option<(FeedbackStatus, Option<Milestone>)> {
    use FeedbackStatus::{Accepted, Cancelled, Completed, Failed, InProgress, Rejected};
    Some(match wms_status.to_ascii_uppercase().as_str() {
        // DUPLICATE: the WMS already had this message id and answers with the first booking.
        "ACCEPTED" | "DUPLICATE" => (Accepted, None),
        "REJECTED" => (Rejected, None),
        "RECEIVING" => (InProgress, Some(Milestone::ReceivedAtWarehouse)),
        "PUTAWAY" | "ALLOCATED" | "PICKING" => (InProgress, None),
        "PACKED" => (InProgress, Some(Milestone::Packed)),
        "RECEIVED" => (Completed, Some(Milestone::Stored)),
        "SHIPPED" => (Completed, Some(Milestone::Shipped)),
        "COMPLETED" => (Completed, None),
        "FAILED" => (Failed, None),
        "CANCELLED" => (Cancelled, None),
        _ => return None,
    })
}

fn to_feedback(reply: WmsReply, correlation_id: String) -> Feedback {
    let feedback = match feedback_status(&reply.status) {
        Some((status, milestone)) => Feedback::new(status).with_milestone(milestone),
        None => {
            log::warn(&format!(
                "WMS status `{}` is not known to this plugin; kept as in progress",
                reply.status
            ));
            Feedback::in_progress()
        }
    };
    feedback
        .with_correlation_id(correlation_id)
        .with_ops_ref(reply.wms_ref)
        .with_code(reply.status)
        .with_message(reply.message)
        .with_occurred_at(reply.event_time)
        .with_reasons(reply.errors.into_iter().map(to_reason).collect())
}

fn to_reason(error: WmsError) -> Reason {
    Reason {
        field: error.field.as_deref().and_then(order_pointer),
        code: error.code,
        message: error.message,
    }
}

/// A WMS field name (as in [`WmsOrder`]) as a JSON Pointer into the hub's
/// normalized order; `None` for names the order has no field for. Line
/// indexes are 0-based array indexes: `lines[1].qty` is the second line.
fn order_pointer(wms_field: &str) -> Option<String> {
    let fixed = match wms_field {
        "client_reference" => "/customer_reference",
        "order_type" => "/direction",
        "warehouse" => "/warehouse_code",
        "expected_date" => "/expected_date",
        "customer_order_no" => "/reference_numbers/customer_order_no",
        "po_no" => "/reference_numbers/po_no",
        "asn_no" => "/reference_numbers/asn_no",
        "contact" => "/contact",
        "contact.name" => "/contact/name",
        "contact.phone" => "/contact/phone",
        "lines" => "/lines",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_owned());
    }
    let rest = wms_field.strip_prefix("lines[")?;
    let (index, field) = rest.split_once(']')?;
    let index: usize = index.parse().ok()?;
    let field = match field {
        "" => return Some(format!("/lines/{index}")),
        ".sku" => "sku",
        ".description" => "description",
        ".qty" => "quantity",
        ".uom" => "unit",
        ".batch" => "batch_no",
        _ => return None,
    };
    Some(format!("/lines/{index}/{field}"))
}
