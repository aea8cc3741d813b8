//! Benchmark harness for the durable dispatcher (run: `cargo bench -p hub-kernel --bench dispatch`).
//!
//! Jobs per second through [`Dispatcher`]: lease from the outbox, read the
//! order, call the target's plugin in the sandbox, record outcome + attempt +
//! order status + timeline event in one transaction. The plugin does next to
//! nothing and nothing touches the network, so the figure is the hub's own
//! cost per job: store round trips and a fresh sandboxed instance per call.
//!
//! How: for each backend (a fresh SQLite file, a fresh PostgreSQL database)
//! and for 1, 4 and 16 targets (`t00`…`t15`, each the `probe` test guest
//! 1.0.0, built by `scripts/build-plugins` into `plugins/dist-testing` and
//! copied alone into a scratch plugin directory), the outbox is filled
//! first — `BENCH_JOBS` queued orders, round-robin over the targets, each
//! with its job in the same transaction, as intake writes them — then the
//! dispatcher starts and the clock runs until every job is `done` (polled
//! every 20 ms). Plugin start-up and filling are not timed.
//!
//! The probe runs its `snoop` behaviour: its default (`echo`) POSTs to the
//! target's HTTP endpoint and, with no endpoint, fails as denied — a dead
//! letter, not a delivery. `snoop` makes only host calls that end inside the
//! hub (an empty environment, denied files, `config`, an HTTP request the host
//! refuses before any socket) and answers `accepted`.
//!
//! Figures print as a Markdown table. `BENCH_JOBS` (default 4000) and
//! `BENCH_WORKERS` (default 32, `[dispatch] workers`) bound the run; each
//! target's `concurrency` is 32, so one target alone is not capped below the
//! workers. PostgreSQL: `HUB_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) is the admin connection that
//! creates and drops the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark, not a production path

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_usize, fresh_database, machine, profile, repo, write_results};
use hub_kernel::config::HubConfig;
use hub_kernel::dispatch::Dispatcher;
use hub_kernel::plugins::PluginHost;
use hub_kernel::store::{Created, NewOrder, Store};
use hub_kernel::timeline::OrderStatus;
use tokio_util::sync::CancellationToken;

const TARGET_COUNTS: [usize; 3] = [1, 4, 16];
/// Longest a run may take before the harness gives up.
const DEADLINE: Duration = Duration::from_secs(120);
/// Concurrent writers while filling the outbox (untimed).
const FILLERS: usize = 16;

fn target_name(index: usize) -> String {
    format!("t{index:02}")
}

/// A plugin directory holding only probe 1.0.0: `plugins/dist-testing` also
/// holds `future-wit` (built for a newer WIT), which a hub refuses to load.
fn stage_probe(scratch: &Path) -> PathBuf {
    let source = repo().join("plugins/dist-testing/probe/1.0.0");
    assert!(
        source.join("probe.wasm").exists(),
        "{} is missing: run scripts/build-plugins first",
        source.display()
    );
    let dir = scratch.join("plugins");
    let staged = dir.join("probe/1.0.0");
    std::fs::create_dir_all(&staged).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), staged.join(entry.file_name())).unwrap();
    }
    dir
}

/// A hub config with `targets` probe targets and `workers` dispatch workers.
fn config(targets: usize, workers: usize, scratch: &Path) -> HubConfig {
    let mut text = format!(
        "[plugins]\ndir = {:?}\ncache_dir = {:?}\n\n\
         [dispatch]\nworkers = {workers}\nidle_poll_ms = 5\nnode_id = \"bench\"\n",
        scratch.join("plugins").display().to_string(),
        scratch.join("cache").display().to_string()
    );
    for index in 0..targets {
        // probe declares every capability; a target must grant all it declares.
        text.push_str(&format!(
            "\n[targets.{}]\nplugin = \"probe\"\nversion = \"1.0.0\"\n\
             grants = [\"http\", \"amqp\", \"files\", \"config\", \"log\", \"clock\"]\n\
             settings = {{ behaviour = \"snoop\" }}\nconcurrency = 32\n",
            target_name(index)
        ));
    }
    HubConfig::parse(&text, "bench").unwrap_or_else(|e| panic!("bench config: {e}"))
}

fn queued_order(index: usize, targets: usize) -> NewOrder {
    let normalized = serde_json::json!({
        "shipper": { "name": "Shanghai Yuanhang International Freight" },
        "origin_port": "CNSHA",
        "destination_port": "DEHAM",
        "containers": [{ "type": "40HC", "count": 1 }],
    });
    NewOrder {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        line: "freight-booking".into(),
        schema_version: 1,
        status: OrderStatus::Queued,
        submission: normalized.to_string(),
        normalized,
        problems: vec![],
        customer_reference: Some(format!("bench-{index}")),
        events: vec![],
        target: target_name(index % targets),
        traceparent: None,
    }
}

