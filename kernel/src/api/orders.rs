//! Submitting, dry-running and reading orders.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, IntakeCaller, JsonBody};
use super::openapi;
use super::problem::{self, ApiProblem, ProblemDocument};
use crate::auth::Role;
use crate::intake::{IntakeError, Submission};
use crate::store::{OrderRecord, StoreError};
use crate::telemetry::trace::TraceContext;
use crate::timeline::TimelineEvent;

pub(super) fn store_failure(e: &StoreError) -> ApiProblem {
    tracing::error!(error = %e, "store failure");
    ApiProblem::internal()
}

fn unknown_line(line: &str) -> ApiProblem {
    ApiProblem::not_found(format!(
        "unknown business line '{line}'; GET /v1/business-lines lists them"
    ))
}

/// Submit an order to a business line.
///
/// The order is any JSON object; the hub normalizes it (field aliases,
/// units, dates, codes, full-width characters) and validates it against
/// the line's JSON Schema (`GET /v1/business-lines/{line}/schema`). A valid
/// order is queued for dispatch; one whose problems staff may fix goes to
/// review (still 202, `status` `needs_review`, with its `problems`); one
/// that cannot be fixed is refused with every problem (422). Send an
/// `Idempotency-Key` to make retries safe: the same key with the same body
/// answers the first result again.
#[utoipa::path(
    post,
    path = "/v1/orders/{line_or_id}",
    operation_id = "submitOrder",
    tag = "orders",
    security(("api_key" = [])),
    params(
        ("line_or_id" = String, Path, description = "The business line (`GET /v1/business-lines`), e.g. `freight-booking`.", example = "freight-booking"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1 to 255 visible ASCII characters; a retry with the same key and body gets the first answer (`Idempotent-Replayed: true`), a different body 409."),
        ("traceparent" = Option<String>, Header, nullable = false, description = "W3C trace context of the portal's request; the order's processing continues this trace. Missing or malformed: a new trace is started."),
    ),
    request_body(
        content = Object,
        description = "The order, in whatever shape the line's schema accepts (aliases and messy values are normalized).",
        examples(
            ("freight-booking" = (summary = "A messy ocean booking", value = json!(openapi::freight_booking()))),
            ("freight-booking (review)" = (summary = "Unknown port, weight without unit: goes to review", value = json!(openapi::freight_booking_for_review()))),
            ("warehouse-order" = (summary = "A messy inbound order", value = json!(openapi::warehouse_order()))),
            ("customs-declaration" = (summary = "A messy export declaration", value = json!(openapi::customs_declaration()))),
            ("trucking-pickup" = (summary = "A messy pick-up", value = json!(openapi::trucking_pickup()))),
            ("complaint" = (summary = "A delay complaint", value = json!(openapi::complaint()))),
        ),
    ),
    responses(
        (status = 202, description = "Accepted: queued for dispatch, or parked in review with the problems staff will look at.", body = Object,
            headers(
                ("Location" = String, description = "The order's URL (`status_url`)."),
                ("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same Idempotency-Key."),
                ("traceparent" = String, description = "W3C trace context of the intake: the trace of the request's `traceparent` (or a new one), with the hub's span id. Delivery attempts, OPS requests and webhook deliveries of this order continue this trace."),
            ),
            example = json!({"order_id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70", "status": "queued", "status_url": "/v1/orders/0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70", "problems": []})),
        (status = 400, response = problem::BadBody),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "Unknown business line.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used with a different request.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "Invalid order: every problem, each with its JSON Pointer (`type` ends in `invalid-order`).", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, response = problem::RateLimited),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn submit(
    State(state): State<AppState>,
    IntakeCaller(caller): IntakeCaller,
    Path(line): Path<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiProblem> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| bad_key())?),
        None => None,
    };
    // The intake is a span in the portal's trace (a new trace when it sent
    // no valid `traceparent`); the order keeps it for every later step.
    let portal_trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse);
    let accepted = state
        .intake
        .submit(
            Submission {
                caller: &caller,
                line: &line,
                body: &body.text,
                order: body.value,
                idempotency_key: key,
            },
            portal_trace,
        )
        .await
        .map_err(|e| match e {
            IntakeError::UnknownLine(line) => unknown_line(&line),
            IntakeError::Invalid(verdict) => ApiProblem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-order",
                "Invalid Order",
                format!(
                    "the order has {} problem(s); each is listed with its JSON Pointer",
                    verdict.problems.len()
                ),
            )
            .with_problems(verdict.problems),
            IntakeError::KeyReused { .. } => ApiProblem::new(
                StatusCode::CONFLICT,
                "idempotency-key-reused",
                "Conflict",
                "this Idempotency-Key was already used with a different request; use a new key for a new order",
            ),
            IntakeError::BadKey => bad_key(),
            IntakeError::Store(e) => store_failure(&e),
        })?;
    let status_url = format!("/v1/orders/{}", accepted.order_id);
    let body = json!({
        "order_id": accepted.order_id,
        "status": accepted.status,
        "status_url": status_url,
        "problems": accepted.problems,
    });
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(trace) = accepted.trace
        && let Ok(traceparent) = HeaderValue::from_str(&trace.traceparent())
    {
        response.headers_mut().insert("traceparent", traceparent);
    }
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn bad_key() -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "bad-idempotency-key",
        "Bad Request",
        format!(
            "Idempotency-Key must be 1 to {} visible ASCII characters",
            crate::intake::MAX_IDEMPOTENCY_KEY_LEN
        ),
    )
}

