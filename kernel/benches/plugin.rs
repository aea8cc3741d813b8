//! Benchmark harness for the plugin runtime (run: `scripts/bench plugin`).
//!
//! Per-call cost of the hub's sandbox — a fresh instance from the pool,
//! every limit armed, grants checked, `submit` through a fake transport —
//! next to bare wasmtime calls of the same guest in the same run:
//! - bare, same instance: one instance, `submit` again and again (the floor);
//! - bare, fresh instance: `InstancePre` + default config per call.
//!
//! Then cold start of every reference plugin in `plugins/dist`: compile vs.
//! load from the compile cache, median of `BENCH_COLD_REPEAT` (default 5).
//!
//! Figures print as Markdown tables and go to
//! `target/bench-results/plugin.json`. `BENCH_CALLS` (default 20000) bounds
//! the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark, not a production path

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_usize, write_results};
use hub_kernel::sandbox::{
    BoundTarget, CallLimits, Capability, EngineSettings, PluginCall, PluginOrder, PluginPackage, SandboxEngine,
};
use hub_kernel::transports::recorded::{Answer, Replay};
use hub_kernel::transports::{HttpResponse, TargetTransports};
use serde_json::{Value, json};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bare {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

use bare::hub::plugin::{amqp, clock, config, files, http, log, types};

/// The least a host can do for the probe guest: answer everything at once.
struct BareHost {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BareHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for BareHost {}
impl http::Host for BareHost {
    async fn send(&mut self, _: http::Request) -> Result<http::Response, types::TransportError> {
        Ok(http::Response {
            status: 200,
            headers: vec![],
            body: b"{}".to_vec(),
        })
    }
}
impl amqp::Host for BareHost {
    async fn publish(&mut self, _: amqp::Message) -> Result<(), types::TransportError> {
        Ok(())
    }
}
impl files::Host for BareHost {
    async fn put(&mut self, _: String, _: Vec<u8>) -> Result<(), types::TransportError> {
        Ok(())
    }
    async fn get(&mut self, _: String) -> Result<Vec<u8>, types::TransportError> {
        Ok(vec![])
    }
    async fn list(&mut self, _: String) -> Result<Vec<files::Entry>, types::TransportError> {
        Ok(vec![])
    }
    async fn rename(&mut self, _: String, _: String) -> Result<(), types::TransportError> {
        Ok(())
    }
    async fn remove(&mut self, _: String) -> Result<(), types::TransportError> {
        Ok(())
    }
}
impl config::Host for BareHost {
    async fn get(&mut self, key: String) -> Option<String> {
        (key == "behaviour").then(|| "echo".to_owned())
    }
    async fn entries(&mut self) -> Vec<(String, String)> {
        vec![("behaviour".into(), "echo".into())]
    }
}
impl log::Host for BareHost {
    async fn log(&mut self, _: log::Level, _: String) {}
}
impl clock::Host for BareHost {
    async fn now(&mut self) -> clock::Timestamp {
        clock::Timestamp {
            seconds: 0,
            nanoseconds: 0,
        }
    }
}

fn probe_dir() -> PathBuf {
    common::repo().join("plugins/dist-testing/probe/1.0.0")
}

fn order(index: usize) -> PluginOrder {
    PluginOrder {
        id: format!("o-{index}"),
        business_line: "freight-booking".into(),
        schema_version: 1,
        payload: r#"{"shipper":{"name":"上海远航国际货运有限公司"},"origin_port":"CNSHA"}"#.into(),
        attempt: 1,
        idempotency_key: format!("key-{index}"),
        customer: "acme".into(),
    }
}

struct Figures {
    name: &'static str,
    p50_us: f64,
    p99_us: f64,
    per_second: f64,
}

impl Figures {
    fn json(&self, key: &str) -> Value {
        json!({"key": key, "name": self.name, "p50_us": self.p50_us, "p99_us": self.p99_us, "per_second": self.per_second})
    }
}

fn figures(name: &'static str, mut samples: Vec<Duration>, total: Duration) -> Figures {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    Figures {
        name,
        p50_us: at(0.50),
        p99_us: at(0.99),
        per_second: samples.len() as f64 / total.as_secs_f64(),
    }
}

fn bare_engine() -> (Engine, Linker<BareHost>) {
    bare_engine_with(Config::new())
}

/// The hub's pool settings, without anything else the hub adds.
fn bare_pooled_engine() -> (Engine, Linker<BareHost>) {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(512)
        .total_core_instances(4096)
        .total_memories(1024)
        .total_tables(2048)
        .total_stacks(512)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_core_instances_per_component(32)
        .max_memory_size(256 << 20)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(128 << 10);
    let mut config = Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    bare_engine_with(config)
}

fn bare_engine_with(config: Config) -> (Engine, Linker<BareHost>) {
    let engine = Engine::new(&config).unwrap();
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    bare::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |host: &mut BareHost| host).unwrap();
    (engine, linker)
}

