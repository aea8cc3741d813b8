//! The OpenAPI 3.1 document of the API, served at `GET /v1/openapi.json`.
//!
//! The document is generated, not written: each handler carries its own
//! `#[utoipa::path(...)]` (method, path, parameters, bodies, responses,
//! security), and `api::routes()` registers the handlers from those same
//! annotations with `utoipa_axum`, so a route cannot be served without
//! being documented or documented at a path it is not served on.
//! `kernel/tests/openapi.rs` checks both directions over a real socket.
//!
//! This module holds what belongs to no single handler: the document's
//! info and tags, the security schemes, the shared components, the request
//! examples (read from `examples/orders/`, the same files the tests run),
//! and the handler that serves the document.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::{
    self, ApiProblem, BadBody, BadQuery, FieldProblem, Forbidden, Internal, PayloadTooLarge, ProblemDocument,
    RateLimited, Unauthorized, UnsupportedMediaType,
};

/// Everything in the document except the paths, which `api::routes()` adds.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order Hub API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Submit logistics orders (freight bookings, warehouse orders, customs declarations, \
            trucking pick-ups, complaints) to the Order Hub, which normalizes and validates each against its \
            business line's JSON Schema, parks fixable ones in a review queue for staff and dispatches \
            accepted ones to the back-office OPS through sandboxed plugins.\n\n\
            Callers authenticate with an API key (`Authorization: Bearer <key>`); the key's role (customer, \
            reviewer, operator, admin) decides what it may do, and a customer sees only its tenant's orders. \
            Every error is an RFC 9457 problem document (`application/problem+json`) whose `type` names the \
            kind of problem; invalid orders list every field-level problem with its JSON Pointer."
    ),
    tags(
        (name = "session", description = "Who the caller is: principal, role, tenant and what the role may do (for consoles and portals)."),
        (name = "orders", description = "Submit an order to a business line, dry-run it, read it back with its timeline."),
        (name = "review", description = "The review queue: orders with problems staff may fix (reviewer, operator, admin)."),
        (name = "plugins", description = "Installed OPS plugins: rescan, activate a version, roll back (operator, admin)."),
        (name = "targets", description = "Dispatch targets: breaker and lane of each, jobs by state, poller lease (operator, admin)."),
        (name = "dead-letters", description = "Dispatch jobs that gave up: inspect and replay (operator, admin)."),
        (name = "replies", description = "OPS answers that matched no order, and orders whose answer is overdue (operator, admin)."),
        (name = "callbacks", description = "Where an OPS reports on orders, with its target's callback token."),
        (name = "health", description = "Liveness and readiness probes (no authentication)."),
        (name = "meta", description = "Business lines and their schemas (for portals that render forms), and this document."),
        (name = "subscriptions", description = "Webhook subscriptions: signed CloudEvents deliveries of a tenant's order events (customers: their own; operator, admin: all)."),
        (name = "audit", description = "Staff and system actions outside order timelines: API keys, subscriptions (operator, admin)."),
    ),
    components(
        schemas(ProblemDocument, FieldProblem),
        responses(Unauthorized, Forbidden, BadQuery, BadBody, PayloadTooLarge, UnsupportedMediaType, RateLimited, Internal),
    ),
    modifiers(&SecuritySchemes),
)]
pub(super) struct ApiDoc;

/// The two ways to authenticate: `api_key` for callers of the hub,
/// `callback_token` for an OPS posting to `/v1/callbacks/{target}`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key of a principal in the hub's configuration (or issued by an admin), \
                         sent as `Authorization: Bearer <key>`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "callback_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `callback_token` of the target named in the path (an OPS is no principal \
                         of the hub), sent as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served, serialized once (it depends only on the code).
static DOCUMENT: LazyLock<Option<Bytes>> = LazyLock::new(|| {
    serde_json::to_vec_pretty(&super::openapi())
        .map(Bytes::from)
        .map_err(|error| tracing::error!(%error, "cannot serialize the OpenAPI document"))
        .ok()
});

/// The OpenAPI 3.1 document of this API (this document).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "getOpenApi",
    tag = "meta",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document.", body = Object, content_type = "application/json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn document() -> Result<impl IntoResponse, ApiProblem> {
    let body = DOCUMENT.clone().ok_or_else(ApiProblem::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

/// Declares a function per example file of `examples/`, returning it parsed
/// (`Null` if it is not JSON, which a test rules out).
macro_rules! example_files {
    ($($(#[$doc:meta])* $name:ident = $path:literal;)*) => {$(
        $(#[$doc])*
        pub(super) fn $name() -> Value {
            serde_json::from_str(include_str!(concat!("../../../examples/orders/", $path))).unwrap_or(Value::Null)
        }
    )*
        #[cfg(test)]
        const ALL_EXAMPLES: &[(&str, fn() -> Value)] = &[$((stringify!($name), $name)),*];
    };
}

example_files! {
    /// A messy freight booking: legacy field names, pounds, `2026/11/3`, full-width digits.
    freight_booking = "freight-booking/messy-fcl.input.json";
    /// What `freight_booking` normalizes to (`POST /v1/validate/freight-booking`).
    freight_booking_verdict = "freight-booking/messy-fcl.expected.json";
    /// A freight booking with an unknown port and a weight without unit: goes to review.
    freight_booking_for_review = "freight-booking/unknown-port-bare-weight.input.json";
    /// A messy inbound warehouse order.
    warehouse_order = "warehouse-order/messy-inbound.input.json";
    /// A messy export customs declaration.
    customs_declaration = "customs-declaration/messy-export.input.json";
    /// A messy trucking pick-up.
    trucking_pickup = "trucking-pickup/messy-pickup.input.json";
    /// A complaint about a delay.
    complaint = "complaint/messy-delay.input.json";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_file_is_a_json_object() {
        for (name, example) in ALL_EXAMPLES {
            assert!(example().is_object(), "{name} is not a JSON object");
        }
    }

    #[test]
    fn document_is_openapi_3_1_with_unique_operation_ids() {
        let document = serde_json::to_value(super::super::openapi()).unwrap_or_default();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["title"], "Order Hub API");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        let mut ids: Vec<&str> = document["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .filter_map(|item| item.as_object())
            .flat_map(|item| item.values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds must be unique");
        assert!(count > 20);
    }
}