/// Dry-run an order: normalize and validate it without storing anything.
///
/// For portal forms: the answer is the verdict (`valid`, `needs_review` or
/// `invalid`), the normalized order and every problem with its JSON
/// Pointer, always with 200.
#[utoipa::path(
    post,
    path = "/v1/validate/{line}",
    operation_id = "validateOrder",
    tag = "orders",
    security(("api_key" = [])),
    params(("line" = String, Path, description = "The business line, e.g. `freight-booking`.", example = "freight-booking")),
    request_body(
        content = Object,
        description = "The order, as it would be submitted.",
        example = json!(openapi::freight_booking()),
    ),
    responses(
        (status = 200, description = "The verdict: `outcome`, `normalized` order and `problems`.", body = Object,
            example = json!(openapi::freight_booking_verdict())),
        (status = 400, response = problem::BadBody),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "Unknown business line.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 429, response = problem::RateLimited),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn validate(
    State(state): State<AppState>,
    _caller: IntakeCaller,
    Path(line): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiProblem> {
    let verdict = state.intake.dry_run(&line, body.value).map_err(|e| match e {
        IntakeError::UnknownLine(line) => unknown_line(&line),
        other => {
            tracing::error!(error = %other, "dry run failed");
            ApiProblem::internal()
        }
    })?;
    Ok(Json(json!(verdict)))
}

/// Read an order with its timeline.
///
/// The original submission, the normalized order, its status and timeline.
/// A customer sees only its tenant's orders (another tenant's order is
/// answered like a missing one) and no internal detail on the timeline.
#[utoipa::path(
    get,
    path = "/v1/orders/{line_or_id}",
    operation_id = "getOrder",
    tag = "orders",
    security(("api_key" = [])),
    params(("line_or_id" = String, Path, description = "The order id (`order_id` of the submission).", example = "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The order: id, line, schema_version, status, customer_reference, created_at, updated_at, revision, submission (as sent), normalized, problems, timeline; `tenant` for staff.", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "No such order visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    let order = super::query::visible_order(&state, &caller, &id).await?;
    let timeline = state.store.timeline(&id).await.map_err(|e| store_failure(&e))?;
    Ok(Json(order_view(&order, &timeline, caller.role != Role::Customer)))
}

/// The order as the API shows it; internal detail only for staff.
pub(super) fn order_view(order: &OrderRecord, timeline: &[TimelineEvent], staff: bool) -> Value {
    let events: Vec<Value> = timeline.iter().map(|e| super::query::event_view(e, staff)).collect();
    let submission: Value = serde_json::from_str(&order.submission).unwrap_or(Value::String(order.submission.clone()));
    let mut view = json!({
        "id": order.id,
        "line": order.line,
        "schema_version": order.schema_version,
        "status": order.status,
        "customer_reference": order.customer_reference,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "revision": order.revision,
        "submission": submission,
        "normalized": order.normalized,
        "problems": order.problems,
        "timeline": events,
    });
    // Staff work across tenants (the review desk shows whose order it is).
    if staff && let Some(map) = view.as_object_mut() {
        map.insert("tenant".into(), json!(order.tenant));
    }
    view
}
