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

use super::{AppState, cursor};
use super::extract::Caller;
use super::orders::store_failure;
use super::problem::{ApiProblem, bad_query};
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
async fn visible_order(state: &AppState, caller: &Principal, id: &str) -> Result<OrderRecord, ApiProblem> {
    let not_found = || ApiProblem::not_found(format!("no order '{id}' visible to you"));
    let order = state
        .store
        .order(id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(not_found)?;
    if caller.may_read(&order.tenant) {
        Ok(order)
    } else {
        Err(not_found())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One status or several, comma-separated.
    status: Option<String>,
    line: Option<String>,
    /// Created at or after (RFC 3339).
    created_from: Option<String>,
    /// Created before (RFC 3339).
    created_to: Option<String>,
    /// The customer's own reference, exactly.
    reference: Option<String>,
    /// Staff only: one tenant's orders.
    tenant: Option<String>,
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn bad_filter(detail: String) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "bad-filter", "Bad Request", detail)
}

fn parse_time(name: &str, value: &str) -> Result<String, ApiProblem> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| format_time(t.with_timezone(&chrono::Utc)))
        .map_err(|e| bad_filter(format!("{name} '{value}' is not an RFC 3339 time ({e}), e.g. 2026-12-01T08:00:00+08:00")))
}

/// `GET /v1/orders`
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
        created_from: q.created_from.as_deref().map(|t| parse_time("created_from", t)).transpose()?,
        created_to: q.created_to.as_deref().map(|t| parse_time("created_to", t)).transpose()?,
        reference: q.reference.filter(|r| !r.is_empty()),
    };
    let cursor = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let orders = state
        .store
        .list_orders(&filter, cursor.as_ref().map(|(at, id)| (at.as_str(), id.as_str())), limit)
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Only events after this sequence number.
    after: Option<i64>,
}

/// `GET /v1/orders/{id}/timeline`
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
