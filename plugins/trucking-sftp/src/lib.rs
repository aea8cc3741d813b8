//! Reference plugin: trucking pick-ups as CSV files on a carrier's SFTP
//! server.
//!
//! Many carriers' transport management systems take work as files: they
//! scan an inbox folder, book what they find, and leave answers in another
//! folder. Two things make that safe to automate:
//!
//! - **one file per order, named after the idempotency key** (the SDK's
//!   [`naming::file_name`]): a retry or replay writes the *same* name, so
//!   the upload replaces the earlier file instead of adding a second order,
//!   and the hub's atomic `put` (temporary name, then rename) means the
//!   carrier never reads half a file;
//! - **a reference the carrier echoes**: the file's `pickup_ref` column is
//!   the idempotency key, the same text `submit` returns as the correlation
//!   id, and every response row carries it back, so answers find their order
//!   whatever the carrier names its response files.
//!
//! **Request** (`submit`): `{inbox_dir}/PU_{key}.csv` (setting `inbox_dir`,
//! default `inbox`), UTF-8 (with a BOM when setting `csv_bom` is `true`),
//! CRLF line ends, a header row and one data row with the columns of
//! [`REQUEST_COLUMNS`]; fields are quoted only when they hold a comma, quote
//! or line break. The answer is `pending(idempotency key)`.
//!
//! **Response files** (`on_inbound`, the hub polls the carrier's response
//! folder and hands each file over): UTF-8 CSV (BOM optional, CRLF or LF)
//! with a header row naming at least `pickup_ref` and `status`, optionally
//! `waybill_no`, `code`, `field`, `message`, `event_time`, in any order
//! (other columns are ignored). Each row is one event for one pick-up;
//! REJECTED rows for the same pick-up are merged into one rejection with one
//! reason per row, `field` (a request column name) mapped to a JSON Pointer
//! into the hub's order. PICKED_UP, IN_TRANSIT and DELIVERED carry the
//! milestones picked-up, departed and delivered (see [`feedback_status`]);
//! the row's `message` is the customer's text (without one the hub writes
//! it). A status this plugin does not know is kept as `in-progress` with the
//! carrier's raw code for staff rather than dropped. A file
//! that cannot be read is refused with its name, line and column.

use hub_plugin_sdk::records::{CsvOptions, csv_document, csv_records};
use hub_plugin_sdk::{
    Failure, FailureExt, Feedback, FeedbackStatus, Inbound, Milestone, Order, Outcome, OutcomeExt, Plugin, Reason,
    config, export_plugin, files, log, naming,
};
use serde::{Deserialize, Deserializer};

struct TruckingSftp;

export_plugin!(TruckingSftp);

/// The folder pick-up files go to when the target's settings name none.
const DEFAULT_INBOX_DIR: &str = "inbox";
/// Request files are `PU_{key}.csv`.
const FILE_PREFIX: &str = "PU";
const FILE_EXTENSION: &str = "csv";

/// The request file's columns, in order.
const REQUEST_COLUMNS: [&str; 23] = [
    "pickup_ref",
    "hub_order_id",
    "customer_reference",
    "pickup_company",
    "pickup_province",
    "pickup_city",
    "pickup_district",
    "pickup_address",
    "delivery_company",
    "delivery_province",
    "delivery_city",
    "delivery_district",
    "delivery_address",
    "window_start",
    "window_end",
    "timezone",
    "contact_name",
    "contact_phone",
    "vehicle_type",
    "cargo_description",
    "packages",
    "gross_weight_kg",
    "volume_m3",
];

/// The hub's normalized pick-up (`schemas/trucking-pickup.v1.json`).
#[derive(Deserialize)]
struct Pickup {
    customer_reference: Option<String>,
    pickup_address: Address,
    delivery_address: Address,
    time_window: TimeWindow,
    contact: Contact,
    vehicle_type: Option<String>,
    cargo_summary: Cargo,
}

#[derive(Deserialize)]
struct Address {
    province: Option<String>,
    city: Option<String>,
    district: Option<String>,
    address: String,
    company: Option<String>,
}

#[derive(Deserialize)]
struct TimeWindow {
    start: String,
    end: String,
    timezone: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    name: String,
    phone: String,
}

