//! The portal's read side: order lists with filters and cursors, an
//! order's timeline, and its events as a resumable server-sent stream.
//!
//! Visibility is the same everywhere: a customer sees only its tenant's
//! orders (another tenant's order is answered exactly like a missing one)
//! and never an event's internal `detail`; staff see every tenant.
//!
//! The event stream reads the store, not a message bus: it sends what the
//! timeline holds after the client's `Last-Event-ID` (the event's `seq`),
//! then waits for this process's timeline bell or a periodic re-read (for
//! events written by other nodes). A dropped connection resumed with
//! `Last-Event-ID` therefore loses nothing and repeats nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::extract::{Caller, visible_to};
use super::orders::store_failure;
use super::problem::{self, ApiProblem, ProblemDocument, bad_query};
use super::{AppState, cursor};
use crate::auth::{Principal, Role};
use crate::store::{Backend, OrderFilter, OrderRecord, Store, format_time};
use crate::timeline::{OrderStatus, TimelineEvent};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Events read from the store per query while a stream catches up.
const STREAM_BATCH: u32 = 200;
/// How often a stream re-reads the store without a bell. A single SQLite
/// node rings its bell for every event; with PostgreSQL other nodes may
/// append events this process never hears of.
const REREAD_SHARED: Duration = Duration::from_secs(2);
const REREAD_SINGLE: Duration = Duration::from_secs(30);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An event as `caller` may see it: customers never get `detail`.
pub(super) fn event_view(event: &TimelineEvent, staff: bool) -> Value {
    let mut view = json!(event);
    if !staff && let Some(map) = view.as_object_mut() {
        map.remove("detail");
    }
    view
}

fn is_staff(caller: &Principal) -> bool {
    caller.role != Role::Customer
}

/// The order if `caller` may see it; otherwise the same 404 as a missing one.
pub(super) async fn visible_order(state: &AppState, caller: &Principal, id: &str) -> Result<OrderRecord, ApiProblem> {
    let found = state.store.order(id).await.map_err(|e| store_failure(&e))?;
    visible_to(caller, found, |order| &order.tenant, "order", id)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status or several, comma-separated: needs-review, queued, rejected, submitted,
    /// accepted, in-progress, completed, cancelled, failed.
    #[param(example = "accepted,in-progress")]
    status: Option<String>,
    /// Only this business line.
    #[param(example = "freight-booking")]
    line: Option<String>,
    /// Created at or after (RFC 3339).
    created_from: Option<String>,
    /// Created before (RFC 3339).
    created_to: Option<String>,
    /// The customer's own reference, exactly.
    reference: Option<String>,
    /// Staff only: one tenant's orders (a customer always gets its own).
    tenant: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
}

fn bad_filter(detail: String) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "bad-filter", "Bad Request", detail)
}

fn parse_time(name: &str, value: &str) -> Result<String, ApiProblem> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| format_time(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            bad_filter(format!(
                "{name} '{value}' is not an RFC 3339 time ({e}), e.g. 2026-12-01T08:00:00+08:00"
            ))
        })
}

