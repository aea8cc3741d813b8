//! Operator endpoints of durable dispatch — dead letters, targets, replies —
//! and the OPS callback endpoint.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::Caller;
use super::orders::store_failure;
use super::problem::{ApiProblem, bad_query};
use crate::auth::Principal;
use crate::dlq;
use crate::replies::{POLLER_LEASE, ReplyError};
use crate::sandbox::{Inbound, InboundSource};
use crate::store::DeadLetterFilter;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

fn require_operator(caller: &Principal, what: &str) -> Result<(), ApiProblem> {
    if caller.role.can_operate() {
        Ok(())
    } else {
        Err(ApiProblem::forbidden(what))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    target: Option<String>,
    line: Option<String>,
    since: Option<String>,
    until: Option<String>,
    error_kind: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/dead-letters`: filters `target`, `line`, `since`, `until`,
/// `error_kind`; cursor `after` (from `next`), `limit`.
pub async fn list_dead_letters(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    require_operator(&caller, "inspect dead letters")?;
    let filter = DeadLetterFilter {
        target: q.target,
        line: q.line,
        since: q.since,
        until: q.until,
        error_kind: q.error_kind,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = q.after.as_deref().map(|c| c.split_once('|').unwrap_or((c, "")));
    let letters = state
        .store
        .dead_letters(&filter, after, limit)
        .await
        .map_err(|e| store_failure(&e))?;
    let next = (letters.len() == limit as usize)
        .then(|| letters.last().map(|l| format!("{}|{}", l.dead_at, l.job_id)))
        .flatten();
    Ok(Json(json!({ "items": letters, "next": next })))
}

/// `GET /v1/dead-letters/{job_id}`: the letter and every attempt.
pub async fn show_dead_letter(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller, "inspect dead letters")?;
    let (letter, attempts) = state
        .store
        .dead_letter(&job_id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| ApiProblem::not_found(format!("no dead letter '{job_id}'")))?;
    let timeline = state
        .store
        .timeline(&letter.order_id)
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(Json(
        json!({ "dead_letter": letter, "attempts": attempts, "timeline": timeline }),
    ))
}

/// `POST /v1/dead-letters/{job_id}/replay`.
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiProblem> {
    require_operator(&caller, "replay dead letters")?;
    let replayed = dlq::replay_one(&state.store, state.plugins.as_deref(), &job_id, &caller.actor())
        .await
        .map_err(|e| store_failure(&e))?;
    if !replayed {
        return Err(ApiProblem::not_found(format!(
            "no dead letter '{job_id}' (it may have been replayed already)"
        )));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job_id, "replayed": true })),
    ))
}

/// `POST /v1/dead-letters/replay` with a filter body (`{}` = all).
pub async fn replay_dead_letters(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: super::extract::JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiProblem> {
    require_operator(&caller, "replay dead letters")?;
    let filter: DeadLetterFilter = serde_json::from_value(body.value).map_err(|error| {
        ApiProblem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Unprocessable Content",
            format!("expected a filter with target, line, since, until, error_kind: {error}"),
        )
    })?;
    let report = dlq::replay_matching(
        &state.store,
        state.plugins.as_deref(),
        &filter,
        &caller.actor(),
        |_, _| {},
    )
    .await
    .map_err(|e| store_failure(&e))?;
    tracing::info!(operator = %caller.id, ?filter, replayed = report.replayed, "bulk dead-letter replay");
    Ok((StatusCode::ACCEPTED, Json(json!(report))))
}

/// `GET /v1/targets`: each target's breaker and lane on this node, its jobs
/// by state, and which node runs the pollers.
pub async fn targets(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller, "inspect targets")?;
    let mut items = Vec::new();
    let lanes = state.dispatcher.as_ref().map(|d| d.lanes()).unwrap_or_default();
    for lane in lanes {
        let jobs = state
            .store
            .job_counts(Some(&lane.target))
            .await
            .map_err(|e| store_failure(&e))?;
        let jobs: serde_json::Map<String, Value> = jobs.into_iter().map(|(state, n)| (state, json!(n))).collect();
        items.push(json!({ "lane": lane, "jobs": jobs }));
    }
    let pollers = state
        .store
        .node_lease(POLLER_LEASE)
        .await
        .map_err(|e| store_failure(&e))?
        .map(|(owner, token, until)| json!({ "node": owner, "token": token, "until": until }));
    Ok(Json(json!({
        "node": state.dispatcher.as_ref().map(|d| d.node().to_owned()),
        "targets": items,
        "pollers": pollers,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/replies/unmatched`: answers that matched no order.
pub async fn unmatched_replies(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    require_operator(&caller, "inspect replies")?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = q.after.as_deref().map(|c| c.split_once('|').unwrap_or((c, "")));
    let replies = state
        .store
        .unmatched_replies(after, limit)
        .await
        .map_err(|e| store_failure(&e))?;
    let next = (replies.len() == limit as usize)
        .then(|| replies.last().map(|r| format!("{}|{}", r.received_at, r.id)))
        .flatten();
    Ok(Json(json!({ "items": replies, "next": next })))
}

/// `GET /v1/replies/overdue`: orders whose OPS missed the reply deadline.
pub async fn overdue_replies(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller, "inspect replies")?;
    let overdue = state
        .store
        .overdue_replies(MAX_PAGE)
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(Json(json!({ "items": overdue })))
}

/// `POST /v1/callbacks/{target}`: an OPS reports on an order. The OPS
/// authenticates with the target's `callback_token` (not an API key: an OPS
/// is no principal of the hub). The body goes to the plugin's `on-inbound`
/// as is; the answer says whether it matched an order. A wrong token and
/// an unknown target get the same 401.
pub async fn callback(
    State(state): State<AppState>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiProblem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let expected = state.plugins.as_ref().and_then(|host| host.callback_token(&target));
    let authorized = match (presented, expected) {
        // compare digests: equal length, no early exit on the secret's bytes
        (Some(presented), Some(expected)) => {
            Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.expose().as_bytes())
        }
        _ => false,
    };
    let replies = state
        .replies
        .as_ref()
        .filter(|_| authorized)
        .ok_or_else(ApiProblem::unauthorized)?;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let message = Inbound {
        source: InboundSource::HttpCallback,
        correlation_id: headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        name: None,
        content_type: text(header::CONTENT_TYPE),
        // the OPS's own headers, minus credentials
        headers: headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "authorization" | "cookie" | "proxy-authorization"))
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let report = replies.inbound(&target, message).await.map_err(|error| match error {
        ReplyError::UnknownTarget(_) => ApiProblem::unauthorized(),
        ReplyError::Store(e) => store_failure(&e),
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!(report))))
}