#[derive(Deserialize)]
struct Cargo {
    description: String,
    packages: u64,
    /// Kept as the JSON number it was (850 stays `850`, not `850.0`).
    gross_weight_kg: serde_json::Number,
    volume_m3: Option<serde_json::Number>,
}

/// One row of a response file.
#[derive(Deserialize)]
struct ResponseRow {
    pickup_ref: PickupRef,
    status: Status,
    waybill_no: Option<String>,
    code: Option<String>,
    field: Option<String>,
    message: Option<String>,
    event_time: Option<String>,
}

/// A column that must hold text (trimmed). Refusing an empty value while
/// the CSV reader still knows the line gives a precise error; the message
/// names the column because the reader does not for errors raised here.
macro_rules! required_column {
    ($type:ident, $column:literal) => {
        struct $type(String);

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$type, D::Error> {
                let text = String::deserialize(deserializer)?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(serde::de::Error::custom(concat!(
                        "column \"",
                        $column,
                        "\" is empty but is required"
                    )));
                }
                Ok($type(trimmed.to_owned()))
            }
        }
    };
}

required_column!(PickupRef, "pickup_ref");
required_column!(Status, "status");

impl Plugin for TruckingSftp {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let pickup: Pickup = order.payload_as()?;
        let bom = match config::get("csv_bom").as_deref().map(str::trim) {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(Failure::permanent(format!(
                    "setting `csv_bom` is `{other}`; expected `true` or `false`"
                )));
            }
        };
        let contents = csv_document(
            &REQUEST_COLUMNS,
            [request_row(&order, &pickup)],
            CsvOptions {
                bom,
                ..CsvOptions::default()
            },
        )
        .map_err(|error| Failure::permanent(format!("cannot write the pick-up file: {error}")))?;
        let name = naming::file_name(FILE_PREFIX, &order.idempotency_key, FILE_EXTENSION)
            .map_err(|error| Failure::permanent(format!("cannot name the pick-up file: {error}")))?;
        let inbox = config::get("inbox_dir").unwrap_or_else(|| DEFAULT_INBOX_DIR.to_owned());
        let path = join(&inbox, &name);
        files::put(&path, &contents).map_err(|error| Failure::from_transport(&format!("upload {path}"), error))?;
        log::info(&format!(
            "order {} written to {path}; waiting for the carrier's answer",
            order.id
        ));
        Ok(Outcome::pending(order.idempotency_key))
    }

    fn on_inbound(message: Inbound) -> Result<Vec<Feedback>, Failure> {
        let what = match &message.name {
            Some(name) => format!("response file `{name}`"),
            None => "response file".to_owned(),
        };
        if message.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Failure::permanent(format!(
                "{what} is empty; expected a CSV header row and at least one data row"
            )));
        }
        let rows: Vec<ResponseRow> = csv_records(&message.body, CsvOptions::default())
            .map_err(|error| Failure::permanent(format!("{what} cannot be read: {error}")))?;
        if rows.is_empty() {
            return Err(Failure::permanent(format!("{what} has a header row but no data rows")));
        }
        Ok(to_feedback(rows))
    }
}

/// `dir/name`, or `name` when `dir` is empty or `.`.
fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim().trim_end_matches('/');
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// The values of [`REQUEST_COLUMNS`] for one pick-up.
fn request_row(order: &Order, pickup: &Pickup) -> Vec<String> {
    let from = &pickup.pickup_address;
    let to = &pickup.delivery_address;
    let cargo = &pickup.cargo_summary;
    vec![
        order.idempotency_key.clone(),
        order.id.clone(),
        text(&pickup.customer_reference),
        text(&from.company),
        text(&from.province),
        text(&from.city),
        text(&from.district),
        from.address.clone(),
        text(&to.company),
        text(&to.province),
        text(&to.city),
        text(&to.district),
        to.address.clone(),
        pickup.time_window.start.clone(),
        pickup.time_window.end.clone(),
        text(&pickup.time_window.timezone),
        pickup.contact.name.clone(),
        pickup.contact.phone.clone(),
        text(&pickup.vehicle_type),
        cargo.description.clone(),
        cargo.packages.to_string(),
        cargo.gross_weight_kg.to_string(),
        cargo.volume_m3.as_ref().map(ToString::to_string).unwrap_or_default(),
    ]
}

