//! The review queue endpoints (reviewer, operator, admin).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, JsonBody};
use super::orders::{order_view, store_failure};
use super::problem::{ApiProblem, bad_query};
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

#[derive(Deserialize)]
pub struct QueueQuery {
    line: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

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

/// Body: `{"corrections": <JSON Merge Patch of the normalized order>, "note": "..."}`.
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

/// Body: `{"reason": "shown to the customer", "note": "internal"}`.
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
