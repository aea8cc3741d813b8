//! Reference plugin: customs declarations to an OPS with a SOAP 1.1 web
//! service.
//!
//! The OPS ("CustomsOps", a broker's declaration system) exposes
//! `POST {service_path}` (default `customs/DeclarationService`), SOAP 1.1,
//! `SOAPAction: "urn:example:customs:v1#SubmitDeclaration"`, namespace
//! [`CUSTOMS_NAMESPACE`]. The plugin writes a `SubmitDeclaration` with the
//! SDK's [`soap`] builder (escaping, Chinese text) and reads the answer with
//! its namespace-aware reader, so the OPS may use any prefixes it likes.
//!
//! WS-Security is not the plugin's job: the target's `[http.wsse]` makes the
//! host insert the UsernameToken into the envelope after the plugin built
//! it. The plugin never holds the password.
//!
//! How answers map:
//! - `SubmitDeclarationResponse` with a `DeclarationNo` → `accepted`;
//! - Client Fault (SOAP 1.2: Sender) → `rejected`, one reason per
//!   `ValidationErrors/Error` in the detail, its `Field` (OPS path such as
//!   `Goods/Item[2]/HsCode`) mapped to a JSON Pointer into the hub's
//!   normalized order (`/items/1/hs_code`); a fault without errors gives one
//!   general reason;
//! - a WS-Security fault (`wsse:FailedAuthentication`, `InvalidSecurity…`)
//!   → permanent failure with cause `unauthorized`: the credentials in the
//!   target's config are wrong, the declaration is not;
//! - Server Fault (SOAP 1.2: Receiver) → retryable failure;
//! - HTTP 429/502/503/504 (with `Retry-After`) → retryable, the delay the
//!   OPS asked for; 401/403/404 → permanent (the SDK's `classify`);
//! - transport errors → `Failure::from_transport` (timeouts and refusals
//!   retry, the rest is permanent).
//!
//! A malformed or empty answer is a **retryable** failure. Why: on an HTTP
//! 200 or 500 such an answer almost always comes from an OPS mid-restart or
//! a proxy in front of it, not from anything wrong in the declaration; and
//! a retry is safe because every request carries the hub's idempotency key
//! as `RequestId`, which the OPS uses to answer a repeat with the number it
//! already gave (no duplicate declaration). The dispatcher's retry limit and
//! dead letters bound the retries when the OPS keeps answering garbage.
//! An answer that is well-formed SOAP but breaks the contract (no
//! `DeclarationNo`) is permanent: retrying cannot change it.
//!
//! Settings: `service_path` (default `customs/DeclarationService`).

use hub_plugin_sdk::soap::{
    BodyElement, Element, Envelope, Fault, SoapError, SoapResponse, SoapVersion, parse_response,
};
use hub_plugin_sdk::{
    Failure, FailureDetail, FailureExt, Order, Outcome, OutcomeExt, Plugin, Reason, ResponseExt, TransportError,
    config, export_plugin, http, log,
};
use serde::Deserialize;

struct CustomsSoap;

export_plugin!(CustomsSoap);

/// The OPS's XML namespace.
pub const CUSTOMS_NAMESPACE: &str = "urn:example:customs:v1";
/// The SOAPAction of `SubmitDeclaration`.
pub const SUBMIT_ACTION: &str = "urn:example:customs:v1#SubmitDeclaration";

/// WS-Security fault codes (OASIS WSS 1.0 §12): the credentials, not the order.
const SECURITY_FAULTS: [&str; 6] = [
    "FailedAuthentication",
    "InvalidSecurityToken",
    "InvalidSecurity",
    "FailedCheck",
    "SecurityTokenUnavailable",
    "MessageExpired",
];

