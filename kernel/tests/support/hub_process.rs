//! `hub serve` as a child process: started from a config file, awaited on
//! its "order hub ready" log line, killed with SIGKILL or stopped with
//! SIGTERM — a real process with a real store, as in production.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

pub const CUSTOMER_KEY: &str = "demo-customer-acme";
pub const OPERATOR_KEY: &str = "demo-operator";

/// The demo principals of `examples/hub.toml` (keys as SHA-256 digests).
pub const PRINCIPALS: &str = r#"
[[principals]]
id = "acme-portal"
role = "customer"
tenant = "acme"
key_sha256 = "72c0ce2ff28bdf0ddef92b92d2708dac68e2cb5623e583d2e6d921c7e647fe05"

[[principals]]
id = "operator-wang"
role = "operator"
key_sha256 = "9437e87fae95c03d3778f2575bb18ce30e647e51d86a8c37963364e1fc4f374e"
"#;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("order-hub-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn fresh_database(postgres: bool, dir: &Path) -> String {
    if !postgres {
        return format!("sqlite:{}", dir.join("hub.db").display());
    }
    let admin =
        std::env::var("HUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("hub_t_{}", uuid::Uuid::now_v7().simple());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    format!("{base}/{name}")
}

pub struct HubProcess {
    child: Child,
    pub port: u16,
    pub client: reqwest::Client,
    /// Every line the hub wrote to stdout (its log) so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    /// Starts `hub serve --config CONFIG --listen 127.0.0.1:PORT` and waits until it is ready.
    pub async fn start(config: &Path, port: u16) -> HubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hub"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .current_dir(super::repo())
            .env("RUST_LOG", "warn,hub=info,hub_kernel=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        // drains the log for the hub's whole life so it never blocks on a full pipe
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.contains("order hub ready") {
                    let _ = ready_tx.send(());
                }
                kept.lock().unwrap().push(line);
            }
        });
        tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the hub did not log that it is ready within 60 s");
        HubProcess {
            child,
            port,
            client: reqwest::Client::new(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL: no drain, no goodbye — a crash.
    pub async fn kill9(mut self) {
        self.child.kill().unwrap();
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap();
    }

    /// SIGTERM and wait for the exit (graceful shutdown).
    pub async fn terminate(self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let mut child = self.child;
        tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .expect("the hub did not stop within 30 s of SIGTERM")
        .unwrap()
        .unwrap()
    }

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).bearer_auth(key).send().await.unwrap();
        read(response).await
    }

    /// Submits [`freight_order`]`(reference)` as the demo customer; returns the order id.
    pub async fn submit_freight(&self, reference: &str) -> String {
        let (status, body) = self
            .post(CUSTOMER_KEY, "/v1/orders/freight-booking", &freight_order(reference))
            .await;
        assert_eq!(status, 202, "{body}");
        body["order_id"].as_str().unwrap().to_owned()
    }

    /// Submits [`freight_order`]`(reference)` as the demo customer within the
    /// portal's trace `traceparent`; returns the order id and the
    /// `traceparent` the hub answered with (its intake span).
    pub async fn submit_freight_traced(&self, reference: &str, traceparent: &str) -> (String, String) {
        let response = self
            .client
            .post(self.url("/v1/orders/freight-booking"))
            .bearer_auth(CUSTOMER_KEY)
            .header("traceparent", traceparent)
            .json(&freight_order(reference))
            .send()
            .await
            .unwrap();
        let answered = response.headers()["traceparent"].to_str().unwrap().to_owned();
        let (status, body) = read(response).await;
        assert_eq!(status, 202, "{body}");
        (body["order_id"].as_str().unwrap().to_owned(), answered)
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A valid freight booking (routed to `freight-ops` by `service_mode` FCL)
/// with its own customer reference.
pub fn freight_order(reference: &str) -> Value {
    let path = super::repo().join("examples/orders/freight-booking/messy-fcl.input.json");
    let mut order: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    order["booking_ref"] = Value::String(reference.to_owned());
    order
}

/// `SELECT` helpers on the hub's own database (read-only checks).
pub async fn database(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}