/// `GET /v1/orders`
#[utoipa::path(
    get,
    path = "/v1/orders",
    operation_id = "listOrders",
    tag = "orders",
    security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of orders, newest first (`orders`: id, line, status, customer_reference, \
            created_at, updated_at, status_url; `tenant` for staff) and `next_cursor` (null on the last page).", body = Object,
            example = json!({"orders": [{"id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70", "line": "freight-booking",
                "status": "accepted", "customer_reference": "BK-2026-0001", "created_at": "2026-12-01T08:00:00.000000Z",
                "updated_at": "2026-12-01T08:00:02.000000Z", "status_url": "/v1/orders/0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70"}],
                "next_cursor": null})),
        (status = 400, description = "A filter that does not parse: unknown status, a time that is not RFC 3339, \
            a cursor this API did not give out, an unknown parameter.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = problem::Unauthorized),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    let statuses = match q.status.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|name| {
                OrderStatus::parse(name.trim()).ok_or_else(|| {
                    let known: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                    bad_filter(format!("unknown status '{name}'; one of {}", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let tenant = if is_staff(&caller) {
        q.tenant
    } else {
        // A customer's list is its own tenant's, whatever it asks for.
        Some(caller.owning_tenant().to_owned())
    };
    let filter = OrderFilter {
        tenant,
        statuses,
        line: q.line.filter(|l| !l.is_empty()),
        created_from: q
            .created_from
            .as_deref()
            .map(|t| parse_time("created_from", t))
            .transpose()?,
        created_to: q
            .created_to
            .as_deref()
            .map(|t| parse_time("created_to", t))
            .transpose()?,
        reference: q.reference.filter(|r| !r.is_empty()),
    };
    let cursor = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let orders = state
        .store
        .list_orders(
            &filter,
            cursor.as_ref().map(|(at, id)| (at.as_str(), id.as_str())),
            limit,
        )
        .await
        .map_err(|e| store_failure(&e))?;
    let next_cursor = (orders.len() == limit as usize)
        .then(|| orders.last().map(|o| cursor::encode(&o.created_at, &o.id)))
        .flatten();
    let staff = is_staff(&caller);
    let items: Vec<Value> = orders.iter().map(|o| summary(o, staff)).collect();
    Ok(Json(json!({ "orders": items, "next_cursor": next_cursor })))
}

fn summary(order: &OrderRecord, staff: bool) -> Value {
    let mut view = json!({
        "id": order.id,
        "line": order.line,
        "status": order.status,
        "customer_reference": order.customer_reference,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "status_url": format!("/v1/orders/{}", order.id),
    });
    if staff && let Some(map) = view.as_object_mut() {
        map.insert("tenant".into(), json!(order.tenant));
    }
    view
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Only events after this sequence number (`seq`); for the stream, `Last-Event-ID` wins.
    after: Option<i64>,
}

/// `GET /v1/orders/{id}/timeline`
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/timeline",
    operation_id = "getOrderTimeline",
    tag = "orders",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The order id."), TimelineQuery),
    responses(
        (status = 200, description = "The order's status and its events, oldest first. Each event: id, seq, kind, at, \
            actor {kind: system|customer|staff|target, id}, message (customer-facing), data (optional); \
            `detail` (internal) only for staff.", body = Object,
            example = json!({"order_id": "0193f1c2-7a4e-7d10-9c1a-2b3c4d5e6f70", "status": "accepted", "events": [
                {"id": "0193f1c2-7a4f-7000-8000-000000000001", "seq": 1, "kind": "received", "at": "2026-12-01T08:00:00.000000Z",
                 "actor": {"kind": "customer", "id": "acme-portal"}, "message": "Order received"}]})),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "No such order visible to the caller (another tenant's order reads the same).",
            body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn timeline(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    let order = visible_order(&state, &caller, &id).await?;
    let events = state
        .store
        .timeline_after(&id, q.after.unwrap_or(0), u32::MAX)
        .await
        .map_err(|e| store_failure(&e))?;
    let staff = is_staff(&caller);
    let events: Vec<Value> = events.iter().map(|e| event_view(e, staff)).collect();
    Ok(Json(json!({
        "order_id": order.id,
        "status": order.status,
        "events": events,
    })))
}

/// `GET /v1/orders/{id}/events`: the timeline as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    operation_id = "streamOrderEvents",
    tag = "orders",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The order id."),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event (`id:` of the last frame received); \
            browsers' EventSource sends it by itself on reconnect."),
        TimelineQuery,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: every event of the timeline after `Last-Event-ID`, then new ones \
            as they happen. Frame: `id:` the event's seq, `event:` its kind, `data:` the event as in the timeline. \
            A comment every 15 s keeps proxies from closing the connection.", content_type = "text/event-stream", body = String),
        (status = 400, description = "`Last-Event-ID` is not an event id.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "No such order visible to the caller.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiProblem> {
    let Query(q) = query.map_err(bad_query)?;
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| bad_filter("Last-Event-ID must be the id of an event this stream sent".to_owned()))?,
        None => q.after.unwrap_or(0),
    };
    let order = visible_order(&state, &caller, &id).await?;
    let (sender, receiver) = mpsc::channel(64);
    // Subscribed before the first read, so no event falls between the two.
    let bell = state.store.timeline_bell();
    tokio::spawn(stream_timeline(
        state.store.clone(),
        order.id,
        after,
        is_staff(&caller),
        bell,
        sender,
        state.streams_stop.clone(),
    ));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Feeds one client: catch up from the store, then wait for news. Ends when
/// the client goes away or the hub shuts down.
async fn stream_timeline(
    store: Store,
    order_id: String,
    mut last_seq: i64,
    staff: bool,
    mut bell: tokio::sync::broadcast::Receiver<std::sync::Arc<str>>,
    sender: mpsc::Sender<Event>,
    stop: tokio_util::sync::CancellationToken,
) {
    let reread = match store.backend() {
        Backend::Postgres => REREAD_SHARED,
        Backend::Sqlite => REREAD_SINGLE,
    };
    loop {
        loop {
            let events = match store.timeline_after(&order_id, last_seq, STREAM_BATCH).await {
                Ok(events) => events,
                Err(error) => {
                    // Try again at the next bell or re-read; the client keeps its place.
                    tracing::warn!(order_id, %error, "event stream cannot read the timeline");
                    break;
                }
            };
            let full_batch = events.len() == STREAM_BATCH as usize;
            for event in events {
                let frame = Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.as_str())
                    .json_data(event_view(&event, staff));
                if let Ok(frame) = frame
                    && sender.send(frame).await.is_err()
                {
                    return;
                }
                last_seq = event.seq;
            }
            if !full_batch {
                break;
            }
        }
        tokio::select! {
            () = sender.closed() => return,
            () = stop.cancelled() => return,
            () = tokio::time::sleep(reread) => {}
            () = rung_for(&mut bell, &order_id) => {}
        }
    }
}

/// Waits until the bell rings for `order_id` (or rang too often to tell).
async fn rung_for(bell: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<str>>, order_id: &str) {
    loop {
        match bell.recv().await {
            Ok(id) if &*id == order_id => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            // The store is gone: the hub is stopping; let the re-read timer decide.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
