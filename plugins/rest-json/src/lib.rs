//! Reference plugin: freight bookings to an OPS with a REST/JSON API.
//!
//! The OPS ("FreightOps") takes `POST {bookings_path}` with a JSON booking and
//! an `Idempotency-Key` header, and answers:
//! - `201`/`200` `{"bookingNo": …}` — booked (200: the same key was booked
//!   before, the OPS returned the first booking);
//! - `202` `{"trackingId": …}` — queued for a clerk; the answer comes later
//!   as a callback (`on_inbound`) or through `GET {bookings_path}/{trackingId}`
//!   (`poll`);
//! - `409` `{"bookingNo": …}` — a duplicate of an existing booking: accepted;
//! - `422` `{"errors": [{"field", "code", "message"}]}` — refused; OPS field
//!   names are mapped back to JSON Pointers into the hub's order so the
//!   customer sees which of *their* fields is wrong;
//! - `400` — the OPS cannot read our message: permanent, a plugin bug;
//! - transport-level statuses (401, 404, 429, 5xx) via
//!   [`ResponseExt::classify`], so retries follow the SDK's rules.
//!
//! Status reports (callback body or `GET` answer: `{"trackingId",
//! "bookingNo", "status", "at", "remarks", "errors", "invoiceNo", "amount",
//! "currency"}`) map to the hub's vocabulary:
//!
//! | FreightOps `status` | feedback | milestone |
//! |---|---|---|
//! | `QUEUED` | in-progress (not reported by `poll`: nothing new) | — |
//! | `CONFIRMED` | accepted | — |
//! | `REJECTED` | rejected, with `errors` as reasons | — |
//! | `LOADED` | in-progress | loaded |
//! | `IN_TRANSIT` | in-progress | departed |
//! | `ARRIVED` | in-progress | arrived |
//! | `CUSTOMS_CLEARED` | in-progress | customs-cleared |
//! | `ON_HOLD` | in-progress | held |
//! | `OUT_FOR_DELIVERY` | in-progress | out-for-delivery |
//! | `DELIVERED` | completed | delivered |
//! | `CANCELLED` | cancelled | — |
//! | `INVOICED` | invoice-issued (`invoiceNo`, `amount` as decimal text or number, `currency`); the status stays | — |
//! | anything else | in-progress with the raw code for staff; never dropped | — |
//!
//! `remarks` is the customer's text; without it the hub writes one.
//!
//! Settings: `bookings_path` (default `bookings`).

use hub_plugin_sdk::{
    Failure, FailureExt, Feedback, FeedbackStatus, Inbound, Milestone, Money, Order, Outcome, OutcomeExt, Plugin,
    Reason, ResponseExt, Waiting, config, export_plugin, http, log,
};
use serde::{Deserialize, Serialize};

struct RestJson;

export_plugin!(RestJson);

/// The hub's normalized freight booking (the fields this OPS needs).
#[derive(Deserialize)]
struct Booking {
    customer_reference: Option<String>,
    shipper: Party,
    consignee: Party,
    origin_port: String,
    destination_port: String,
    service_mode: String,
    incoterm: Option<String>,
    cargo_ready_date: String,
    container_count: Option<u32>,
    cargo_lines: Vec<CargoLine>,
}

#[derive(Deserialize, Serialize)]
struct Party {
    name: String,
    address: Option<String>,
    contact: Option<String>,
    phone: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
struct CargoLine {
    description: String,
    packages: u32,
    package_type: Option<String>,
    gross_weight_kg: f64,
    volume_m3: Option<f64>,
    hs_code: Option<String>,
}

/// FreightOps's booking message.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpsBooking<'a> {
    hub_order_id: &'a str,
    client_reference: Option<&'a str>,
    shipper: &'a Party,
    consignee: &'a Party,
    route: Route<'a>,
    mode: &'a str,
    incoterm: Option<&'a str>,
    ready_date: &'a str,
    containers: Option<u32>,
    cargo: Vec<OpsCargo<'a>>,
    totals: Totals,
}

#[derive(Serialize)]
struct Route<'a> {
    pol: &'a str,
    pod: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpsCargo<'a> {
    description: &'a str,
    pieces: u32,
    package_type: Option<&'a str>,
    weight_kg: f64,
    volume_cbm: Option<f64>,
    hs_code: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    pieces: u64,
    weight_kg: f64,
    volume_cbm: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpsAnswer {
    booking_no: Option<String>,
    tracking_id: Option<String>,
    message: Option<String>,
    #[serde(default)]
    errors: Vec<OpsError>,
}

