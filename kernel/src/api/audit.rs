//! `GET /v1/audit`: staff and system actions outside order timelines (API
//! keys created and revoked, webhook subscriptions changed or disabled),
//! newest first. Operators and admins only.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, cursor};
use super::extract::Caller;
use super::orders::store_failure;
use super::problem::{ApiProblem, bad_query};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actions starting with this, e.g. `api-key.` or `subscription.disabled`.
    action: Option<String>,
    /// One key or subscription id.
    subject: Option<String>,
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

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
