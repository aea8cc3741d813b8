//! Webhook subscriptions: a customer registers endpoints with event
//! filters and reads what was delivered; [`crate::webhooks`] sends.
//!
//! Who may do what: a customer manages its own tenant's subscriptions
//! (another tenant's subscription is answered exactly like a missing one);
//! operators and admins manage every tenant's (creating one names the
//! tenant); reviewers none. A secret is in two answers only — creation and
//! rotation — never in a listing, a log line or an error.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use utoipa::IntoParams;

use super::extract::{Caller, JsonBody, visible_to};
use super::orders::store_failure;
use super::problem::{self, ApiProblem, ProblemDocument, bad_query};
use super::{AppState, cursor};
use crate::auth::{Principal, Role};
use crate::problem::{Problem, pointer_push};
use crate::store::{NewSubscription, SubscriptionRecord};
use crate::timeline::EventKind;
use crate::webhooks::ssrf::check_target;
use crate::webhooks::{ALL_EVENTS, SigningSecret};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION_LEN: usize = 500;
const DELIVERY_STATES: [&str; 5] = ["pending", "leased", "delivered", "failed", "held"];

/// `POST /v1/subscriptions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    /// Where events are POSTed: `https://` on a public address.
    #[schema(example = "https://portal.example.com/hooks/order-hub")]
    url: String,
    /// Event kinds to receive (`accepted`, `rejected`, `in-progress`, …), or `["*"]` for all.
    #[schema(example = json!(["accepted", "rejected", "in-progress", "completed"]))]
    events: Vec<String>,
    /// A note for humans (up to 500 characters).
    #[serde(default)]
    #[schema(example = "ERP order status sync")]
    description: Option<String>,
    /// Operators and admins: the tenant the subscription belongs to. Customers leave it out.
    #[serde(default)]
    tenant: Option<String>,
}

fn require_manager(caller: &Principal) -> Result<(), ApiProblem> {
    if caller.role == Role::Customer || caller.role.can_operate() {
        Ok(())
    } else {
        Err(ApiProblem::forbidden("manage webhook subscriptions"))
    }
}

fn field(pointer: &str, code: &str, message: impl Into<String>) -> Problem {
    Problem {
        pointer: pointer.to_owned(),
        code: code.to_owned(),
        message: message.into(),
        reviewable: false,
    }
}

fn invalid(problems: Vec<Problem>) -> ApiProblem {
    let detail = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                if p.pointer.is_empty() { "body" } else { &p.pointer },
                p.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    ApiProblem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-subscription",
        "Unprocessable Content",
        format!("the subscription cannot be registered: {detail}"),
    )
    .with_problems(problems)
}

/// The event filter, checked: known kinds or `*`, no duplicates kept.
fn check_events(events: &[String], problems: &mut Vec<Problem>) -> Vec<String> {
    if events.is_empty() {
        problems.push(field(
            "/events",
            "required",
            "list at least one event kind, or \"*\" for all",
        ));
    }
    let mut kept: Vec<String> = Vec::new();
    for (i, kind) in events.iter().enumerate() {
        if kind != ALL_EVENTS && EventKind::parse(kind).is_none() {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            problems.push(field(
                &pointer_push("/events", &i.to_string()),
                "unknown-event-kind",
                format!("'{kind}' is no event kind; use \"*\" or one of: {}", known.join(", ")),
            ));
        } else if !kept.contains(kind) {
            kept.push(kind.clone());
        }
    }
    if kept.iter().any(|k| k == ALL_EVENTS) {
        kept = vec![ALL_EVENTS.to_owned()];
    }
    kept
}

fn subscription_view(record: &SubscriptionRecord) -> Value {
    json!(record)
}