/// The carrier's statuses in the hub's vocabulary, with the milestone each
/// implies; `None` for a status this plugin does not know. `DISPATCHED`
/// (a truck is on its way to the shipper) and `ARRIVED` (it is at the
/// pick-up address) name no milestone: the goods have not moved yet.
fn feedback_status(carrier_status: &str) -> Option<(FeedbackStatus, Option<Milestone>)> {
    use FeedbackStatus::{Accepted, Cancelled, Completed, Failed, InProgress, Rejected};
    Some(match carrier_status.to_ascii_uppercase().as_str() {
        "ACCEPTED" => (Accepted, None),
        "REJECTED" => (Rejected, None),
        "DISPATCHED" | "ARRIVED" => (InProgress, None),
        "PICKED_UP" => (InProgress, Some(Milestone::PickedUp)),
        "IN_TRANSIT" => (InProgress, Some(Milestone::Departed)),
        "DELIVERED" => (Completed, Some(Milestone::Delivered)),
        "PICKUP_FAILED" => (Failed, None),
        "CANCELLED" => (Cancelled, None),
        _ => return None,
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty())
}

/// One feedback per row, except that REJECTED rows of the same pick-up
/// become one rejection with a reason each.
fn to_feedback(rows: Vec<ResponseRow>) -> Vec<Feedback> {
    let mut feedback: Vec<Feedback> = Vec::new();
    for row in rows {
        let PickupRef(pickup_ref) = row.pickup_ref;
        let Status(status_code) = row.status;
        let message = non_empty(row.message);
        let known = feedback_status(&status_code);
        if let Some((FeedbackStatus::Rejected, _)) = known {
            let reason = Reason {
                field: row.field.as_deref().map(str::trim).and_then(order_pointer),
                code: non_empty(row.code).unwrap_or_else(|| status_code.clone()),
                message: message.clone().unwrap_or_else(|| "refused by the carrier".to_owned()),
            };
            let earlier = feedback.iter_mut().find(|item| {
                item.status == FeedbackStatus::Rejected && item.correlation_id.as_deref() == Some(pickup_ref.as_str())
            });
            if let Some(earlier) = earlier {
                earlier.reasons.push(reason);
                continue;
            }
            feedback.push(
                Feedback::rejected(vec![reason])
                    .with_correlation_id(pickup_ref)
                    .with_ops_ref(non_empty(row.waybill_no))
                    .with_code(status_code)
                    .with_message("the carrier refused the pick-up".to_owned())
                    .with_occurred_at(non_empty(row.event_time)),
            );
            continue;
        }
        let item = match known {
            Some((status, milestone)) => Feedback::new(status).with_milestone(milestone),
            None => {
                log::warn(&format!(
                    "carrier status `{status_code}` is not known to this plugin; kept as in progress"
                ));
                Feedback::in_progress()
            }
        };
        feedback.push(
            item.with_correlation_id(pickup_ref)
                .with_ops_ref(non_empty(row.waybill_no))
                .with_code(status_code)
                .with_message(message)
                .with_occurred_at(non_empty(row.event_time)),
        );
    }
    feedback
}

/// A request column (as in [`REQUEST_COLUMNS`]) as a JSON Pointer into the
/// hub's normalized pick-up; `None` for columns the order has no field for.
fn order_pointer(column: &str) -> Option<String> {
    let pointer = match column {
        "customer_reference" => "/customer_reference",
        "pickup_company" => "/pickup_address/company",
        "pickup_province" => "/pickup_address/province",
        "pickup_city" => "/pickup_address/city",
        "pickup_district" => "/pickup_address/district",
        "pickup_address" => "/pickup_address/address",
        "delivery_company" => "/delivery_address/company",
        "delivery_province" => "/delivery_address/province",
        "delivery_city" => "/delivery_address/city",
        "delivery_district" => "/delivery_address/district",
        "delivery_address" => "/delivery_address/address",
        "window_start" => "/time_window/start",
        "window_end" => "/time_window/end",
        "timezone" => "/time_window/timezone",
        "contact_name" => "/contact/name",
        "contact_phone" => "/contact/phone",
        "vehicle_type" => "/vehicle_type",
        "cargo_description" => "/cargo_summary/description",
        "packages" => "/cargo_summary/packages",
        "gross_weight_kg" => "/cargo_summary/gross_weight_kg",
        "volume_m3" => "/cargo_summary/volume_m3",
        _ => return None,
    };
    Some(pointer.to_owned())
}
