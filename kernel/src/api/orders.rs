//! Submitting, dry-running and reading orders.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, JsonBody};
use super::problem::ApiProblem;
use crate::auth::Role;
use crate::intake::IntakeError;
use crate::store::{OrderRecord, StoreError};
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

pub async fn submit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(line): Path<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiProblem> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| bad_key())?),
        None => None,
    };
    let accepted = state
        .intake
        .submit(&caller, &line, &body.text, body.value, key)
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

pub async fn validate(
    State(state): State<AppState>,
    _caller: Caller,
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

pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    let not_found = || ApiProblem::not_found(format!("no order '{id}' visible to you"));
    let order = state
        .store
        .order(&id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(not_found)?;
    // Another tenant's order is answered exactly like a missing one.
    if !caller.may_read(&order.tenant) {
        return Err(not_found());
    }
    let timeline = state.store.timeline(&id).await.map_err(|e| store_failure(&e))?;
    Ok(Json(order_view(&order, &timeline, caller.role != Role::Customer)))
}

/// The order as the API shows it; internal detail only for staff.
pub(super) fn order_view(order: &OrderRecord, timeline: &[TimelineEvent], staff: bool) -> Value {
    let events: Vec<Value> = timeline
        .iter()
        .map(|e| {
            let mut event = json!(e);
            if !staff && let Some(map) = event.as_object_mut() {
                map.remove("detail");
            }
            event
        })
        .collect();
    let submission: Value = serde_json::from_str(&order.submission).unwrap_or(Value::String(order.submission.clone()));
    json!({
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
    })
}