/// Register a webhook endpoint for the caller's tenant.
///
/// Every timeline event of the tenant's orders whose kind is in `events`
/// is POSTed to `url` as a CloudEvents 1.0 JSON document
/// (`application/cloudevents+json`), signed the Standard Webhooks way
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
/// HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the base64
/// part of the `whsec_` secret). The secret is in this answer only: keep it.
/// The endpoint must be `https://` on a public address; private, loopback,
/// link-local and similar addresses are refused (also when a host name
/// resolves to one). Failed deliveries are retried (5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h by default, with jitter); an endpoint failing for
/// days is disabled and its events are kept until it is enabled again.
#[utoipa::path(
    post,
    path = "/v1/subscriptions",
    operation_id = "createSubscription",
    tag = "subscriptions",
    security(("api_key" = [])),
    request_body(content = SubscriptionRequest, description = "The endpoint and the event kinds it receives."),
    responses(
        (status = 201, description = "Registered; `secret` is shown this once.", body = Object,
            headers(("Location" = String, description = "The subscription's URL.")),
            example = json!({
                "id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70", "tenant": "acme",
                "url": "https://portal.example.com/hooks/order-hub", "events": ["accepted", "rejected"],
                "description": "ERP order status sync", "state": "enabled", "disabled_at": null,
                "disabled_reason": null, "failing_since": null, "previous_secret_valid_until": null,
                "created_by": "acme-portal", "created_at": "2026-03-01T08:00:00.000000Z",
                "updated_at": "2026-03-01T08:00:00.000000Z",
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="})),
        (status = 400, response = problem::BadBody),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 409, description = "The tenant has the most subscriptions allowed.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "Not a usable subscription: each problem with its JSON Pointer (`/url` for a refused address, with the reason).", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: JsonBody,
) -> Result<Response, ApiProblem> {
    require_manager(&caller)?;
    let request: SubscriptionRequest = serde_json::from_value(body.value).map_err(|error| {
        invalid(vec![field(
            "",
            "invalid-request",
            format!("expected {{\"url\", \"events\": [..], \"description\"?}}: {error}"),
        )])
    })?;
    let mut problems = Vec::new();
    let tenant = match (caller.role, &request.tenant) {
        (Role::Customer, Some(tenant)) if Some(tenant) != caller.tenant.as_ref() => {
            return Err(ApiProblem::forbidden("register subscriptions for another tenant"));
        }
        (Role::Customer, _) => caller.owning_tenant().to_owned(),
        (_, Some(tenant)) if !tenant.trim().is_empty() => tenant.trim().to_owned(),
        _ => {
            problems.push(field(
                "/tenant",
                "required",
                "staff register a subscription for a tenant: name it in `tenant`",
            ));
            String::new()
        }
    };
    let events = check_events(&request.events, &mut problems);
    let description = request.description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        problems.push(field(
            "/description",
            "too-long",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    let url = if request.url.len() > MAX_URL_LEN {
        problems.push(field("/url", "too-long", format!("at most {MAX_URL_LEN} bytes")));
        None
    } else {
        match Url::parse(request.url.trim()) {
            Ok(url) => Some(url),
            Err(error) => {
                problems.push(field("/url", "invalid-url", format!("not an absolute URL: {error}")));
                None
            }
        }
    };
    if let Some(url) = &url
        && let Err(refused) = check_target(url, state.webhooks.policy).await
    {
        problems.push(field("/url", "refused-target", refused.to_string()));
    }
    let Some(url) = url.filter(|_| problems.is_empty()) else {
        return Err(invalid(problems));
    };
    let secret = SigningSecret::generate().map_err(|error| {
        tracing::error!(%error, "cannot generate a webhook secret");
        ApiProblem::internal()
    })?;
    let subscription = NewSubscription {
        id: uuid::Uuid::now_v7().to_string(),
        tenant,
        url: url.to_string(),
        events,
        description,
        secret: secret.expose().to_owned(),
    };
    let limit = state.webhooks.max_subscriptions_per_tenant;
    let created = state
        .store
        .create_subscription(&subscription, limit, &caller.actor())
        .await
        .map_err(|e| store_failure(&e))?;
    if !created {
        return Err(ApiProblem::new(
            StatusCode::CONFLICT,
            "too-many-subscriptions",
            "Conflict",
            format!(
                "tenant '{}' has {limit} subscriptions, the most this hub allows; delete one first",
                subscription.tenant
            ),
        ));
    }
    let record = state
        .store
        .subscription(&subscription.id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(ApiProblem::internal)?;
    let mut view = subscription_view(&record);
    view["secret"] = json!(secret.expose());
    let location = format!("/v1/subscriptions/{}", record.id);
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Operators and admins: only this tenant's. A customer may name only its own.
    #[param(example = "acme")]
    tenant: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List webhook subscriptions, oldest first.
///
/// A customer gets its own tenant's; operators and admins every tenant's,
/// or one tenant's with `?tenant=`. Secrets are never listed.
#[utoipa::path(
    get,
    path = "/v1/subscriptions",
    operation_id = "listSubscriptions",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "`subscriptions` (without secrets) and `next_cursor` (null on the last page).", body = Object),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    require_manager(&caller)?;
    let tenant = match caller.role {
        Role::Customer => {
            let own = caller.owning_tenant();
            if q.tenant.as_deref().is_some_and(|t| t != own) {
                return Err(ApiProblem::forbidden("list another tenant's subscriptions"));
            }
            Some(own.to_owned())
        }
        _ => q.tenant.filter(|t| !t.is_empty()),
    };
    let cursor = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let items = state
        .store
        .subscriptions(
            tenant.as_deref(),
            cursor.as_ref().map(|(at, id)| (at.as_str(), id.as_str())),
            limit,
        )
        .await
        .map_err(|e| store_failure(&e))?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|s| cursor::encode(&s.created_at, &s.id)))
        .flatten();
    let items: Vec<Value> = items.iter().map(subscription_view).collect();
    Ok(Json(json!({ "subscriptions": items, "next_cursor": next_cursor })))
}

/// The subscription `id` if the caller may manage it; another tenant's is
/// answered exactly like a missing one.
async fn visible(state: &AppState, caller: &Principal, id: &str) -> Result<SubscriptionRecord, ApiProblem> {
    require_manager(caller)?;
    let found = state.store.subscription(id).await.map_err(|e| store_failure(&e))?;
    visible_to(caller, found, |record| &record.tenant, "subscription", id)
}

/// Read one subscription (no secret) with its deliveries counted by state.
#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}",
    operation_id = "getSubscription",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id.")),
    responses(
        (status = 200, description = "The subscription and `deliveries` (count per state).", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    let record = visible(&state, &caller, &id).await?;
    let counts = state.store.delivery_counts(&id).await.map_err(|e| store_failure(&e))?;
    let counts: serde_json::Map<String, Value> = counts.into_iter().map(|(s, n)| (s, json!(n))).collect();
    let mut view = subscription_view(&record);
    view["deliveries"] = Value::Object(counts);
    Ok(Json(view))
}

/// Delete a subscription and its deliveries (pending ones are not sent).
#[utoipa::path(
    delete,
    path = "/v1/subscriptions/{id}",
    operation_id = "deleteSubscription",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiProblem> {
    visible(&state, &caller, &id).await?;
    let deleted = state
        .store
        .delete_subscription(&id, &caller.actor())
        .await
        .map_err(|e| store_failure(&e))?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiProblem::not_found(format!("no subscription '{id}' visible to you")))
    }
}

/// Rotate the signing secret.
///
/// The answer holds the new secret (this once). The old one keeps signing
/// until `previous_secret_valid_until` (24 h by default): meanwhile every
/// delivery carries two signatures, so receivers can switch at their pace.
/// Rotating again drops the older secret at once.
#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/rotate-secret",
    operation_id = "rotateSubscriptionSecret",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id.")),
    responses(
        (status = 200, description = "The new `secret` and until when the old one still signs.", body = Object,
            example = json!({"id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70",
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=",
                "previous_secret_valid_until": "2026-03-02T08:00:00.000000Z"})),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    visible(&state, &caller, &id).await?;
    let secret = SigningSecret::generate().map_err(|error| {
        tracing::error!(%error, "cannot generate a webhook secret");
        ApiProblem::internal()
    })?;
    let until = state
        .store
        .rotate_subscription_secret(&id, secret.expose(), state.webhooks.secret_overlap, &caller.actor())
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| ApiProblem::not_found(format!("no subscription '{id}' visible to you")))?;
    Ok(Json(json!({
        "id": id,
        "secret": secret.expose(),
        "previous_secret_valid_until": until,
    })))
}

/// Enable a subscription and redeliver what it missed.
///
/// A subscription is disabled by the hub when its endpoint kept failing;
/// events meanwhile were kept (`held`). Enabling sends the held deliveries
/// and those whose retries ran out (`failed`), each with a fresh round of
/// retries. On an enabled subscription it redelivers the failed ones.
#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/enable",
    operation_id = "enableSubscription",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id.")),
    responses(
        (status = 200, description = "Enabled: the subscription and how many deliveries were `requeued`.", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn enable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiProblem> {
    visible(&state, &caller, &id).await?;
    let not_found = || ApiProblem::not_found(format!("no subscription '{id}' visible to you"));
    let requeued = state
        .store
        .enable_subscription(&id, &caller.actor())
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(not_found)?;
    state.webhooks.ring();
    let record = state
        .store
        .subscription(&id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(not_found)?;
    Ok(Json(
        json!({ "subscription": subscription_view(&record), "requeued": requeued }),
    ))
}

/// Send a test event (`com.order-hub.ping`) to the endpoint.
///
/// It goes through the same queue, signing and retries as order events;
/// follow it in the deliveries list.
#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/test",
    operation_id = "testSubscription",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id.")),
    responses(
        (status = 202, description = "Queued: `delivery_id`.", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The subscription is disabled; enable it first.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn test(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiProblem> {
    let record = visible(&state, &caller, &id).await?;
    if record.state != "enabled" {
        return Err(ApiProblem::new(
            StatusCode::CONFLICT,
            "subscription-disabled",
            "Conflict",
            format!(
                "subscription '{id}' is disabled ({}); POST /v1/subscriptions/{id}/enable first",
                record.disabled_reason.as_deref().unwrap_or("no reason recorded")
            ),
        ));
    }
    let delivery_id = state.store.queue_ping(&id).await.map_err(|e| store_failure(&e))?;
    state.webhooks.ring();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "delivery_id": delivery_id, "status_url": format!("/v1/subscriptions/{id}/deliveries") })),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state: pending, leased, delivered, failed (retries used up) or held (subscription disabled).
    #[param(example = "failed")]
    state: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A subscription's deliveries, newest first: state, attempts, last
/// status and error, next attempt.
#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}/deliveries",
    operation_id = "listSubscriptionDeliveries",
    tag = "subscriptions",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The subscription id."), DeliveriesQuery),
    responses(
        (status = 200, description = "`deliveries` and `next_cursor` (null on the last page).", body = Object,
            example = json!({"deliveries": [{"id": "0193f1c2-8b00-7d10-9c1a-2b3c4d5e6f70", "subscription_id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70",
                "event_id": "0193f1c2-7f00-7d10-9c1a-2b3c4d5e6f70", "event_type": "com.order-hub.order.accepted",
                "order_id": "0193f1c2-7e00-7d10-9c1a-2b3c4d5e6f70", "state": "pending", "attempts": 2,
                "next_attempt_at": "2026-03-01T08:35:00.000000Z", "last_status": 503,
                "last_error": "the endpoint answered HTTP 503 Service Unavailable",
                "last_attempt_at": "2026-03-01T08:05:00.000000Z", "created_at": "2026-03-01T08:00:00.000000Z",
                "delivered_at": null}], "next_cursor": null})),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such subscription visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    visible(&state, &caller, &id).await?;
    if let Some(wanted) = &q.state
        && !DELIVERY_STATES.contains(&wanted.as_str())
    {
        return Err(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "Bad Request",
            format!("state '{wanted}' is none of {}", DELIVERY_STATES.join(", ")),
        ));
    }
    let cursor = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let items = state
        .store
        .subscription_deliveries(
            &id,
            q.state.as_deref(),
            cursor.as_ref().map(|(at, id)| (at.as_str(), id.as_str())),
            limit,
        )
        .await
        .map_err(|e| store_failure(&e))?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|d| cursor::encode(&d.created_at, &d.id)))
        .flatten();
    Ok(Json(json!({ "deliveries": items, "next_cursor": next_cursor })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_filters_are_checked_and_tidied() {
        let mut problems = Vec::new();
        let kept = check_events(
            &["accepted".into(), "accepted".into(), "in-progress".into()],
            &mut problems,
        );
        assert!(problems.is_empty());
        assert_eq!(kept, ["accepted", "in-progress"]);
        let kept = check_events(&["accepted".into(), "*".into()], &mut problems);
        assert_eq!(kept, ["*"]);
        check_events(&["accepted".into(), "shipped".into()], &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/events/1");
        assert!(problems[0].message.contains("in-progress"), "{}", problems[0].message);
        check_events(&[], &mut problems);
        assert_eq!(problems[1].pointer, "/events");
    }
}
