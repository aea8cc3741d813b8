//! Feedback fan-out: how fast timeline events reach the portal, through
//! server-sent events and through signed webhooks, and what it costs in
//! memory. Whole hub in-process (`server::run`, SQLite), loopback only,
//! bounded in count and time.
//!
//! - **SSE**: `SSE_ORDERS` orders wait in review, `SSE_CLIENTS_PER_ORDER`
//!   clients stream each (1,000 in all by default) and have caught up; a
//!   reviewer then releases every order (2 events each), and we measure
//!   frames delivered per second from the first release to the last frame,
//!   and per frame the time from the event's commit time to its arrival.
//! - **Webhooks**: `HOOK_SUBSCRIBERS` subscriptions (100) of one tenant, all
//!   events; `HOOK_ORDERS` orders submitted (3 events each), and we measure
//!   deliveries per second until every subscriber has every event, and per
//!   delivery the time from the event to its arrival.
//! - **Memory**: this process's resident set (hub *and* the clients and
//!   receivers, which live in the same process — an upper bound for the
//!   hub) before and after the clients connect.
//!
//! `cargo bench -p hub-e2e --bench feedback` (or `scripts/bench feedback`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hub_e2e::hub::{CUSTOMER_KEY, REVIEWER_KEY, TestHub, example_order};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const CONCURRENCY: usize = 16;