#[derive(Deserialize)]
struct OpsError {
    field: Option<String>,
    code: String,
    message: String,
}

/// A status report: the body of a callback, or of `GET bookings/{id}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpsStatus {
    booking_no: Option<String>,
    tracking_id: Option<String>,
    status: String,
    at: Option<String>,
    remarks: Option<String>,
    #[serde(default)]
    errors: Vec<OpsError>,
    /// `INVOICED`: the invoice number, amount and currency.
    invoice_no: Option<String>,
    amount: Option<serde_json::Value>,
    currency: Option<String>,
}

fn bookings_path() -> String {
    config::get("bookings_path").unwrap_or_else(|| "bookings".to_owned())
}

impl Plugin for RestJson {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let booking: Booking = order.payload_as()?;
        let message = to_ops(&order.id, &booking);
        let attempt = order.attempt.to_string();
        let response = http::post_json(
            &bookings_path(),
            &message,
            &[("idempotency-key", &order.idempotency_key), ("x-hub-attempt", &attempt)],
        )
        .map_err(|error| Failure::from_transport("POST booking", error))?;
        response
            .classify()
            .map_err(|error| Failure::from_transport("POST booking", error))?;

        match response.status {
            200 | 201 | 409 => {
                let answer: OpsAnswer = response
                    .json()
                    .map_err(|e| Failure::from_transport("booking answer", e))?;
                let booking_no = answer.booking_no.ok_or_else(|| {
                    Failure::permanent(format!(
                        "HTTP {} without a bookingNo: {}",
                        response.status,
                        response.text()
                    ))
                })?;
                if response.status == 409 {
                    log::info(&format!("order {} was already booked as {booking_no}", order.id));
                }
                Ok(match answer.message {
                    Some(text) => Outcome::accepted_with(booking_no, text),
                    None => Outcome::accepted(booking_no),
                })
            }
            202 => {
                let answer: OpsAnswer = response
                    .json()
                    .map_err(|e| Failure::from_transport("booking answer", e))?;
                answer
                    .tracking_id
                    .map(Outcome::pending)
                    .ok_or_else(|| Failure::permanent(format!("HTTP 202 without a trackingId: {}", response.text())))
            }
            422 => {
                let answer: OpsAnswer = response
                    .json()
                    .map_err(|e| Failure::from_transport("booking answer", e))?;
                Ok(Outcome::rejected(answer.errors.into_iter().map(to_reason).collect()))
            }
            400 => Err(Failure::permanent(format!(
                "FreightOps cannot read the booking: {}",
                response.text()
            ))),
            status if status >= 500 => Err(Failure::retryable(format!(
                "FreightOps HTTP {status}: {}",
                response.text()
            ))),
            status => Err(Failure::permanent(format!(
                "unexpected HTTP {status} from FreightOps: {}",
                response.text()
            ))),
        }
    }

    fn on_inbound(message: Inbound) -> Result<Vec<Feedback>, Failure> {
        let report: OpsStatus = serde_json::from_slice(&message.body)
            .map_err(|error| Failure::permanent(format!("callback is not a FreightOps status report: {error}")))?;
        Ok(vec![to_feedback(report, message.correlation_id)])
    }

    fn poll(waiting: Vec<Waiting>) -> Result<Vec<Feedback>, Failure> {
        let mut feedback = Vec::new();
        for order in waiting {
            let path = format!("{}/{}", bookings_path(), order.correlation_id);
            let response = http::get(&path, &[("accept", "application/json")])
                .map_err(|error| Failure::from_transport("GET booking status", error))?;
            response
                .classify()
                .map_err(|error| Failure::from_transport("GET booking status", error))?;
            let report: OpsStatus = response
                .json()
                .map_err(|e| Failure::from_transport("booking status", e))?;
            if report.status != "QUEUED" {
                feedback.push(to_feedback(report, Some(order.correlation_id)));
            }
        }
        Ok(feedback)
    }
}

