//! What a hub process costs to start and to keep: the real `hub` binary
//! (`target/release/hub serve`) as a child process on `examples/hub.toml`
//! — its five reference plugins bound to its six targets — with
//! `[dispatch] enabled = false` (so no OPS needs to run: plugins are
//! compiled or loaded and targets bound all the same; orders are stored
//! with their outbox jobs and stay queued).
//!
//! - **Cold start**: from spawning `hub serve` (fresh SQLite store) to
//!   `/readyz` answering 200 (asked every 5 ms), `COLD_RUNS` times (default
//!   3) each with an empty compile cache and with the cache the previous
//!   start filled; medians.
//! - **Memory**: `VmRSS`/`VmHWM` of the hub from `/proc/<pid>/status`, idle
//!   right after start, then after `MEM_ORDERS` (default 100,000) valid
//!   example orders of the five lines were posted through the HTTP intake by
//!   `MEM_CLIENTS` (default 32) keep-alive clients into a fresh
//!   `MEM_BACKEND` store (default `postgres`: on two cores SQLite's
//!   serialised commits take ~3 minutes for 100,000; `sqlite` works with
//!   fewer orders). No request starts after `MEM_WITHIN_S` (default 90)
//!   seconds, and what was stored is reported.
//!
//! `cargo bench -p hub-e2e --bench footprint` (or `scripts/bench footprint`);
//! results also go to `target/bench-results/footprint.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../kernel/benches/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::time::Duration;

use common::{env_usize, fresh_database, machine, post_orders, profile, summary_ms, valid_examples, write_results};
use hub_e2e::hub::temp_dir;
use serde_json::{Value, json};
use support::HubProcess;

const READY_BOUND: Duration = Duration::from_secs(120);

/// One start on a fresh SQLite store with `cache`; the time to ready.
async fn start_once(cache: &Path, scratch: &Path) -> Duration {
    let (url, cleanup) = fresh_database("sqlite").await;
    let mut config = support::example_config();
    support::adjust(&mut config, support::free_port(), &url, cache, false);
    let mut hub = HubProcess::spawn(&config, scratch);
    let ready = hub.wait_ready(READY_BOUND).await;
    hub.stop().await;
    cleanup.run().await;
    ready
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

async fn cold_start(runs: usize) -> Value {
    let mut empty = Vec::new();
    let mut warm = Vec::new();
    for run in 0..runs {
        let scratch = temp_dir(&format!("bench-cold-{run}"));
        let cache = scratch.join("cache");
        empty.push(start_once(&cache, &scratch).await);
        warm.push(start_once(&cache, &scratch).await);
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let ms = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>();
    let (empty_samples, warm_samples) = (ms(&empty), ms(&warm));
    let (empty_ms, warm_ms) = (median_ms(&mut empty), median_ms(&mut warm));
    println!("\n### Cold start: spawn → /readyz 200 (median of {runs})\n");
    println!("| compile cache | ms | samples |");
    println!("|---|---:|---|");
    println!("| empty | {empty_ms:.0} | {empty_samples:.0?} |");
    println!("| warm | {warm_ms:.0} | {warm_samples:.0?} |");
    json!({
        "runs": runs,
        "empty_cache_ms": empty_ms,
        "warm_cache_ms": warm_ms,
        "empty_cache_samples_ms": empty_samples,
        "warm_cache_samples_ms": warm_samples,
    })
}

async fn memory(backend: &str, orders: usize, clients: usize, within: Duration) -> Value {
    let scratch = temp_dir("bench-memory");
    let (url, cleanup) = fresh_database(backend).await;
    let mut config = support::example_config();
    let targets = config["targets"].as_table().unwrap().len();
    support::adjust(
        &mut config,
        support::free_port(),
        &url,
        &common::repo().join("target/bench-cache/plugins"),
        false,
    );
    let mut hub = HubProcess::spawn(&config, &scratch);
    hub.wait_ready(READY_BOUND).await;
    let idle = hub.memory();
    let load = post_orders(&hub.base_url, &valid_examples(), orders, clients, within).await;
    let after = hub.memory();
    let stored = load.accepted();
    let store_bytes = cleanup.size_bytes().await;
    hub.stop().await;
    cleanup.run().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let seconds = load.elapsed.as_secs_f64();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n### Memory of the hub process ({backend}, {targets} targets, dispatch off)\n");
    println!("| when | VmRSS MiB | VmHWM MiB |");
    println!("|---|---:|---:|");
    println!(
        "| idle after start | {:.1} | {:.1} |",
        mib(idle.rss_kib),
        mib(idle.hwm_kib)
    );
    println!(
        "| after {stored} orders stored ({clients} clients, {seconds:.1} s, {:.0} orders/s, {} failed{}) | {:.1} | {:.1} |",
        stored as f64 / seconds,
        load.failures,
        if load.cut_short {
            ", cut short by the time bound"
        } else {
            ""
        },
        mib(after.rss_kib),
        mib(after.hwm_kib)
    );
    println!("\nstore on disk: {:.1} MiB", store_bytes as f64 / (1 << 20) as f64);
    json!({
        "backend": backend,
        "targets": targets,
        "orders_requested": orders,
        "orders_stored": stored,
        "failed": load.failures,
        "cut_short": load.cut_short,
        "clients": clients,
        "within_s": within.as_secs(),
        "fill_seconds": seconds,
        "fill_per_second": stored as f64 / seconds,
        "intake": summary_ms(&mut load.latencies()),
        "idle": idle.json(),
        "after": after.json(),
        "store_mib": store_bytes as f64 / (1 << 20) as f64,
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!(
        "## Hub process footprint\n\nmachine: {}; profile: {}",
        machine(),
        profile()
    );
    let cold = cold_start(env_usize("COLD_RUNS", 3).max(1)).await;
    let backend = std::env::var("MEM_BACKEND").unwrap_or_else(|_| "postgres".into());
    let memory = memory(
        &backend,
        env_usize("MEM_ORDERS", 100_000),
        env_usize("MEM_CLIENTS", 32).max(1),
        Duration::from_secs(env_usize("MEM_WITHIN_S", 90) as u64),
    )
    .await;
    write_results("footprint", json!({"cold_start": cold, "memory": memory}));
}
