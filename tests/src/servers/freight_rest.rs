//! A freight-forwarding OPS with a REST/JSON API, as the `rest-json`
//! reference plugin expects it: `POST /api/bookings` books once per
//! `Idempotency-Key` (201, a repeat answers 200 with the same number).
//!
//! It records what it received (headers and body) so tests can check the
//! bytes the OPS got, and can be switched to "down" (503 + `Retry-After`)
//! to show retries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
}

#[derive(Clone, Default)]
struct Shared {
    books: Arc<Mutex<Books>>,
    down: Arc<AtomicBool>,
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
