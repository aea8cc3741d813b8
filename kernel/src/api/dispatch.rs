//! Operator endpoints of durable dispatch — dead letters, targets, replies —
//! and the OPS callback endpoint.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use super::AppState;
use super::body::RawBody;
use super::extract::Caller;
use super::orders::store_failure;
use super::problem::{self, ApiProblem, ProblemDocument, bad_query};
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Only letters of this target.
    #[param(example = "freight-ops")]
    target: Option<String>,
    /// Only letters of orders of this business line.
    #[param(example = "freight-booking")]
    line: Option<String>,
    /// Dead since (inclusive), RFC 3339.
    #[param(example = "2026-11-01T00:00:00Z")]
    since: Option<String>,
    /// Dead before (exclusive), RFC 3339.
    until: Option<String>,
    /// Only letters whose last error was of this kind.
    error_kind: Option<String>,
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    limit: Option<u32>,
}

/// List dead letters.
///
/// `GET /v1/dead-letters`: filters `target`, `line`, `since`, `until`,
/// `error_kind`; cursor `after` (from `next`), `limit`.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    operation_id = "listDeadLetters",
    tag = "dead-letters",
    security(("api_key" = [])),
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "A page of dead letters, newest first (`items`), and the cursor of the next page (`next`).", body = Object),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
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

/// Show a dead letter.
///
/// `GET /v1/dead-letters/{job_id}`: the letter and every attempt.
#[utoipa::path(
    get,
    path = "/v1/dead-letters/{job_id}",
    operation_id = "getDeadLetter",
    tag = "dead-letters",
    security(("api_key" = [])),
    params(("job_id" = String, Path, description = "The dispatch job's id.")),
    responses(
        (status = 200, description = "`dead_letter`, its `attempts` and the order's `timeline`.", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such dead letter.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
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

/// Replay a dead letter.
///
/// `POST /v1/dead-letters/{job_id}/replay`: queue the job again.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/{job_id}/replay",
    operation_id = "replayDeadLetter",
    tag = "dead-letters",
    security(("api_key" = [])),
    params(("job_id" = String, Path, description = "The dispatch job's id.")),
    responses(
        (status = 202, description = "Queued again.", body = Object, example = json!({"job_id": "0193f1c2-0000-7000-8000-000000000001", "replayed": true})),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such dead letter (it may have been replayed already).", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
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

/// Replay dead letters by filter.
///
/// `POST /v1/dead-letters/replay` with a filter body (`{}` = all).
#[utoipa::path(
    post,
    path = "/v1/dead-letters/replay",
    operation_id = "replayDeadLetters",
    tag = "dead-letters",
    security(("api_key" = [])),
    request_body(
        content = Object,
        description = "A filter: any of `target`, `line`, `since`, `until` (RFC 3339), `error_kind`; `{}` replays every dead letter.",
        example = json!({"target": "freight-ops", "since": "2026-11-01T00:00:00Z"}),
    ),
    responses(
        (status = 202, description = "How many letters matched, were replayed, or were skipped (replayed by someone else meanwhile).", body = Object,
            example = json!({"matched": 3, "replayed": 3, "skipped": 0})),
        (status = 400, response = problem::BadBody),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "The body is not such a filter.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
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

/// Dispatch targets and their state.
///
/// `GET /v1/targets`: each target's breaker and lane on this node, its jobs
/// by state, and which node runs the pollers.
#[utoipa::path(
    get,
    path = "/v1/targets",
    operation_id = "listTargets",
    tag = "targets",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "`node`, `targets` (each `lane` and `jobs` by state) and the `pollers` lease.", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    limit: Option<u32>,
}

/// List unmatched replies.
///
/// `GET /v1/replies/unmatched`: answers that matched no order.
#[utoipa::path(
    get,
    path = "/v1/replies/unmatched",
    operation_id = "listUnmatchedReplies",
    tag = "replies",
    security(("api_key" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of unmatched replies (`items`) and the cursor of the next page (`next`).", body = Object),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
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

/// List overdue replies.
///
/// `GET /v1/replies/overdue`: orders whose OPS missed the reply deadline.
#[utoipa::path(
    get,
    path = "/v1/replies/overdue",
    operation_id = "listOverdueReplies",
    tag = "replies",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Up to 500 overdue orders (`items`).", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn overdue_replies(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller, "inspect replies")?;
    let overdue = state
        .store
        .overdue_replies(MAX_PAGE)
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(Json(json!({ "items": overdue })))
}

/// Receive an OPS callback.
///
/// `POST /v1/callbacks/{target}`: an OPS reports on an order. The OPS
/// authenticates with the target's `callback_token` (not an API key: an OPS
/// is no principal of the hub). The body goes to the plugin's `on-inbound`
/// as is; the answer says whether it matched an order. A wrong token and
/// an unknown target get the same 401.
#[utoipa::path(
    post,
    path = "/v1/callbacks/{target}",
    operation_id = "receiveCallback",
    tag = "callbacks",
    security(("callback_token" = [])),
    params(
        ("target" = String, Path, description = "The target (`[targets.<name>]` in the hub's configuration) the OPS reports for.", example = "freight-ops"),
        ("X-Correlation-Id" = Option<String>, Header, nullable = false, description = "The correlation id the hub sent with the order, when the OPS echoes it."),
    ),
    request_body(
        content = String,
        content_type = "*/*",
        description = "Whatever the OPS sends (JSON, XML, …); the target's plugin reads it.",
    ),
    responses(
        (status = 202, description = "Read: how much feedback was applied to orders, was a duplicate, or matched no order (kept as unmatched).", body = Object,
            example = json!({"applied": 1, "duplicates": 0, "unmatched": 0})),
        (status = 401, description = "No or a wrong callback token, or an unknown target (answered alike).", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn callback(
    State(state): State<AppState>,
    Path(target): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
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
