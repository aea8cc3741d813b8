//! The review queue endpoints (reviewer, operator, admin).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{Caller, JsonBody};
use super::orders::{order_view, store_failure};
use super::problem::{self, ApiProblem, ProblemDocument, bad_query};
use crate::auth::Principal;
use crate::review::ReviewError;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

fn require_reviewer(caller: &Principal) -> Result<(), ApiProblem> {
    if caller.role.can_review() {
        Ok(())
    } else {
        Err(ApiProblem::forbidden("work the review queue"))
    }
}

fn review_failure(e: ReviewError) -> ApiProblem {
    match e {
        ReviewError::NotFound(id) => ApiProblem::not_found(format!("no order '{id}'")),
        e @ ReviewError::NotInReview { .. } => {
            ApiProblem::new(StatusCode::CONFLICT, "not-in-review", "Conflict", e.to_string())
        }
        ReviewError::StillInvalid(verdict) => ApiProblem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "still-invalid",
            "Unprocessable Content",
            format!(
                "after the corrections the order still has {} problem(s); it stays in review",
                verdict.problems.len()
            ),
        )
        .with_problems(verdict.problems),
        e @ ReviewError::MissingReason => ApiProblem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-reason",
            "Unprocessable Content",
            e.to_string(),
        ),
        e @ ReviewError::SchemaGone { .. } => {
            tracing::error!(error = %e, "review impossible");
            ApiProblem::new(StatusCode::CONFLICT, "schema-gone", "Conflict", e.to_string())
        }
        ReviewError::Store(crate::store::StoreError::Conflict(id)) => ApiProblem::new(
            StatusCode::CONFLICT,
            "concurrent-review",
            "Conflict",
            format!("order {id} was changed by someone else meanwhile; reload it"),
        ),
        ReviewError::Store(e) => store_failure(&e),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only orders of this business line.
    #[param(example = "freight-booking")]
    line: Option<String>,
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    limit: Option<u32>,
}

/// The review queue, oldest first: orders with problems staff may fix.
#[utoipa::path(
    get,
    path = "/v1/review",
    operation_id = "listReviewQueue",
    tag = "review",
    security(("api_key" = [])),
    params(QueueQuery),
    responses(
        (status = 200, description = "A page of orders in review (`items`: id, line, tenant, created_at, revision, problems, normalized) \
            and the cursor of the next page (`next`, null on the last).", body = Object),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn queue(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    require_reviewer(&caller)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    // The cursor is "<created_at>|<id>" of the last item seen.
    let after = q.after.as_deref().map(|c| c.split_once('|').unwrap_or((c, "")));
    let orders = state
        .review
        .queue(q.line.as_deref(), after, limit)
        .await
        .map_err(review_failure)?;
    let next = (orders.len() == limit as usize)
        .then(|| orders.last().map(|o| format!("{}|{}", o.created_at, o.id)))
        .flatten();
    let items: Vec<Value> = orders
        .iter()
        .map(|o| {
            json!({
                "id": o.id, "line": o.line, "tenant": o.tenant, "created_at": o.created_at,
                "revision": o.revision, "problems": o.problems, "normalized": o.normalized,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })))
}

fn optional_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, ApiProblem> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            format!("'{field}' must be a string"),
        )),
    }
}

fn require_object(body: &Value, allowed: &[&str]) -> Result<(), ApiProblem> {
    let object = body.as_object().ok_or_else(|| {
        ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            "the body must be a JSON object",
        )
    })?;
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            format!("unknown field '{unknown}'; expected {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

/// Body of a release; the handler reads it field by field (precise 400s),
/// this type only describes it in the OpenAPI document.
#[derive(ToSchema)]
#[allow(dead_code)] // never built, see above
pub struct ReleaseRequest {
    /// A JSON Merge Patch (RFC 7396) of the normalized order; it must touch
    /// every open problem. Re-validated with the same rules as intake.
    #[schema(value_type = Option<Object>)]
    corrections: Option<Value>,
    /// Internal note on the timeline (not shown to the customer).
    note: Option<String>,
}

/// Release an order from review, with corrections.
///
/// Body: `{"corrections": <JSON Merge Patch of the normalized order>, "note": "..."}`.
/// The order stays in review (422 listing what is left) unless the
/// corrections fix every open problem.
#[utoipa::path(
    post,
    path = "/v1/review/{id}/release",
    operation_id = "releaseOrder",
    tag = "review",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The order id.")),
    request_body(
        content = ReleaseRequest,
        example = json!({"corrections": {"origin_port": "CNNGB",
            "cargo_lines": [{"description": "冷冻虾仁", "packages": 40, "gross_weight_kg": 1200}]},
            "note": "customer confirmed by phone: Ningbo, 1200 kg"}),
    ),
    responses(
        (status = 200, description = "The released order with its timeline.", body = Object),
        (status = 400, description = "The body is not JSON, not an object, has unknown fields or a non-string note.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such order.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The order is not in review, was changed meanwhile, or its schema version is gone.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "After the corrections the order still has problems (listed); it stays in review.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn release(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiProblem> {
    require_reviewer(&caller)?;
    require_object(&body.value, &["corrections", "note"])?;
    let note = optional_str(&body.value, "note")?;
    let corrections = body.value.get("corrections").filter(|c| !c.is_null());
    let order = state
        .review
        .release(&caller, &id, corrections, note)
        .await
        .map_err(review_failure)?;
    let timeline = state.store.timeline(&id).await.map_err(|e| store_failure(&e))?;
    Ok(Json(order_view(&order, &timeline, true)))
}

/// Body of a rejection; described here, read field by field by the handler.
#[derive(ToSchema)]
#[allow(dead_code)] // never built, see above
pub struct RejectRequest {
    /// Why, shown to the customer. Required.
    reason: String,
    /// Internal note on the timeline.
    note: Option<String>,
}

/// Reject an order in review.
///
/// Body: `{"reason": "shown to the customer", "note": "internal"}`.
#[utoipa::path(
    post,
    path = "/v1/review/{id}/reject",
    operation_id = "rejectOrder",
    tag = "review",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The order id.")),
    request_body(
        content = RejectRequest,
        example = json!({"reason": "we do not ship to this port", "note": "checked with the carrier"}),
    ),
    responses(
        (status = 200, description = "The rejected order with its timeline.", body = Object),
        (status = 400, description = "The body is not JSON, not an object, has unknown fields or non-string values.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such order.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The order is not in review, or was changed meanwhile.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "No `reason` given.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn reject(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiProblem> {
    require_reviewer(&caller)?;
    require_object(&body.value, &["reason", "note"])?;
    let reason = optional_str(&body.value, "reason")?.unwrap_or_default();
    let note = optional_str(&body.value, "note")?;
    let order = state
        .review
        .reject(&caller, &id, reason, note)
        .await
        .map_err(review_failure)?;
    let timeline = state.store.timeline(&id).await.map_err(|e| store_failure(&e))?;
    Ok(Json(order_view(&order, &timeline, true)))
}
