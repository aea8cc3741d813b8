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

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_usize, fresh_database, machine, post_orders, profile, summary_ms, valid_examples, write_results};
use hub_kernel::api::{self, AppState};
use hub_kernel::auth::Authenticator;
use hub_kernel::config::HubConfig;
use hub_kernel::schema::SchemaRegistry;
use hub_kernel::store::Store;
use serde_json::{Value, json};

fn bench_normalize(schemas: &SchemaRegistry) -> Vec<Value> {
    println!("\n### normalize + validate (one thread, valid messy example per line)\n");
    println!("| line | orders/s | µs/order |");
    println!("|---|---:|---:|");
    let mut rows = Vec::new();
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
        let (per_second, us) = (n as f64 / secs, secs * 1e6 / n as f64);
        println!("| {line} | {per_second:.0} | {us:.1} |");
        rows.push(json!({"line": line, "orders": n, "seconds": secs, "per_second": per_second, "us_per_order": us}));
    }
    rows
}

async fn bench_intake(backend: &str, schemas: Arc<SchemaRegistry>) -> Value {
    let orders = env_usize("BENCH_ORDERS", 4000);
    let clients = env_usize("BENCH_CLIENTS", 32);
    let (url, cleanup) = fresh_database(backend).await;
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
    let run = post_orders(&base, &valid_examples(), orders, clients, Duration::from_secs(120)).await;
    let secs = run.elapsed.as_secs_f64();
    assert!(
        run.failures * 100 <= orders,
        "{} of {orders} submissions failed on {backend}",
        run.failures
    );
    let latency = summary_ms(&mut run.latencies());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    store.close().await;
    cleanup.run().await;
    let per_second = run.accepted() as f64 / secs;
    println!(
        "| {backend} | {} | {clients} | {per_second:.0} | {:.1} | {:.1} | {:.1} | {} |",
        run.sent.len(),
        latency["p50_ms"].as_f64().unwrap(),
        latency["p99_ms"].as_f64().unwrap(),
        latency["max_ms"].as_f64().unwrap(),
        run.failures
    );
    json!({
        "backend": backend,
        "orders": run.sent.len(),
        "clients": clients,
        "failed": run.failures,
        "seconds": secs,
        "per_second": per_second,
        "latency": latency,
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!(
        "## Order Hub kernel spine\n\nmachine: {}; profile: {}",
        machine(),
        profile()
    );
    let schemas = Arc::new(SchemaRegistry::load_dir(&common::repo().join("schemas")).unwrap());
    let normalize = bench_normalize(&schemas);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("\n### HTTP intake → durably stored (loopback, keep-alive clients, unique Idempotency-Key each)\n");
    println!("| store | orders | clients | orders/s | p50 ms | p99 ms | max ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let intake: Vec<Value> = ["sqlite", "postgres"]
        .into_iter()
        .map(|backend| runtime.block_on(bench_intake(backend, schemas.clone())))
        .collect();
    write_results("spine", json!({"normalize": normalize, "intake": intake}));
}