/// Queues `jobs` orders (and so `jobs` outbox jobs), round-robin over the
/// targets; returns the first order's id.
async fn fill(store: &Store, jobs: usize, targets: usize) -> String {
    let mut fillers = tokio::task::JoinSet::new();
    for filler in 0..FILLERS {
        let store = store.clone();
        fillers.spawn(async move {
            let mut first = None;
            for index in (filler..jobs).step_by(FILLERS) {
                let created = store.create_order(&queued_order(index, targets), None).await.unwrap();
                let Created::New(id) = created else {
                    panic!("order {index} was not created: {created:?}")
                };
                first = first.or((index == 0).then_some(id));
            }
            first
        });
    }
    let mut first = None;
    while let Some(done) = fillers.join_next().await {
        first = first.or(done.unwrap());
    }
    let counts = store.job_counts(None).await.unwrap();
    assert_eq!(
        counts,
        vec![("pending".to_owned(), jobs as i64)],
        "the outbox before the run"
    );
    first.unwrap()
}

struct Run {
    backend: &'static str,
    targets: usize,
    jobs: usize,
    seconds: f64,
}

async fn bench_dispatch(backend: &'static str, targets: usize, jobs: usize, workers: usize, scratch: &Path) -> Run {
    let config = config(targets, workers, scratch);
    let plugins = Arc::new(PluginHost::start(&config).unwrap_or_else(|e| panic!("plugins: {e}")));
    let (url, cleanup) = fresh_database(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let sample = fill(&store, jobs, targets).await;

    let dispatcher = Dispatcher::new(store.clone(), plugins, &config, "bench".into());
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn({
        let (dispatcher, shutdown) = (dispatcher.clone(), shutdown.clone());
        async move { dispatcher.run(shutdown).await }
    });
    loop {
        let counts = store.job_counts(None).await.unwrap();
        let done = counts.iter().find(|(state, _)| state == "done").map_or(0, |(_, n)| *n);
        if done == jobs as i64 {
            break;
        }
        // Anything but pending / leased / done means the probe did not accept.
        if let Some((state, n)) = counts
            .iter()
            .find(|(state, n)| *n > 0 && !matches!(state.as_str(), "pending" | "leased" | "done"))
        {
            panic!("{backend}, {targets} targets: {n} jobs ended `{state}` instead of `done` (job counts {counts:?})");
        }
        if started.elapsed() > DEADLINE {
            panic!(
                "{backend}, {targets} targets: {done} of {jobs} jobs done after {}s (job counts {counts:?})",
                DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    running.await.unwrap();

    let delivered: u64 = dispatcher.lanes().iter().map(|lane| lane.delivered).sum();
    assert_eq!(delivered, jobs as u64, "deliveries counted by the lanes");
    let status = store.order(&sample).await.unwrap().map(|order| order.status);
    assert_eq!(status, Some(OrderStatus::Accepted), "order {sample} after its delivery");
    store.close().await;
    cleanup.run().await;
    Run {
        backend,
        targets,
        jobs,
        seconds,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let jobs = env_usize("BENCH_JOBS", 4000).max(1);
    let workers = env_usize("BENCH_WORKERS", 32).max(1);
    println!(
        "## Order Hub durable dispatch\n\nmachine: {}; profile: {}",
        machine(),
        profile()
    );
    // probe 1.0.0 alone, and the compile cache (only the first run compiles).
    let scratch = std::env::temp_dir().join(format!("hub-bench-dispatch-{}", std::process::id()));
    stage_probe(&scratch);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for backend in ["sqlite", "postgres"] {
        for targets in TARGET_COUNTS {
            runs.push(runtime.block_on(bench_dispatch(backend, targets, jobs, workers, &scratch)));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "\n### Outbox → probe plugin (`snoop`, no network) → outcome recorded \
         ({workers} workers, target concurrency 32, outbox filled before the clock starts)\n"
    );
    println!("| backend | targets | jobs | seconds | jobs/s |");
    println!("|---|---:|---:|---:|---:|");
    for run in &runs {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} |",
            run.backend,
            run.targets,
            run.jobs,
            run.seconds,
            run.jobs as f64 / run.seconds
        );
    }
    let rows: Vec<_> = runs
        .iter()
        .map(|run| {
            serde_json::json!({"backend": run.backend, "targets": run.targets, "jobs": run.jobs,
                "seconds": run.seconds, "per_second": run.jobs as f64 / run.seconds})
        })
        .collect();
    write_results("dispatch", serde_json::json!({"workers": workers, "runs": rows}));
}
