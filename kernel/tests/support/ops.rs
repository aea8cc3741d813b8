//! A FreightOps simulator: the REST/JSON OPS the `rest-json` plugin talks
//! to, on a real loopback socket. It books each idempotency key once (a
//! repeat gets the first booking back, as a real OPS with idempotency keys
//! does), and can be switched down (503), to "hold" (requests wait), to
//! "queue for a clerk" (202 + tracking id), or to refuse to read (400).
//! Every change is published on a watch channel so tests await conditions
//! instead of sleeping.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Book,
    /// 503 Service Unavailable.
    Down,
    /// 202 with a tracking id; the answer comes later (callback or poll).
    Queue,
    /// 400: the OPS cannot read the message (a permanent failure).
    Refuse,
    /// 409 with the booking it already had (a duplicate of an earlier, lost answer).
    Duplicate,
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// idempotency key → (booking number, hub order id)
    pub bookings: HashMap<String, (String, String)>,
    /// idempotency key → requests seen (retries included)
    pub requests: HashMap<String, u32>,
    /// every request's arrival: (key, when, answered status)
    pub log: Vec<(String, Instant, u16)>,
    /// tracking id → status reported by GET bookings/{id}
    pub tracking: HashMap<String, String>,
    /// the `traceparent` header of every booking request, in order
    pub traceparents: Vec<String>,
    pub next: u64,
}

struct Shared {
    mode: Mutex<Mode>,
    ledger: Mutex<Ledger>,
    changed: watch::Sender<u64>,
    /// While false, booking requests wait (a hanging OPS).
    gate: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Ops {
    shared: Arc<Shared>,
    pub port: u16,
}

impl Ops {
    pub async fn start() -> Ops {
        let (changed, _) = watch::channel(0);
        let (gate, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Book),
            ledger: Mutex::new(Ledger::default()),
            changed,
            gate,
        });
        let app = Router::new()
            .route("/api/bookings", post(book))
            .route("/api/bookings/{id}", get(status))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ops { shared, port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Holds (false) or releases (true) booking requests.
    pub fn set_gate(&self, open: bool) {
        self.shared.gate.send_replace(open);
    }

    pub fn set_tracking(&self, id: &str, status: &str) {
        self.shared
            .ledger
            .lock()
            .unwrap()
            .tracking
            .insert(id.to_owned(), status.to_owned());
    }

    pub fn with<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.shared.ledger.lock().unwrap())
    }

    /// Waits until `condition` holds for the ledger (re-checked on every change).
    pub async fn wait_until(&self, what: &str, limit: Duration, condition: impl Fn(&Ledger) -> bool) {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.with(&condition) {
                return;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("the OPS did not see {what} within {limit:?}"),
            }
        }
    }
}

async fn book(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut gate = shared.gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let order_id = body["hubOrderId"].as_str().unwrap_or_default().to_owned();
    let mode = *shared.mode.lock().unwrap();
    let (status, answer) = {
        let mut ledger = shared.ledger.lock().unwrap();
        *ledger.requests.entry(key.clone()).or_default() += 1;
        if let Some(traceparent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
            ledger.traceparents.push(traceparent.to_owned());
        }
        let answer = match mode {
            Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, json!({ "message": "maintenance" })),
            Mode::Refuse => (StatusCode::BAD_REQUEST, json!({ "message": "cannot read field mode" })),
            Mode::Duplicate => {
                ledger.bookings.insert(key.clone(), ("FO-EARLIER".into(), order_id));
                (StatusCode::CONFLICT, json!({ "bookingNo": "FO-EARLIER" }))
            }
            Mode::Queue => {
                ledger.next += 1;
                let tracking = format!("TRK-{}", ledger.next);
                ledger.tracking.insert(tracking.clone(), "QUEUED".into());
                (StatusCode::ACCEPTED, json!({ "trackingId": tracking }))
            }
            Mode::Book => match ledger.bookings.get(&key) {
                Some((number, _)) => (StatusCode::OK, json!({ "bookingNo": number })),
                None => {
                    ledger.next += 1;
                    let number = format!("FO-{:06}", ledger.next);
                    ledger.bookings.insert(key.clone(), (number.clone(), order_id));
                    (StatusCode::CREATED, json!({ "bookingNo": number }))
                }
            },
        };
        ledger.log.push((key, Instant::now(), answer.0.as_u16()));
        answer
    };
    shared.changed.send_modify(|n| *n += 1);
    (status, Json(answer))
}

async fn status(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let ledger = shared.ledger.lock().unwrap();
    match ledger.tracking.get(&id) {
        Some(status) => (
            StatusCode::OK,
            Json(json!({ "trackingId": id, "status": status, "bookingNo": format!("FO-T-{id}") })),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({ "message": "unknown tracking id" }))),
    }
}