/// A count that can be awaited (no polling).
#[derive(Default)]
struct Counter {
    n: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Counter {
    fn add(&self) {
        self.n.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn get(&self) -> usize {
        self.n.load(Ordering::Relaxed)
    }

    /// Waits until the count reaches `target`; panics after `within`.
    async fn reach(&self, target: usize, within: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + within;
        while self.get() < target {
            if tokio::time::timeout_at(deadline, self.changed.notified())
                .await
                .is_err()
            {
                panic!("only {} of {target} {what} within {within:?}", self.get());
            }
        }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident set size of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn since(at: &str) -> Duration {
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
        .to_std()
        .unwrap_or(Duration::ZERO)
}

async fn submit_all(hub: &TestHub, orders: Vec<Value>) -> Vec<String> {
    let queue = Arc::new(Mutex::new(orders.into_iter().enumerate().collect::<Vec<_>>()));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (queue, ids, client, base) = (queue.clone(), ids.clone(), hub.client.clone(), hub.base_url.clone());
        workers.spawn(async move {
            loop {
                let Some((index, order)) = queue.lock().await.pop() else {
                    return;
                };
                let response = client
                    .post(format!("{base}/v1/orders/freight-booking"))
                    .bearer_auth(CUSTOMER_KEY)
                    .json(&order)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
                let body: Value = response.json().await.unwrap();
                ids.lock()
                    .await
                    .push((index, body["order_id"].as_str().unwrap().to_owned()));
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut ids = Arc::try_unwrap(ids).unwrap().into_inner();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// One streaming client: counts frames, records each frame's age on arrival.
async fn stream_client(
    client: reqwest::Client,
    url: String,
    caught_up: Arc<Counter>,
    frames_wanted: usize,
    ages: Arc<Mutex<Vec<Duration>>>,
    live_frames: Arc<AtomicUsize>,
) {
    let mut response = client
        .get(url)
        .bearer_auth(CUSTOMER_KEY)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = String::new();
    let mut frames = 0;
    let mut my_ages = Vec::new();
    while frames < frames_wanted {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(60), response.chunk()).await else {
            panic!("a stream stalled after {frames} frames");
        };
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            frames += 1;
            if frames == 3 {
                caught_up.add();
            } else if frames > 3 {
                let event: Value = serde_json::from_str(data.trim()).unwrap();
                my_ages.push(since(event["at"].as_str().unwrap()));
                live_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    ages.lock().await.extend(my_ages);
}

async fn sse(orders: usize, per_order: usize) {
    let hub = TestHub::start("").await;
    let review_case = example_order("freight-booking", "unknown-port-bare-weight");
    let ids = submit_all(&hub, vec![review_case; orders]).await;
    let rss_before = rss_mib();
    let caught_up = Arc::new(Counter::default());
    let live = Arc::new(AtomicUsize::new(0));
    let ages = Arc::new(Mutex::new(Vec::new()));
    let mut clients = tokio::task::JoinSet::new();
    // One client object; HTTP/1.1 gives every open stream its own socket.
    let client = reqwest::Client::new();
    for id in &ids {
        for _ in 0..per_order {
            clients.spawn(stream_client(
                client.clone(),
                format!("{}/v1/orders/{id}/events", hub.base_url),
                caught_up.clone(),
                5,
                ages.clone(),
                live.clone(),
            ));
        }
    }
    let total_clients = orders * per_order;
    let connect_started = Instant::now();
    caught_up
        .reach(total_clients, Duration::from_secs(120), "clients caught up")
        .await;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let rss_connected = rss_mib();

    let started = Instant::now();
    let releases = Arc::new(Mutex::new(ids.clone()));
    let mut reviewers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (releases, client, base) = (releases.clone(), hub.client.clone(), hub.base_url.clone());
        reviewers.spawn(async move {
            loop {
                let Some(id) = releases.lock().await.pop() else { return };
                let response = client
                    .post(format!("{base}/v1/review/{id}/release"))
                    .bearer_auth(REVIEWER_KEY)
                    .json(&json!({"corrections": {"origin_port": "CNNGB",
                        "cargo_lines": [{"description": "冷冻虾仁", "packages": 40, "gross_weight_kg": 1200}]}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        });
    }
    while reviewers.join_next().await.is_some() {}
    while clients.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    let mut ages = Arc::try_unwrap(ages).unwrap().into_inner();
    ages.sort();
    let frames = live.load(Ordering::Relaxed);
    println!(
        "| SSE | {total_clients} clients on {orders} orders | {} events → {frames} frames in {seconds:.2} s = **{:.0} frames/s** ({:.0} events/s) | {:.1} / {:.1} ms | {:.0} → {:.0} MiB (+{:.1} KiB/client), connect+catch-up {connect_seconds:.2} s |",
        orders * 2,
        frames as f64 / seconds,
        (orders * 2) as f64 / seconds,
        percentile(&ages, 0.5).as_secs_f64() * 1e3,
        percentile(&ages, 0.99).as_secs_f64() * 1e3,
        rss_before,
        rss_connected,
        (rss_connected - rss_before) * 1024.0 / total_clients as f64,
    );
    hub.stop().await;
}

/// What the webhook receiver saw.
#[derive(Default)]
struct Received {
    count: Counter,
    ages: Mutex<Vec<Duration>>,
}

async fn receive(
    axum::extract::State(received): axum::extract::State<Arc<Received>>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let event: Value = serde_json::from_slice(&body).unwrap();
    let age = since(event["time"].as_str().unwrap());
    received.ages.lock().await.push(age);
    received.count.add();
    axum::http::StatusCode::NO_CONTENT
}

async fn webhooks(subscribers: usize, orders: usize, concurrency: usize) {
    let received = Arc::new(Received::default());
    let app = axum::Router::new()
        .route("/hook/{n}", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let hub = TestHub::start(&format!(
        "[webhooks]\nallow_private_targets = true\nallow_insecure_http = true\n\
         max_subscriptions_per_tenant = {subscribers}\nconcurrency = {concurrency}\n"
    ))
    .await;
    for n in 0..subscribers {
        let (status, body) = hub
            .post(
                CUSTOMER_KEY,
                "/v1/subscriptions",
                &json!({"url": format!("http://{receiver}/hook/{n}"), "events": ["*"]}),
            )
            .await;
        assert_eq!(status, 201, "{body:#}");
    }
    let rss_before = rss_mib();
    let started = Instant::now();
    let ids = submit_all(&hub, vec![example_order("freight-booking", "messy-fcl"); orders]).await;
    let (_, order) = hub.get(CUSTOMER_KEY, &format!("/v1/orders/{}", ids[0])).await;
    let events_per_order = order["timeline"].as_array().unwrap().len();
    let expected = orders * events_per_order * subscribers;
    received
        .count
        .reach(expected, Duration::from_secs(300), "deliveries")
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = rss_mib();
    let mut ages = std::mem::take(&mut *received.ages.lock().await);
    ages.sort();
    println!(
        "| webhooks | {subscribers} subscribers × {} events ({orders} orders), {concurrency} deliveries in flight | {expected} signed deliveries in {seconds:.2} s = **{:.0} deliveries/s** ({:.1} events/s fanned out to all) | {:.0} / {:.0} ms | {:.0} → {:.0} MiB |",
        orders * events_per_order,
        expected as f64 / seconds,
        (orders * events_per_order) as f64 / seconds,
        percentile(&ages, 0.5).as_secs_f64() * 1e3,
        percentile(&ages, 0.99).as_secs_f64() * 1e3,
        rss_before,
        rss_after,
    );
    hub.stop().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let sse_orders = env_or("SSE_ORDERS", 100);
    let sse_per_order = env_or("SSE_CLIENTS_PER_ORDER", 10);
    println!("| path | fan-out | throughput | event → client p50 / p99 | memory (process RSS) |");
    println!("|---|---|---|---|---|");
    sse(sse_orders, sse_per_order).await;
    let subscribers = env_or("HOOK_SUBSCRIBERS", 100);
    let hook_orders = env_or("HOOK_ORDERS", 100);
    webhooks(subscribers, hook_orders, env_or("HOOK_CONCURRENCY", 16)).await;
    webhooks(subscribers, hook_orders, env_or("HOOK_CONCURRENCY_HIGH", 64)).await;
}
