//! Benchmark harness for the kernel spine (run: `scripts/bench`).
//!
//! 1. normalize + validate, per business line, single thread;
//! 2. HTTP intake → durably stored, on SQLite and PostgreSQL: a bounded
//!    number of orders from a bounded number of concurrent clients on
//!    loopback; orders/s and latency percentiles.
//!
//! Figures are printed as a Markdown table. `BENCH_ORDERS` (default 4000)
//! and `BENCH_CLIENTS` (default 32) bound the load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark, not a production path

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hub_kernel::api::{self, AppState};
use hub_kernel::auth::Authenticator;
use hub_kernel::config::HubConfig;
use hub_kernel::schema::SchemaRegistry;
use hub_kernel::store::Store;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The valid messy example of each line.
fn valid_examples() -> Vec<(String, Value)> {
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

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn bench_normalize(schemas: &SchemaRegistry) {
    println!("\n### normalize + validate (one thread, valid messy example per line)\n");
    println!("| line | orders/s | µs/order |");
    println!("|---|---:|---:|");
    for (line, order) in valid_examples() {
        let schema = schemas.latest(&line).unwrap();
        for _ in 0..200 {
            std::hint::black_box(hub_kernel::validate::check(&schema, order.clone()));
        }
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_millis(1500) {
            for _ in 0..100 {
                let verdict = hub_kernel::validate::check(&schema, std::hint::black_box(order.clone()));
                assert_eq!(verdict.outcome, hub_kernel::validate::Outcome::Valid);
            }
            n += 100;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("| {line} | {:.0} | {:.1} |", n as f64 / secs, secs * 1e6 / n as f64);
    }
}

async fn fresh_database(backend: &str) -> (String, Option<String>) {
    let name = format!("hub_bench_{}", uuid::Uuid::now_v7().simple());
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join("order-hub-bench");
        std::fs::create_dir_all(&dir).unwrap();
        (format!("sqlite:{}", dir.join(format!("{name}.db")).display()), None)
    } else {
        let admin =
            std::env::var("HUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').unwrap().0;
        (format!("{base}/{name}"), Some(name))
    }
}

async fn drop_database(name: &str) {
    let admin =
        std::env::var("HUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn bench_intake(backend: &str, schemas: Arc<SchemaRegistry>) -> String {
    let orders = env_usize("BENCH_ORDERS", 4000);
    let clients = env_usize("BENCH_CLIENTS", 32);
    let (url, pg_name) = fresh_database(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let config = HubConfig::load(None).unwrap();
    let state = AppState::new(
        schemas,
        store.clone(),
        Authenticator::from_config(&config.principals).unwrap(),
        1 << 20,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let examples = Arc::new(
        valid_examples()
            .into_iter()
            .map(|(line, order)| (format!("{base}/v1/orders/{line}"), serde_json::to_vec(&order).unwrap()))
            .collect::<Vec<_>>(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (examples, next) = (examples.clone(), next.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= orders {
                        break;
                    }
                    let (url, body) = &examples[i % examples.len()];
                    let t = Instant::now();
                    let response = client
                        .post(url)
                        .bearer_auth("demo-customer-acme")
                        .header("content-type", "application/json")
                        .header("idempotency-key", format!("bench-{i}"))
                        .body(body.clone())
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    if !matches!(&response, Ok(r) if r.status() == 202) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(orders);
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let secs = started.elapsed().as_secs_f64();
    assert!(
        failures * 100 <= orders,
        "{failures} of {orders} submissions failed on {backend}"
    );
    latencies.sort();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    store.close().await;
    if let Some(name) = pg_name {
        drop_database(&name).await;
    }
    format!(
        "| {backend} | {orders} | {clients} | {:.0} | {:.1} | {:.1} | {:.1} | {failures} |",
        orders as f64 / secs,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    )
}

fn machine() -> String {
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

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!(
        "## Order Hub kernel spine\n\nmachine: {}; profile: {}",
        machine(),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    let schemas = Arc::new(SchemaRegistry::load_dir(&repo().join("schemas")).unwrap());
    bench_normalize(&schemas);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("\n### HTTP intake → durably stored (loopback, keep-alive clients, unique Idempotency-Key each)\n");
    println!("| store | orders | clients | orders/s | p50 ms | p99 ms | max ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for backend in ["sqlite", "postgres"] {
        let row = runtime.block_on(bench_intake(backend, schemas.clone()));
        println!("{row}");
    }
}
