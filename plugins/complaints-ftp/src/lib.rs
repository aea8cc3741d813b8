//! Reference plugin: complaints as XML files on a service desk's FTP server.
//!
//! The service desk imports one XML file per complaint from an inbox folder
//! and writes one XML answer file per event (case opened, refused, resolved)
//! to a response folder, which the hub polls and hands to `on_inbound`.
//!
//! Why the design is what it is:
//! - **One file per complaint, named after the idempotency key**
//!   (`CMP_{key}.xml` via the SDK's [`naming::file_name`]): a retry or replay
//!   writes the same name, so the desk opens one case however often the hub
//!   re-sends; the hub's `put` is atomic, so the desk never reads half a file.
//! - **The desk echoes `<Reference>`**, which is the idempotency key and the
//!   correlation id `submit` returns, so answers find their complaint
//!   whatever the desk names its files.
//! - **Customer text is escaped by the SDK's XML builder**
//!   ([`soap::Element`]): descriptions hold `<`, `&`, quotes, line breaks and
//!   Chinese, and string formatting is how escaping bugs get into plugins.
//! - **Answers are read with a bounded, DTD-refusing reader** ([`xml`]):
//!   a DOCTYPE is the usual vehicle for entity-expansion attacks and no
//!   desk needs one. Unreadable answers are refused with the file name,
//!   line and column, never guessed at.
//! - **An unknown status is kept as `in-progress` with the desk's raw
//!   code**: dropping it would hide it from the operator.
//!
//! **Request** (`submit`): `{inbox_dir}/CMP_{key}.xml` (setting `inbox_dir`,
//! default `inbox`), UTF-8, see [`complaint_xml`] for the layout. The answer
//! is `pending(idempotency key)`.
//!
//! **Response file**: `<ComplaintResponse>` with `<Reference>` and
//! `<Status>` (required), `<CaseNumber>`, `<Message>`, `<EventTime>`
//! (RFC 3339) and `<Errors><Error field="…" code="…">text</Error></Errors>`
//! (optional); `field` names a request element (`Description`,
//! `Contact/Phone`, …) and is mapped to a JSON Pointer into the hub's order.

mod xml;

use hub_plugin_sdk::soap::Element;
use hub_plugin_sdk::{
    Failure, FailureExt, Feedback, FeedbackStatus, Inbound, Order, Outcome, OutcomeExt, Plugin, Reason, config,
    export_plugin, files, log, naming,
};
use serde::Deserialize;

use crate::xml::XmlElement;

struct ComplaintsFtp;

export_plugin!(ComplaintsFtp);

/// The folder complaint files go to when the target's settings name none.
const DEFAULT_INBOX_DIR: &str = "inbox";
/// Request files are `CMP_{key}.xml`.
const FILE_PREFIX: &str = "CMP";
const FILE_EXTENSION: &str = "xml";

/// The hub's normalized complaint (`schemas/complaint.v1.json`).
#[derive(Deserialize)]
struct Complaint {
    customer_reference: Option<String>,
    category: String,
    related_order_reference: String,
    description: String,
    occurred_on: Option<String>,
    preferred_contact_channel: String,
    contact: Contact,
}

#[derive(Deserialize)]
struct Contact {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    wechat_id: Option<String>,
}

impl Plugin for ComplaintsFtp {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let complaint: Complaint = order.payload_as()?;
        let contents = complaint_xml(&order, &complaint);
        let name = naming::file_name(FILE_PREFIX, &order.idempotency_key, FILE_EXTENSION)
            .map_err(|error| Failure::permanent(format!("cannot name the complaint file: {error}")))?;
        let inbox = config::get("inbox_dir").unwrap_or_else(|| DEFAULT_INBOX_DIR.to_owned());
        let path = join(&inbox, &name);
        files::put(&path, contents.as_bytes())
            .map_err(|error| Failure::from_transport(&format!("upload {path}"), error))?;
        log::info(&format!(
            "complaint {} written to {path}; waiting for the service desk's answer",
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
                "{what} is empty; expected a <ComplaintResponse> document"
            )));
        }
        let root = xml::parse(&message.body).map_err(|error| Failure::permanent(format!("{what}: {error}")))?;
        let feedback = to_feedback(&root).map_err(|reason| Failure::permanent(format!("{what}: {reason}")))?;
        Ok(vec![feedback])
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

