//! What the benchmark harnesses share: bounded HTTP order load, percentiles,
//! fresh databases, example orders, and the machine-readable results that
//! `scripts/bench-report` renders into `BENCHMARKS.md`.
//!
//! `kernel/benches/*.rs` include it as `mod common;`; `tests/benches/*.rs`
//! by path (`#[path = "../../kernel/benches/common/mod.rs"]`), so both
//! crates measure with the same code. It uses only what both crates have:
//! std, tokio, reqwest, serde_json, sqlx, uuid.
// Each harness uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

/// The repository root (both crates sit one level below it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `release` for `cargo bench` (the bench profile inherits it).
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) { "debug" } else { "release" }
}

/// `cores, CPU model, architecture`, for the printed tables.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}, {}", std::env::consts::ARCH)
}

/// The value at quantile `p` of `sorted` (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// `{count, p50_ms, p90_ms, p99_ms, max_ms}` of some latencies (sorted in place).
pub fn summary_ms(samples: &mut [Duration]) -> Value {
    samples.sort();
    let ms = |p| percentile(samples, p).as_secs_f64() * 1e3;
    json!({"count": samples.len(), "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "max_ms": ms(1.0)})
}

/// Writes `value` (with the profile added) to `target/bench-results/<bench>.json`.
pub fn write_results(bench: &str, mut value: Value) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(fields) = value.as_object_mut() {
        fields.insert("profile".into(), json!(profile()));
        fields.insert("machine".into(), json!(machine()));
    }
    let path = dir.join(format!("{bench}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    println!("\n(results written to {})", path.display());
}

/// The first valid example of each business line (`examples/orders`).
pub fn valid_examples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in [
        "freight-booking",
        "warehouse-order",
        "customs-declaration",
        "trucking-pickup",
        "complaint",
    ] {
        let dir = repo().join("examples/orders").join(line);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for expected in files.iter().filter(|p| p.to_str().unwrap().ends_with(".expected.json")) {
            let verdict: Value = serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
            if verdict["outcome"] == "valid" {
                let input = expected.to_str().unwrap().replace(".expected.json", ".input.json");
                out.push((
                    line.to_owned(),
                    serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap(),
                ));
                break;
            }
        }
    }
    out
}

/// The admin connection that creates and drops benchmark databases.
pub fn admin_url() -> String {
    std::env::var("HUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty store: `(url, what to remove afterwards)`. `backend` is
/// `sqlite` (a file under the temp dir) or `postgres` (a new database).
pub async fn fresh_database(backend: &str) -> (String, Cleanup) {
    let name = format!("hub_bench_{}", uuid::Uuid::now_v7().simple());
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join("order-hub-bench");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.db"));
        (format!("sqlite:{}", file.display()), Cleanup::File(file))
    } else {
        let admin = admin_url();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').unwrap().0;
        (format!("{base}/{name}"), Cleanup::Database(name))
    }
}

pub enum Cleanup {
    File(PathBuf),
    Database(String),
}

impl Cleanup {
    /// Bytes the store takes on disk (SQLite file + WAL; PostgreSQL's
    /// `pg_database_size`).
    pub async fn size_bytes(&self) -> u64 {
        match self {
            Cleanup::File(file) => ["", "-wal"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", file.display())).ok())
                .map(|m| m.len())
                .sum(),
            Cleanup::Database(name) => {
                let pool = sqlx::AnyPool::connect(&admin_url()).await.unwrap();
                let row: (i64,) = sqlx::query_as(&format!("SELECT pg_database_size('{name}')"))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                row.0 as u64
            }
        }
    }

    pub async fn run(self) {
        match self {
            Cleanup::File(file) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            Cleanup::Database(name) => {
                let pool = sqlx::AnyPool::connect(&admin_url()).await.unwrap();
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }
}

/// One submission as a load client saw it.
pub struct Sent {
    /// Wall-clock time just before the request was sent (to compare with
    /// the hub's event times).
    pub at: SystemTime,
    /// Until the answer's body was read.
    pub latency: Duration,
    /// `order_id` of a 202.
    pub order_id: Option<String>,
}

pub struct LoadRun {
    pub sent: Vec<Sent>,
    /// Answers other than 202, and transport errors.
    pub failures: usize,
    pub elapsed: Duration,
    /// The time bound ended the run before every order was sent.
    pub cut_short: bool,
}

impl LoadRun {
    fn new(total: usize) -> LoadRun {
        LoadRun {
            sent: Vec::with_capacity(total),
            failures: 0,
            elapsed: Duration::ZERO,
            cut_short: false,
        }
    }

    fn finish(&mut self, started: Instant) {
        self.failures = self.sent.iter().filter(|s| s.order_id.is_none()).count();
        self.elapsed = started.elapsed();
    }

    /// Requests sent per second, first send to last send.
    pub fn sent_per_second(&self) -> f64 {
        let first = self.sent.iter().map(|s| s.at).min();
        let last = self.sent.iter().map(|s| s.at).max();
        match (first, last) {
            (Some(first), Some(last)) if last > first => {
                (self.sent.len() - 1) as f64 / last.duration_since(first).unwrap().as_secs_f64()
            }
            _ => 0.0,
        }
    }

    pub fn accepted(&self) -> usize {
        self.sent.len() - self.failures
    }

    pub fn latencies(&self) -> Vec<Duration> {
        self.sent.iter().map(|s| s.latency).collect()
    }
}

/// The requests of one load run: each order's URL and body, and the run's
/// id, which makes every `Idempotency-Key` unique.
struct Submissions {
    bodies: Vec<(String, Vec<u8>)>,
    run: String,
}

impl Submissions {
    fn new(base: &str, orders: &[(String, Value)]) -> Arc<Submissions> {
        Arc::new(Submissions {
            bodies: orders
                .iter()
                .map(|(line, order)| (format!("{base}/v1/orders/{line}"), serde_json::to_vec(order).unwrap()))
                .collect(),
            run: uuid::Uuid::now_v7().simple().to_string(),
        })
    }

    /// Posts order number `i` (round-robin over the bodies) as the demo
    /// customer; a `Sent` without `order_id` is a failure.
    async fn send(&self, client: &reqwest::Client, i: usize) -> Sent {
        let (url, body) = &self.bodies[i % self.bodies.len()];
        let at = SystemTime::now();
        let t = Instant::now();
        let response = client
            .post(url)
            .bearer_auth("demo-customer-acme")
            .header("content-type", "application/json")
            .header("idempotency-key", format!("bench-{}-{i}", self.run))
            .body(body.clone())
            .send()
            .await;
        let order_id = match response {
            Ok(r) if r.status() == 202 => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["order_id"].as_str().map(str::to_owned)),
            _ => None,
        };
        Sent {
            at,
            latency: t.elapsed(),
            order_id,
        }
    }
}

/// Submits `total` orders to the hub at `base` as the demo customer,
/// round-robin over `orders` (`(line, JSON body)`), from `clients`
/// keep-alive clients, each sending its next order as soon as the last
/// is answered, each with a unique `Idempotency-Key`. No client starts a
/// request after `within`. Loopback only: `base` is the caller's.
pub async fn post_orders(
    base: &str,
    orders: &[(String, Value)],
    total: usize,
    clients: usize,
    within: Duration,
) -> LoadRun {
    let submissions = Submissions::new(base, orders);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + within;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (submissions, next) = (submissions.clone(), next.clone());
        workers.spawn(async move {
            let client = reqwest::Client::new();
            let mut sent = Vec::new();
            let mut cut_short = false;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if Instant::now() >= deadline {
                    cut_short = true;
                    break;
                }
                sent.push(submissions.send(&client, i).await);
            }
            (sent, cut_short)
        });
    }
    let mut run = LoadRun::new(total);
    while let Some(done) = workers.join_next().await {
        let (sent, cut_short) = done.unwrap();
        run.sent.extend(sent);
        run.cut_short |= cut_short;
    }
    run.finish(started);
    run
}

/// Submits `total` orders like [`post_orders`], but on a fixed schedule:
/// one request per tick of a `rate`-per-second `tokio::time::interval`,
/// whether or not the earlier ones have been answered (an open loop, so a
/// slow answer does not slow the load down), over one keep-alive client
/// pool. A tick the sender missed is taken late and the next ones shifted
/// (`MissedTickBehavior::Delay`), so the achieved rate — see
/// [`LoadRun::sent_per_second`] — is at most `rate`. No request starts
/// after `within`.
pub async fn post_orders_paced(
    base: &str,
    orders: &[(String, Value)],
    total: usize,
    rate: f64,
    within: Duration,
) -> LoadRun {
    let submissions = Submissions::new(base, orders);
    let client = reqwest::Client::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let deadline = started + within;
    let mut requests = tokio::task::JoinSet::new();
    let mut run = LoadRun::new(total);
    for i in 0..total {
        ticks.tick().await;
        if Instant::now() >= deadline {
            run.cut_short = true;
            break;
        }
        let (submissions, client) = (submissions.clone(), client.clone());
        requests.spawn(async move { submissions.send(&client, i).await });
    }
    while let Some(sent) = requests.join_next().await {
        run.sent.push(sent.unwrap());
    }
    run.sent.sort_by_key(|s| s.at);
    run.finish(started);
    run
}
