//! The real `hub` binary as a child process, for the harnesses that measure
//! a whole hub from outside (`e2e_rest`, `footprint`): a configuration made
//! from `examples/hub.toml`, spawning, readiness, memory from
//! `/proc/<pid>/status`, and a SIGTERM stop.
//!
//! The binary is `HUB_BIN`, or `release/hub` in the target directory
//! (`cargo build --release -p hub-kernel --bin hub`, which `scripts/bench`
//! runs first).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;

pub fn hub_binary() -> PathBuf {
    let path = std::env::var_os("HUB_BIN")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(|dir| PathBuf::from(dir).join("release/hub")))
        .unwrap_or_else(|| repo().join("target/release/hub"));
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p hub-kernel --bin hub (or set HUB_BIN)",
        path.display()
    );
    path
}

/// A free loopback port (the hub binds it a moment later).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `examples/hub.toml` — the shipped configuration, with its demo keys,
/// five reference plugins and six targets — as a TOML table to adjust.
pub fn example_config() -> toml::Table {
    let text = std::fs::read_to_string(repo().join("examples/hub.toml")).unwrap();
    text.parse().unwrap()
}

/// Sets the parts of `config` that belong to one benchmark run: the
/// listen address, the store, the compile cache, absolute paths for the
/// schemas and plugins, and `[dispatch] enabled`.
pub fn adjust(config: &mut toml::Table, port: u16, database_url: &str, cache_dir: &Path, dispatch: bool) {
    let root = repo().canonicalize().unwrap();
    config.insert("listen".into(), format!("127.0.0.1:{port}").into());
    config.insert("database_url".into(), database_url.into());
    config.insert("schemas_dir".into(), root.join("schemas").display().to_string().into());
    let plugins = config
        .entry("plugins")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .unwrap();
    plugins.insert("dir".into(), root.join("plugins/dist").display().to_string().into());
    plugins.insert("cache_dir".into(), cache_dir.display().to_string().into());
    let dispatch_table = config
        .entry("dispatch")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .unwrap();
    dispatch_table.insert("enabled".into(), dispatch.into());
}

/// Keeps only `target` and the routes to it.
pub fn only_target(config: &mut toml::Table, target: &str) {
    let targets = config["targets"].as_table_mut().unwrap();
    targets.retain(|name, _| name == target);
    let routes = config["routes"].as_array_mut().unwrap();
    routes.retain(|route| route["target"].as_str() == Some(target));
}

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::json!({"rss_mib": self.rss_kib as f64 / 1024.0, "hwm_mib": self.hwm_kib as f64 / 1024.0})
    }
}

/// A `hub serve` child process; killed if dropped without [`HubProcess::stop`].
pub struct HubProcess {
    child: tokio::process::Child,
    pub pid: u32,
    pub base_url: String,
    pub log: PathBuf,
    spawned: Instant,
}

impl HubProcess {
    /// Writes `config` to `dir/hub.toml` and starts `hub serve` on it from
    /// the repository root (the example's secret files are relative to it);
    /// its output goes to `dir/hub.log`.
    pub fn spawn(config: &toml::Table, dir: &Path) -> HubProcess {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("hub.toml");
        std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
        let listen = config["listen"].as_str().unwrap().to_owned();
        let log = dir.join("hub.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let spawned = Instant::now();
        let child = tokio::process::Command::new(hub_binary())
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .current_dir(repo())
            .env(
                "RUST_LOG",
                std::env::var("HUB_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        HubProcess {
            pid: child.id().unwrap(),
            child,
            base_url: format!("http://{listen}"),
            log,
            spawned,
        }
    }

    /// Waits until `/readyz` answers 200 (asking every 5 ms: the measured
    /// event *is* the first 200, and the bench runs the hub with `warn`
    /// logs, so there is no ready line to await); returns the
    /// time since the process was spawned. Panics with the hub's log if it
    /// exits or is not ready `within`.
    pub async fn wait_ready(&mut self, within: Duration) -> Duration {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let url = format!("{}/readyz", self.base_url);
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status() == 200
            {
                return self.spawned.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the hub exited ({status}) before it was ready:\n{}", self.log_text());
            }
            assert!(
                self.spawned.elapsed() < within,
                "the hub was not ready within {within:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn memory(&self) -> Memory {
        Memory::of(self.pid)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (the hub drains and closes its store), at most 30 s.
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            other => {
                let _ = self.child.start_kill();
                panic!("the hub did not stop cleanly ({other:?}):\n{}", self.log_text());
            }
        }
    }
}