/// The request document:
///
/// ```xml
/// <?xml version="1.0" encoding="UTF-8"?>
/// <Complaint version="1">
///   <Reference>{idempotency key}</Reference>
///   <HubOrderId>…</HubOrderId>
///   <Customer>…</Customer>
///   <CustomerReference>…</CustomerReference>   (when given)
///   <Category>DELAY</Category>
///   <RelatedOrder>BK-2026-0001</RelatedOrder>
///   <OccurredOn>2026-11-06</OccurredOn>         (when given)
///   <Description>…</Description>
///   <PreferredChannel>WECHAT</PreferredChannel>
///   <Contact><Name>…</Name><Email/><Phone/><WeChat/></Contact> (each when given)
/// </Complaint>
/// ```
///
/// written without indentation, on one line after the declaration, ending
/// with a newline.
fn complaint_xml(order: &Order, complaint: &Complaint) -> String {
    let optional = |name: &str, value: &Option<String>| value.as_ref().map(|text| Element::new(name).text(text));
    let contact = Element::new("Contact")
        .leaf("Name", &complaint.contact.name)
        .children(optional("Email", &complaint.contact.email))
        .children(optional("Phone", &complaint.contact.phone))
        .children(optional("WeChat", &complaint.contact.wechat_id));
    let document = Element::new("Complaint")
        .attr("version", "1")
        .leaf("Reference", &order.idempotency_key)
        .leaf("HubOrderId", &order.id)
        .leaf("Customer", &order.customer)
        .children(optional("CustomerReference", &complaint.customer_reference))
        .leaf("Category", &complaint.category)
        .leaf("RelatedOrder", &complaint.related_order_reference)
        .children(optional("OccurredOn", &complaint.occurred_on))
        .leaf("Description", &complaint.description)
        .leaf("PreferredChannel", &complaint.preferred_contact_channel)
        .child(contact);
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n", document.to_xml())
}

/// The desk's statuses in the hub's vocabulary; `None` for a status this
/// plugin does not know.
fn feedback_status(desk_status: &str) -> Option<FeedbackStatus> {
    Some(match desk_status.to_ascii_uppercase().as_str() {
        "ACCEPTED" | "OPENED" => FeedbackStatus::Accepted,
        "REJECTED" => FeedbackStatus::Rejected,
        "ASSIGNED" | "INVESTIGATING" | "WAITING_FOR_CUSTOMER" => FeedbackStatus::InProgress,
        "RESOLVED" | "CLOSED" => FeedbackStatus::Completed,
        "CANCELLED" | "WITHDRAWN" => FeedbackStatus::Cancelled,
        _ => return None,
    })
}

/// The text of a required child, or a reason naming it and its parent's position.
fn required<'a>(parent: &'a XmlElement, name: &str) -> Result<&'a str, String> {
    match parent.child(name).map(|child| child.text.trim()) {
        Some(text) if !text.is_empty() => Ok(text),
        Some(_) => Err(format!(
            "<{name}> in <{}> at {} is empty",
            parent.name,
            parent.child(name).map_or(parent.position, |child| child.position)
        )),
        None => Err(format!("<{}> at {} has no <{name}>", parent.name, parent.position)),
    }
}

fn optional(parent: &XmlElement, name: &str) -> Option<String> {
    parent
        .child(name)
        .map(|child| child.text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

fn to_feedback(root: &XmlElement) -> Result<Feedback, String> {
    if root.name != "ComplaintResponse" {
        return Err(format!(
            "the root element is <{}> at {}; expected <ComplaintResponse>",
            root.name, root.position
        ));
    }
    let reference = required(root, "Reference")?.to_owned();
    let status_code = required(root, "Status")?.to_owned();
    let mut reasons = Vec::new();
    if let Some(errors) = root.child("Errors") {
        for error in errors.children.iter().filter(|child| child.name == "Error") {
            let code = error
                .attr("code")
                .map(str::trim)
                .filter(|code| !code.is_empty())
                .ok_or_else(|| format!("<Error> at {} has no `code` attribute", error.position))?;
            reasons.push(Reason {
                field: error.attr("field").map(str::trim).and_then(order_pointer),
                code: code.to_owned(),
                message: error.text.trim().to_owned(),
            });
        }
    }
    let feedback = match feedback_status(&status_code) {
        Some(status) => Feedback::new(status),
        None => {
            log::warn(&format!(
                "service desk status `{status_code}` is not known to this plugin; kept as in progress"
            ));
            Feedback::in_progress()
        }
    };
    Ok(feedback
        .with_correlation_id(reference)
        .with_ops_ref(optional(root, "CaseNumber"))
        .with_code(status_code)
        .with_message(optional(root, "Message"))
        .with_occurred_at(optional(root, "EventTime"))
        .with_reasons(reasons))
}

/// A request element path (as in [`complaint_xml`]) as a JSON Pointer into
/// the hub's normalized complaint; `None` for elements the order has no
/// field for.
fn order_pointer(element: &str) -> Option<String> {
    let pointer = match element {
        "CustomerReference" => "/customer_reference",
        "Category" => "/category",
        "RelatedOrder" => "/related_order_reference",
        "OccurredOn" => "/occurred_on",
        "Description" => "/description",
        "PreferredChannel" => "/preferred_contact_channel",
        "Contact" => "/contact",
        "Contact/Name" => "/contact/name",
        "Contact/Email" => "/contact/email",
        "Contact/Phone" => "/contact/phone",
        "Contact/WeChat" => "/contact/wechat_id",
        _ => return None,
    };
    Some(pointer.to_owned())
}