/// The hub's normalized customs declaration (`customs-declaration` v1).
#[derive(Deserialize)]
struct Declaration {
    customer_reference: Option<String>,
    declaration_type: String,
    declarant: Declarant,
    declaration_date: Option<String>,
    trade_terms: String,
    trade_mode: Option<String>,
    currency: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Declarant {
    name: String,
    customs_code: String,
    uscc: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    description: String,
    hs_code: String,
    quantity: f64,
    unit: String,
    declared_value: f64,
    country_of_origin: String,
}

fn service_path() -> String {
    config::get("service_path").unwrap_or_else(|| "customs/DeclarationService".to_owned())
}

impl Plugin for CustomsSoap {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let declaration: Declaration = order.payload_as()?;
        let envelope = to_envelope(&order, &declaration).to_xml();
        let headers = SoapVersion::V11.headers(Some(SUBMIT_ACTION));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let response = http::request(
            http::Method::Post,
            &service_path(),
            &headers,
            Some(envelope.into_bytes()),
        )
        .map_err(|error| Failure::from_transport("POST SubmitDeclaration", error))?;
        response
            .classify()
            .map_err(|error| Failure::from_transport("POST SubmitDeclaration", error))?;

        match parse_response(&response.body) {
            Ok(SoapResponse::Body(body)) if (200..300).contains(&response.status) => accepted(&order, &body),
            Ok(SoapResponse::Body(body)) => Err(Failure::permanent(format!(
                "CustomsOps answered HTTP {} with a <{}> instead of a Fault",
                response.status, body.name
            ))),
            Ok(SoapResponse::Fault(fault)) => from_fault(fault),
            Ok(SoapResponse::Empty) => Err(unreadable(
                response.status,
                "an empty SOAP Body instead of a SubmitDeclarationResponse".to_owned(),
            )),
            Err(SoapError::NoEnvelope { root: None }) if response.body.iter().all(u8::is_ascii_whitespace) => {
                Err(unreadable(response.status, "an empty body".to_owned()))
            }
            Err(error) => Err(unreadable(
                response.status,
                format!("an answer that is not SOAP ({error})"),
            )),
        }
    }
}

/// The `SubmitDeclaration` envelope. Optional fields are left out rather
/// than sent empty (the OPS's schema has them `minOccurs="0"`).
fn to_envelope(order: &Order, declaration: &Declaration) -> Envelope {
    let declarant = &declaration.declarant;
    let goods = Element::new("c:Goods").children(declaration.items.iter().enumerate().map(|(index, item)| {
        Element::new("c:Item")
            .attr("line", (index + 1).to_string())
            .leaf("c:Description", item.description.as_str())
            .leaf("c:HsCode", item.hs_code.as_str())
            .child(
                Element::new("c:Quantity")
                    .attr("unit", item.unit.as_str())
                    .text(item.quantity.to_string()),
            )
            .child(
                Element::new("c:Value")
                    .attr("currency", declaration.currency.as_str())
                    .text(item.declared_value.to_string()),
            )
            .leaf("c:Origin", item.country_of_origin.as_str())
    }));
    let submit = Element::new("c:SubmitDeclaration")
        .leaf("c:RequestId", order.idempotency_key.as_str())
        .leaf("c:HubOrderId", order.id.as_str())
        .children(
            declaration
                .customer_reference
                .as_deref()
                .map(|reference| Element::new("c:ClientReference").text(reference)),
        )
        .leaf("c:Type", declaration.declaration_type.as_str())
        .child(
            Element::new("c:Declarant")
                .leaf("c:Name", declarant.name.as_str())
                .leaf("c:CustomsCode", declarant.customs_code.as_str())
                .children(declarant.uscc.as_deref().map(|uscc| Element::new("c:Uscc").text(uscc))),
        )
        .children(
            declaration
                .declaration_date
                .as_deref()
                .map(|date| Element::new("c:DeclarationDate").text(date)),
        )
        .leaf("c:TradeTerms", declaration.trade_terms.as_str())
        .children(
            declaration
                .trade_mode
                .as_deref()
                .map(|mode| Element::new("c:TradeMode").text(mode)),
        )
        .leaf("c:Currency", declaration.currency.as_str())
        .child(goods);
    Envelope::new(SoapVersion::V11)
        .namespace("c", CUSTOMS_NAMESPACE)
        .body(submit)
}

