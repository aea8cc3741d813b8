//! A freight-forwarding OPS with a REST/JSON API, as the `rest-json`
//! reference plugin expects it: `POST /api/bookings` books once per
//! `Idempotency-Key` (201, a repeat answers 200 with the same number).
//!
//! It records what it received (headers and body) so tests can check the
//! bytes the OPS got, and can be switched to "down" (503 + `Retry-After`)
//! to show retries.
//!
//! Switched to "queue for a clerk" ([`FreightRestOps::set_queue`]), it
//! answers `202 {"trackingId"}` instead of booking, and
//! `GET /api/bookings/{trackingId}` answers the status report a test set
//! with [`FreightRestOps::set_report`] (`QUEUED` until then), counting the
//! polls per tracking id — the statuses the `rest-json` plugin maps to
//! milestones and finance events (`IN_TRANSIT`, `DELIVERED`, `INVOICED`, …).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// One booking request as the OPS received it.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Books {
    numbers: HashMap<String, String>,
    requests: Vec<BookingRequest>,
    /// Queue mode: tracking ids in the order they were handed out.
    tracking: Vec<String>,
    /// tracking id → the status report `GET bookings/{id}` answers.
    reports: HashMap<String, Value>,
    /// tracking id → how often it was polled.
    polls: HashMap<String, usize>,
}

#[derive(Clone, Default)]
struct Shared {
    books: Arc<Mutex<Books>>,
    down: Arc<AtomicBool>,
    queue: Arc<AtomicBool>,
}

/// A running freight OPS; stops on drop.
pub struct FreightRestOps {
    address: SocketAddr,
    shared: Shared,
    _stop: oneshot::Sender<()>,
}

impl FreightRestOps {
    /// Starts on `127.0.0.1:0` (tests) or a given address (`ops-sim`).
    pub async fn start(address: SocketAddr) -> anyhow::Result<FreightRestOps> {
        let shared = Shared::default();
        let app = axum::Router::new()
            .route("/api/bookings", post(book))
            .route("/api/bookings/{id}", get(report))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FreightRestOps {
            address,
            shared,
            _stop: stop,
        })
    }

    /// The base URL a target points at (ends with `/api/`).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Hub configuration (TOML) for a `freight-ops` target served by the
    /// reference `rest-json` plugin against this OPS, and the route of every
    /// freight booking to it; `extra` adds settings to the target table
    /// (`retry = {…}`, `poll_interval_ms = …`).
    pub fn target_config(&self, extra: &str) -> String {
        format!(
            r#"
[targets.freight-ops]
plugin = "rest-json"
grants = ["http", "config", "log"]
settings = {{ bookings_path = "bookings" }}
http = {{ base_url = "{base}", allowed_paths = ["bookings", "bookings/*"], timeout_ms = 2000 }}
{extra}

[[routes]]
name = "all freight"
line = "freight-booking"
target = "freight-ops"
"#,
            base = self.base_url()
        )
    }

    /// Answer 503 with `Retry-After: 1` (true) or book again (false).
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every booking request received so far.
    pub fn requests(&self) -> Vec<BookingRequest> {
        self.shared.books.lock().map(|b| b.requests.clone()).unwrap_or_default()
    }

    /// Distinct bookings made (one per idempotency key).
    pub fn bookings(&self) -> usize {
        self.shared.books.lock().map(|b| b.numbers.len()).unwrap_or_default()
    }

    /// Queue new bookings for a clerk (true: `202 {"trackingId"}`, the
    /// answer comes by polling; a repeated key gets a new tracking id) or
    /// book them at once (false, the default).
    pub fn set_queue(&self, queue: bool) {
        self.shared.queue.store(queue, Ordering::SeqCst);
    }

    /// Tracking ids handed out in queue mode, oldest first.
    pub fn tracking_ids(&self) -> Vec<String> {
        self.shared.books.lock().map(|b| b.tracking.clone()).unwrap_or_default()
    }

    /// What `GET bookings/{tracking_id}` answers from now on: `report`
    /// (e.g. `{"status": "IN_TRANSIT", "at": …}`) with the tracking id and
    /// booking number added.
    pub fn set_report(&self, tracking_id: &str, mut report: Value) {
        let Ok(mut books) = self.shared.books.lock() else {
            return;
        };
        if let Some(fields) = report.as_object_mut() {
            fields.insert("trackingId".into(), json!(tracking_id));
            fields
                .entry("bookingNo")
                .or_insert_with(|| json!(format!("FO-T-{tracking_id}")));
        }
        books.reports.insert(tracking_id.to_owned(), report);
    }

    /// How often `GET bookings/{tracking_id}` was asked.
    pub fn polls(&self, tracking_id: &str) -> usize {
        self.shared
            .books
            .lock()
            .map(|b| b.polls.get(tracking_id).copied().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// `GET /api/bookings/{id}`: the tracking id's current report, counted.
async fn report(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(mut books) = shared.books.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if !books.tracking.contains(&id) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "no such tracking id"}))).into_response();
    }
    *books.polls.entry(id.clone()).or_default() += 1;
    let report = books
        .reports
        .get(&id)
        .cloned()
        .unwrap_or_else(|| json!({"trackingId": id, "status": "QUEUED"}));
    Json(report).into_response()
}

async fn book(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let request = BookingRequest {
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    if shared.down.load(Ordering::SeqCst) {
        if let Ok(mut books) = shared.books.lock() {
            books.requests.push(request);
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            Json(json!({"message": "maintenance"})),
        )
            .into_response();
    }
    if serde_json::from_slice::<Value>(&body).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "cannot read the booking"})),
        )
            .into_response();
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(mut books) = shared.books.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    books.requests.push(request);
    if shared.queue.load(Ordering::SeqCst) {
        let tracking = format!("TRK-{:04}", books.tracking.len() + 1);
        books.tracking.push(tracking.clone());
        return (
            StatusCode::ACCEPTED,
            Json(json!({"trackingId": tracking, "message": "queued for a clerk"})),
        )
            .into_response();
    }
    let next = books.numbers.len() + 1;
    let repeat = books.numbers.contains_key(&key);
    let number = books
        .numbers
        .entry(key)
        .or_insert_with(|| format!("FO-{next:06}"))
        .clone();
    let status = if repeat { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(json!({"bookingNo": number, "message": "订舱成功 booked"}))).into_response()
}
