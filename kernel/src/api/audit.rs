//! `GET /v1/audit`: staff and system actions outside order timelines (API
//! keys created and revoked, webhook subscriptions changed or disabled),
//! newest first. Operators and admins only.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::extract::Caller;
use super::orders::store_failure;
use super::problem::{self, ApiProblem, bad_query};
use super::{AppState, cursor};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Actions starting with this, e.g. `api-key.` or `subscription.disabled`.
    action: Option<String>,
    /// One key or subscription id.
    subject: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "listAuditLog",
    tag = "audit",
    security(("api_key" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries, newest first (`entries`: id, at, actor, action, subject, detail) \
            and `next_cursor`.", body = Object,
            example = json!({"entries": [{"id": "0193f1c2-0000-7000-8000-000000000001", "at": "2026-12-01T08:00:00.000000Z",
                "actor": {"kind": "staff", "id": "cli:wang"}, "action": "api-key.created", "subject": "key_0193f1c2",
                "detail": {"principal": "acme-portal", "role": "customer", "tenant": "acme", "key_prefix": "ohk_Zm9vYm"}}],
                "next_cursor": null})),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    if !caller.role.can_operate() {
        return Err(ApiProblem::forbidden("read the audit log"));
    }
    let cursor = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let records = state
        .store
        .audit_log(
            q.action.as_deref(),
            q.subject.as_deref(),
            cursor.as_ref().map(|(at, id)| (at.as_str(), id.as_str())),
            limit,
        )
        .await
        .map_err(|e| store_failure(&e))?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| cursor::encode(&r.at, &r.id)))
        .flatten();
    Ok(Json(json!({ "entries": records, "next_cursor": next_cursor })))
}