fn accepted(order: &Order, body: &BodyElement) -> Result<Outcome, Failure> {
    let number = body.text_of(&["DeclarationNo"]).filter(|number| !number.is_empty());
    let Some(number) = number else {
        return Err(Failure::permanent(format!(
            "CustomsOps answered <{}> without a DeclarationNo",
            body.name
        )));
    };
    if body.text_of(&["Status"]) == Some("DUPLICATE") {
        log::info(&format!("order {} was already declared as {number}", order.id));
    }
    Ok(match body.text_of(&["Message"]).filter(|message| !message.is_empty()) {
        Some(message) => Outcome::accepted_with(number, message),
        None => Outcome::accepted(number),
    })
}

fn local_part(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, local)| local)
}

fn from_fault(fault: Fault) -> Result<Outcome, Failure> {
    let security = [Some(fault.code.as_str()), fault.subcode.as_deref()]
        .into_iter()
        .flatten()
        .any(|code| SECURITY_FAULTS.contains(&local_part(code)));
    if security {
        return Err(Failure::from_transport(
            "SubmitDeclaration",
            TransportError::Unauthorized(format!(
                "CustomsOps refused the WS-Security credentials of the target: {fault}"
            )),
        ));
    }
    if fault.is_client_fault() {
        let errors: Vec<Reason> = fault
            .detail
            .as_ref()
            .and_then(|detail| detail.child("ValidationErrors"))
            .map(|errors| errors.children_named("Error").map(to_reason).collect())
            .unwrap_or_default();
        if errors.is_empty() {
            return Ok(Outcome::rejected(vec![Reason::general(
                fault.code_local_name(),
                fault.reason.clone(),
            )]));
        }
        return Ok(Outcome::rejected(errors));
    }
    if fault.is_server_fault() {
        return Err(Failure::retryable(format!("CustomsOps is failing: {fault}")));
    }
    Err(Failure::permanent(format!(
        "CustomsOps answered an unknown kind of fault: {fault}"
    )))
}

fn to_reason(error: &BodyElement) -> Reason {
    Reason {
        field: error.text_of(&["Field"]).and_then(order_pointer),
        code: error.text_of(&["Code"]).unwrap_or("INVALID").to_owned(),
        message: error.text_of(&["Message"]).unwrap_or_default().to_owned(),
    }
}

/// CustomsOps names fields by their XML path (`Goods/Item[2]/HsCode`, items
/// counted from 1); the customer needs the hub's JSON Pointer
/// (`/items/1/hs_code`). Unknown paths stay without a pointer.
fn order_pointer(ops_field: &str) -> Option<String> {
    let fixed = match ops_field {
        "Type" => "/declaration_type",
        "ClientReference" => "/customer_reference",
        "Declarant/Name" => "/declarant/name",
        "Declarant/CustomsCode" => "/declarant/customs_code",
        "Declarant/Uscc" => "/declarant/uscc",
        "DeclarationDate" => "/declaration_date",
        "TradeTerms" => "/trade_terms",
        "TradeMode" => "/trade_mode",
        "Currency" => "/currency",
        "Goods" => "/items",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_owned());
    }
    let rest = ops_field.strip_prefix("Goods/Item[")?;
    let (line, field) = rest.split_once("]")?;
    let index = line.parse::<usize>().ok()?.checked_sub(1)?;
    let field = match field {
        "" => return Some(format!("/items/{index}")),
        "/Description" => "description",
        "/HsCode" => "hs_code",
        "/Quantity" => "quantity",
        "/Quantity/@unit" => "unit",
        "/Value" => "declared_value",
        "/Origin" => "country_of_origin",
        _ => return None,
    };
    Some(format!("/items/{index}/{field}"))
}

/// An answer the plugin cannot read: retryable (see the module docs), with
/// the cause recorded as a protocol error for the attempt history.
fn unreadable(status: u16, what: String) -> Failure {
    let message = format!("CustomsOps answered HTTP {status} with {what}");
    Failure::Retryable(FailureDetail {
        message: message.clone(),
        cause: Some(TransportError::ProtocolError(message)),
        retry_after_ms: None,
    })
}
