//! End to end through the real `hub` binary, on SQLite and on PostgreSQL:
//! HTTP intake → outbox → dispatcher → the reference `rest-json` plugin →
//! a local freight REST OPS (`servers::freight_rest`, booking at once) →
//! the OPS's answer stored as the order's `accepted` event.
//!
//! For each backend: a fresh store, the hub (`target/release/hub serve`)
//! on `examples/hub.toml` with only the `freight-ops` target (pointed at the
//! local OPS) and its route, a warm compile cache. `E2E_WARMUP` orders go
//! first and are awaited; then two phases of copies of
//! `examples/orders/freight-booking/messy-fcl`, each awaited (bounded) until
//! the target's lane has delivered all its orders:
//!
//! - **burst**: `E2E_ORDERS` (default 2000) orders posted by `E2E_CLIENTS`
//!   (default 32) keep-alive clients as fast as they are answered — the
//!   capacity, where an order's time is mostly its wait in the queue;
//! - **paced**: then `E2E_PACED_ORDERS` (default 500) orders sent one per
//!   tick of an `E2E_PACED_RATE` (default 50) per second timer, answered or
//!   not, far below that capacity — the time one order takes to get its
//!   answer when nothing queues ahead of it. No paced request starts after
//!   twice the schedule's length.
//!
//! The paced phase comes after the burst so that the burst's figures stay
//! those of a just-warmed hub (comparable with earlier runs), and the paced
//! orders meet a hub with warm pools and connections, a store already
//! holding the burst's orders, and an empty queue (the burst is awaited).
//!
//! Reported per phase, from each order's timeline: intake → feedback = the
//! `accepted` event's time minus the wall-clock time the client sent the
//! order (same machine, same clock), p50/p90/p99/max; the achieved send
//! rate (first to last send); delivered orders/s = orders / (last
//! `accepted` − first send); and the HTTP intake latency. Results also go
//! to `target/bench-results/e2e_rest.json`.
//!
//! `cargo bench -p hub-e2e --bench e2e_rest` (or `scripts/bench e2e`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../kernel/benches/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{
    LoadRun, Sent, env_usize, fresh_database, machine, post_orders, post_orders_paced, profile, summary_ms,
    write_results,
};
use hub_e2e::hub::{OPERATOR_KEY, example_order, temp_dir};
use hub_e2e::servers::freight_rest::FreightRestOps;
use serde_json::{Value, json};
use support::{HubProcess, Memory};

const TARGET: &str = "freight-ops";
/// Longest the harness waits for the deliveries of one run.
const DELIVERY_BOUND: Duration = Duration::from_secs(180);

/// `GET url` as the demo operator, as JSON.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Deliveries the target's lane has counted since the hub started.
async fn delivered(client: &reqwest::Client, base: &str) -> u64 {
    let targets = get_json(client, &format!("{base}/v1/targets")).await;
    targets["targets"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["lane"]["target"] == TARGET))
        .and_then(|t| t["lane"]["delivered"].as_u64())
        .unwrap_or(0)
}