fn bare_store(engine: &Engine) -> Store<BareHost> {
    Store::new(
        engine,
        BareHost {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    )
}

fn to_bare(order: &PluginOrder) -> bare::exports::hub::plugin::handler::Order {
    bare::exports::hub::plugin::handler::Order {
        id: order.id.clone(),
        business_line: order.business_line.clone(),
        schema_version: order.schema_version,
        payload: order.payload.clone(),
        attempt: order.attempt,
        idempotency_key: order.idempotency_key.clone(),
        customer: order.customer.clone(),
    }
}

async fn bare_same_instance(calls: usize) -> Figures {
    let (engine, linker) = bare_engine();
    let component = Component::from_file(&engine, probe_dir().join("probe.wasm")).unwrap();
    let mut store = bare_store(&engine);
    let plugin = bare::Plugin::instantiate_async(&mut store, &component, &linker)
        .await
        .unwrap();
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for index in 0..calls {
        let order = to_bare(&order(index));
        let call = Instant::now();
        let result = plugin
            .hub_plugin_handler()
            .call_submit(&mut store, &order)
            .await
            .unwrap();
        samples.push(call.elapsed());
        assert!(result.is_ok());
    }
    figures("bare wasmtime, same instance (floor)", samples, started.elapsed())
}

async fn bare_fresh_instance(calls: usize, pooled: bool) -> Figures {
    let (engine, linker) = if pooled { bare_pooled_engine() } else { bare_engine() };
    let component = Component::from_file(&engine, probe_dir().join("probe.wasm")).unwrap();
    let pre = bare::PluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for index in 0..calls {
        let order = to_bare(&order(index));
        let call = Instant::now();
        let mut store = bare_store(&engine);
        let plugin = pre.instantiate_async(&mut store).await.unwrap();
        let result = plugin
            .hub_plugin_handler()
            .call_submit(&mut store, &order)
            .await
            .unwrap();
        // Tearing the instance down (its slot goes back to the pool) is part
        // of the cost, as it is inside the hub's call.
        drop(store);
        samples.push(call.elapsed());
        assert!(result.is_ok());
    }
    let name = if pooled {
        "bare wasmtime, fresh instance per call (the hub's pool settings)"
    } else {
        "bare wasmtime, fresh instance per call (default allocator)"
    };
    figures(name, samples, started.elapsed())
}

fn hub_call() -> PluginCall {
    let engine = SandboxEngine::new(EngineSettings::default(), None).unwrap();
    let plugin = Arc::new(engine.load(PluginPackage::open(&probe_dir()).unwrap()).unwrap());
    let mut target = BoundTarget::new("bench");
    target.granted = Capability::ALL.into_iter().collect();
    target.settings = BTreeMap::from([("behaviour".to_owned(), "echo".to_owned())]);
    let replay = Arc::new(Replay::always(Answer::Http(HttpResponse {
        status: 200,
        headers: vec![],
        body: b"{}".to_vec(),
    })));
    target.transports = TargetTransports {
        http: Some(replay),
        amqp: None,
        files: None,
    };
    target.limits = CallLimits::default();
    PluginCall::bind(engine, plugin, Arc::new(target)).unwrap()
}

async fn hub_sequential(calls: usize) -> Figures {
    let call = hub_call();
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for index in 0..calls {
        let order = order(index);
        let one = Instant::now();
        call.submit(&order).await.unwrap();
        samples.push(one.elapsed());
    }
    figures(
        "hub sandbox, fresh pooled instance per call, all limits",
        samples,
        started.elapsed(),
    )
}

async fn hub_concurrent(calls: usize, in_flight: usize) -> Figures {
    let call = hub_call();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for index in (worker..calls).step_by(in_flight) {
                let order = order(index);
                let one = Instant::now();
                call.submit(&order).await.unwrap();
                samples.push(one.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    figures("hub sandbox, 16 calls in flight (2 cores)", samples, started.elapsed())
}

/// Every reference plugin package `plugins/dist/<name>/<version>`.
fn reference_packages() -> Vec<PathBuf> {
    let mut packages = Vec::new();
    for plugin in std::fs::read_dir(common::repo().join("plugins/dist")).unwrap() {
        for version in std::fs::read_dir(plugin.unwrap().path()).unwrap() {
            packages.push(version.unwrap().path());
        }
    }
    packages.sort();
    packages
}

struct ColdStart {
    package: String,
    wasm_bytes: u64,
    compile: Duration,
    cached: Duration,
}

/// Median compile (empty cache) and cache-load times of one package.
fn cold_start(package: &Path, repeat: usize) -> ColdStart {
    let cache = std::env::temp_dir().join(format!("hub-bench-cache-{}", std::process::id()));
    let mut compile = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..repeat {
        let _ = std::fs::remove_dir_all(&cache);
        let engine = SandboxEngine::new(EngineSettings::default(), Some(&cache)).unwrap();
        let first = engine.load(PluginPackage::open(package).unwrap()).unwrap();
        assert!(!first.load.from_cache);
        compile.push(first.load.elapsed);
        let engine = SandboxEngine::new(EngineSettings::default(), Some(&cache)).unwrap();
        let second = engine.load(PluginPackage::open(package).unwrap()).unwrap();
        assert!(second.load.from_cache);
        cached.push(second.load.elapsed);
    }
    let _ = std::fs::remove_dir_all(&cache);
    compile.sort();
    cached.sort();
    let wasm_bytes = std::fs::read_dir(package)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    ColdStart {
        package: format!("{}@{}", name(package.parent().unwrap()), name(package)),
        wasm_bytes,
        compile: compile[repeat / 2],
        cached: cached[repeat / 2],
    }
}

fn main() {
    let calls = env_usize("BENCH_CALLS", 20_000);
    let repeat = env_usize("BENCH_COLD_REPEAT", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `BENCH_ONLY=hub|bare-pooled` runs one path alone, for a profiler.
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("hub") => {
            let only = runtime.block_on(hub_sequential(calls));
            println!("{}: p50 {:.1} µs", only.name, only.p50_us);
            return;
        }
        Ok("bare-pooled") => {
            let only = runtime.block_on(bare_fresh_instance(calls, true));
            println!("{}: p50 {:.1} µs", only.name, only.p50_us);
            return;
        }
        _ => {}
    }
    let calls_json = runtime.block_on(async {
        // Warm up every path once so the first samples are not page faults.
        let _ = bare_same_instance(200).await;
        let _ = hub_sequential(200).await;
        let floor = bare_same_instance(calls).await;
        let bare_fresh = bare_fresh_instance(calls, false).await;
        let bare_pooled = bare_fresh_instance(calls, true).await;
        let hub = hub_sequential(calls).await;
        let hub_parallel = hub_concurrent(calls, 16).await;
        println!("\n## Plugin call cost ({calls} `submit` calls of the probe guest, fake transport)\n");
        println!("| path | p50 µs | p99 µs | calls/s |");
        println!("|---|---:|---:|---:|");
        for row in [&floor, &bare_fresh, &bare_pooled, &hub, &hub_parallel] {
            println!(
                "| {} | {:.1} | {:.1} | {:.0} |",
                row.name, row.p50_us, row.p99_us, row.per_second
            );
        }
        println!(
            "\nratio hub / bare same-instance p50: {:.1}×; hub / bare pooled fresh-instance p50: {:.2}×; \
             hub / bare default fresh-instance p50: {:.2}×",
            hub.p50_us / floor.p50_us,
            hub.p50_us / bare_pooled.p50_us,
            hub.p50_us / bare_fresh.p50_us
        );
        json!({
            "calls": calls,
            "in_flight": 16,
            "paths": [
                floor.json("bare_same_instance"),
                bare_fresh.json("bare_fresh_default"),
                bare_pooled.json("bare_fresh_pooled"),
                hub.json("hub"),
                hub_parallel.json("hub_16_in_flight"),
            ],
        })
    });
    println!("\n## Cold start per reference plugin, median of {repeat}\n");
    println!("| package | wasm KB | compile ms | from cache ms | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let mut cold = Vec::new();
    for package in reference_packages() {
        let one = cold_start(&package, repeat);
        let (compile, cached) = (one.compile.as_secs_f64() * 1e3, one.cached.as_secs_f64() * 1e3);
        println!(
            "| {} | {:.0} | {compile:.1} | {cached:.2} | {:.0}× |",
            one.package,
            one.wasm_bytes as f64 / 1e3,
            compile / cached
        );
        cold.push(
            json!({"package": one.package, "wasm_bytes": one.wasm_bytes, "compile_ms": compile, "cached_ms": cached}),
        );
    }
    write_results(
        "plugin",
        json!({"calls": calls_json, "cold_start": {"repeat": repeat, "packages": cold}}),
    );
}