fn to_ops<'a>(order_id: &'a str, booking: &'a Booking) -> OpsBooking<'a> {
    let cargo: Vec<OpsCargo<'a>> = booking
        .cargo_lines
        .iter()
        .map(|line| OpsCargo {
            description: &line.description,
            pieces: line.packages,
            package_type: line.package_type.as_deref(),
            weight_kg: line.gross_weight_kg,
            volume_cbm: line.volume_m3,
            hs_code: line.hs_code.as_deref(),
        })
        .collect();
    let totals = Totals {
        pieces: booking.cargo_lines.iter().map(|line| u64::from(line.packages)).sum(),
        weight_kg: round3(booking.cargo_lines.iter().map(|line| line.gross_weight_kg).sum()),
        volume_cbm: round3(booking.cargo_lines.iter().filter_map(|line| line.volume_m3).sum()),
    };
    OpsBooking {
        hub_order_id: order_id,
        client_reference: booking.customer_reference.as_deref(),
        shipper: &booking.shipper,
        consignee: &booking.consignee,
        route: Route {
            pol: &booking.origin_port,
            pod: &booking.destination_port,
        },
        mode: &booking.service_mode,
        incoterm: booking.incoterm.as_deref(),
        ready_date: &booking.cargo_ready_date,
        containers: booking.container_count,
        cargo,
        totals,
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// FreightOps names fields its own way; the customer needs the hub's.
fn order_pointer(ops_field: &str) -> Option<String> {
    let fixed = match ops_field {
        "route.pol" => "/origin_port",
        "route.pod" => "/destination_port",
        "mode" => "/service_mode",
        "readyDate" => "/cargo_ready_date",
        "incoterm" => "/incoterm",
        "containers" => "/container_count",
        "clientReference" => "/customer_reference",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_owned());
    }
    // `shipper.name` → `/shipper/name`; `cargo[1].weightKg` → `/cargo_lines/1/gross_weight_kg`
    if let Some(rest) = ops_field
        .strip_prefix("shipper.")
        .or_else(|| ops_field.strip_prefix("consignee."))
    {
        let party = if ops_field.starts_with("shipper.") {
            "shipper"
        } else {
            "consignee"
        };
        return Some(format!("/{party}/{rest}"));
    }
    let rest = ops_field.strip_prefix("cargo[")?;
    let (index, field) = rest.split_once("].")?;
    let index: usize = index.parse().ok()?;
    let field = match field {
        "description" => "description",
        "pieces" => "packages",
        "packageType" => "package_type",
        "weightKg" => "gross_weight_kg",
        "volumeCbm" => "volume_m3",
        "hsCode" => "hs_code",
        _ => return None,
    };
    Some(format!("/cargo_lines/{index}/{field}"))
}

fn to_reason(error: OpsError) -> Reason {
    Reason {
        field: error.field.as_deref().and_then(order_pointer),
        code: error.code,
        message: error.message,
    }
}

fn to_feedback(report: OpsStatus, correlation_id: Option<String>) -> Feedback {
    let progress = Feedback::milestone;
    let feedback = match report.status.as_str() {
        "QUEUED" => Feedback::in_progress(),
        "CONFIRMED" => Feedback::new(FeedbackStatus::Accepted),
        "REJECTED" => Feedback::rejected(report.errors.into_iter().map(to_reason).collect()),
        "LOADED" => progress(Milestone::Loaded),
        "IN_TRANSIT" => progress(Milestone::Departed),
        "ARRIVED" => progress(Milestone::Arrived),
        "CUSTOMS_CLEARED" => progress(Milestone::CustomsCleared),
        "ON_HOLD" => progress(Milestone::Held),
        "OUT_FOR_DELIVERY" => progress(Milestone::OutForDelivery),
        "DELIVERED" => Feedback::completed().with_milestone(Milestone::Delivered),
        "CANCELLED" => Feedback::cancelled(),
        "INVOICED" => Feedback::new(FeedbackStatus::InvoiceIssued)
            .with_document(report.invoice_no)
            .with_amount(money(report.amount.as_ref(), report.currency)),
        other => {
            log::warn(&format!(
                "FreightOps status `{other}` is not known to this plugin; kept as in progress"
            ));
            Feedback::in_progress()
        }
    };
    feedback
        .with_correlation_id(report.tracking_id.or(correlation_id))
        .with_ops_ref(report.booking_no)
        .with_code(report.status)
        .with_message(report.remarks)
        .with_occurred_at(report.at)
}

/// FreightOps sends amounts as decimal text (kept as written) or as a JSON
/// number (written back in its shortest exact form: `1250.50` → `1250.5`).
fn money(amount: Option<&serde_json::Value>, currency: Option<String>) -> Option<Money> {
    let amount = match amount? {
        serde_json::Value::String(text) => text.trim().to_owned(),
        serde_json::Value::Number(number) => number.to_string(),
        _ => return None,
    };
    Some(Money::new(amount, currency?.trim().to_ascii_uppercase()))
}