/// Waits (asking every 25 ms, at most [`DELIVERY_BOUND`]) until the lane
/// has delivered `count` orders. A timer is meant: the hub is another
/// process and exposes no staff-wide stream of deliveries to await, and a
/// 25 ms poll is small next to the seconds a burst takes (the figures come
/// from the stored `accepted` times, not from when this loop noticed).
async fn await_delivered(client: &reqwest::Client, base: &str, count: u64) {
    let deadline = Instant::now() + DELIVERY_BOUND;
    loop {
        let now = delivered(client, base).await;
        if now >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {now} of {count} delivered within {DELIVERY_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn parse_time(text: &str) -> SystemTime {
    SystemTime::from(chrono::DateTime::parse_from_rfc3339(text).unwrap())
}

/// The time of each order's `accepted` event, read by 16 clients.
async fn accepted_times(base: &str, sent: &[Sent]) -> Vec<SystemTime> {
    let ids: Vec<String> = sent.iter().map(|s| s.order_id.clone().unwrap()).collect();
    let ids = Arc::new(ids);
    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..16 {
        let (ids, base) = (ids.clone(), base.to_owned());
        readers.spawn(async move {
            let client = reqwest::Client::new();
            let mut times = Vec::new();
            for index in (reader..ids.len()).step_by(16) {
                let order = get_json(&client, &format!("{base}/v1/orders/{}", ids[index])).await;
                let accepted = order["timeline"]
                    .as_array()
                    .and_then(|events| events.iter().find(|e| e["kind"] == "accepted"))
                    .unwrap_or_else(|| panic!("order {} has no accepted event: {order:#}", ids[index]));
                times.push((index, parse_time(accepted["at"].as_str().unwrap())));
            }
            times
        });
    }
    let mut times = Vec::new();
    while let Some(done) = readers.join_next().await {
        times.extend(done.unwrap());
    }
    times.sort_by_key(|(index, _)| *index);
    times.into_iter().map(|(_, at)| at).collect()
}

/// The load of the two measured phases.
struct Load {
    orders: usize,
    clients: usize,
    warmup: usize,
    paced_orders: usize,
    /// Paced orders per second.
    rate: f64,
}

/// The figures of one phase, from its orders' timelines, once the lane has
/// delivered `delivered` orders in all (this phase's included).
async fn measure(base: &str, poller: &reqwest::Client, load: &LoadRun, delivered: u64) -> Value {
    let orders = load.sent.len();
    assert_eq!(load.failures, 0, "{} of {orders} submissions failed", load.failures);
    await_delivered(poller, base, delivered).await;
    let accepted = accepted_times(base, &load.sent).await;
    let first_sent = load.sent.iter().map(|s| s.at).min().unwrap();
    let last_accepted = *accepted.iter().max().unwrap();
    let seconds = last_accepted.duration_since(first_sent).unwrap().as_secs_f64();
    let mut feedback: Vec<Duration> = load
        .sent
        .iter()
        .zip(&accepted)
        .map(|(sent, at)| at.duration_since(sent.at).unwrap_or_default())
        .collect();
    json!({
        "orders": orders,
        "cut_short": load.cut_short,
        "seconds": seconds,
        "sent_per_second": load.sent_per_second(),
        "per_second": orders as f64 / seconds,
        "intake": summary_ms(&mut load.latencies()),
        "intake_to_feedback": summary_ms(&mut feedback),
    })
}

fn print_row(backend: &str, phase: &str, load: &str, figures: &Value, memory: &Memory) {
    let ms = |part: &str, p: &str| figures[part][format!("{p}_ms")].as_f64().unwrap();
    println!(
        "| {backend} | {phase} | {} | {load} | {:.1} | {:.0} | {:.1} / {:.1} ms | {:.1} / {:.1} / {:.1} / {:.1} ms | {:.0} MiB |",
        figures["orders"],
        figures["sent_per_second"].as_f64().unwrap(),
        figures["per_second"].as_f64().unwrap(),
        ms("intake", "p50"),
        ms("intake", "p99"),
        ms("intake_to_feedback", "p50"),
        ms("intake_to_feedback", "p90"),
        ms("intake_to_feedback", "p99"),
        ms("intake_to_feedback", "max"),
        memory.rss_kib as f64 / 1024.0,
    );
}

async fn run(backend: &str, load: &Load) -> Value {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (url, cleanup) = fresh_database(backend).await;
    let mut config = support::example_config();
    support::adjust(
        &mut config,
        support::free_port(),
        &url,
        &common::repo().join("target/bench-cache/plugins"),
        true,
    );
    support::only_target(&mut config, TARGET);
    config["targets"][TARGET]["http"]
        .as_table_mut()
        .unwrap()
        .insert("base_url".into(), ops.base_url().into());
    let mut hub = HubProcess::spawn(&config, &temp_dir(&format!("bench-e2e-{backend}")));
    hub.wait_ready(Duration::from_secs(120)).await;
    let base = hub.base_url.clone();
    let order = vec![(
        "freight-booking".to_owned(),
        example_order("freight-booking", "messy-fcl"),
    )];
    let poller = reqwest::Client::new();
    let Load {
        orders,
        clients,
        warmup,
        paced_orders,
        rate,
    } = *load;

    // Warm-up: connections, the pool's first instances, the store's caches.
    let warm = post_orders(&base, &order, warmup, clients.min(warmup), Duration::from_secs(60)).await;
    assert_eq!(warm.failures, 0, "warm-up submissions failed");
    await_delivered(&poller, &base, warmup as u64).await;

    let sent = post_orders(&base, &order, orders, clients, Duration::from_secs(120)).await;
    let burst = measure(&base, &poller, &sent, (warmup + orders) as u64).await;

    // Twice the schedule's length: room for a late timer, still bounded.
    let within = Duration::from_secs_f64(2.0 * paced_orders as f64 / rate);
    let sent = post_orders_paced(&base, &order, paced_orders, rate, within).await;
    let paced_sent = sent.sent.len();
    let paced = measure(&base, &poller, &sent, (warmup + orders + paced_sent) as u64).await;

    let memory = hub.memory();
    hub.stop().await;
    assert_eq!(ops.bookings(), warmup + orders + paced_sent, "bookings the OPS made");
    cleanup.run().await;

    print_row(backend, "burst", &format!("{clients} clients"), &burst, &memory);
    print_row(backend, "paced", &format!("{rate}/s"), &paced, &memory);
    let mut burst = burst;
    burst["clients"] = json!(clients);
    let mut paced = paced;
    paced["rate"] = json!(rate);
    paced["orders_requested"] = json!(paced_orders);
    json!({
        "backend": backend,
        "warmup": warmup,
        "burst": burst,
        "paced": paced,
        "hub_memory_after": memory.json(),
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let load = Load {
        orders: env_usize("E2E_ORDERS", 2000).max(1),
        clients: env_usize("E2E_CLIENTS", 32).max(1),
        warmup: env_usize("E2E_WARMUP", 64).max(1),
        paced_orders: env_usize("E2E_PACED_ORDERS", 500).max(1),
        rate: env_usize("E2E_PACED_RATE", 50).max(1) as f64,
    };
    let load_before = load_average();
    println!("## End to end: HTTP intake → rest-json → freight REST OPS → accepted stored");
    println!("\nmachine: {}; profile: {}\n", machine(), profile());
    println!(
        "| store | phase | orders | load | sent/s | delivered/s | intake p50 / p99 | intake → feedback p50 / p90 / p99 / max | hub RSS |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|");
    let mut runs = Vec::new();
    for backend in ["sqlite", "postgres"] {
        runs.push(run(backend, &load).await);
    }
    write_results(
        "e2e_rest",
        json!({
            "runs": runs,
            "finished": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "load_before": load_before,
            "load_after": load_average(),
        }),
    );
}
