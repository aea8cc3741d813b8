//! A whole hub in the test's process: `hub_kernel::server::run` — the same
//! function `hub serve` runs — on a loopback port, a fresh SQLite file, the
//! repository's schemas and built plugins (`scripts/build-plugins`), and
//! the targets and routes a test gives.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hub_kernel::config::HubConfig;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Well-known demo keys of the embedded configuration.
pub const CUSTOMER_KEY: &str = "demo-customer-acme";
pub const OPERATOR_KEY: &str = "demo-operator";
pub const GLOBEX_KEY: &str = "demo-customer-globex";
pub const REVIEWER_KEY: &str = "demo-reviewer";
pub const ADMIN_KEY: &str = "demo-admin";

const PRINCIPALS: &str = r#"
[[principals]]
id = "acme-portal"
role = "customer"
tenant = "acme"
key_sha256 = "72c0ce2ff28bdf0ddef92b92d2708dac68e2cb5623e583d2e6d921c7e647fe05"

[[principals]]
id = "operator-wang"
role = "operator"
key_sha256 = "9437e87fae95c03d3778f2575bb18ce30e647e51d86a8c37963364e1fc4f374e"

[[principals]]
id = "globex-portal"
role = "customer"
tenant = "globex"
key_sha256 = "a806f9ddaf8b97a27c06a16ee8c68103744a6ed72b9dd24a6de75a879f77e898"

[[principals]]
id = "reviewer-li"
role = "reviewer"
key_sha256 = "baf096fd9de6850705ebb06f5f4f012a28876ba2817d7d54688d5e5124ceb78b"

[[principals]]
id = "admin-zhao"
role = "admin"
key_sha256 = "cce7a2cf1ae045989cfc914fb95a41526f167a838b3c7d33745143614abace7c"
"#;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh temporary directory under the system's temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("order-hub-e2e")
        .join(format!("{label}-{}", uuid::Uuid::now_v7().simple()));
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {error}", dir.display());
    }
    dir
}

/// An example order of `line` from `examples/orders/<line>/<case>.input.json`.
pub fn example_order(line: &str, case: &str) -> Value {
    let path = repo_root()
        .join("examples/orders")
        .join(line)
        .join(format!("{case}.input.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` until it answers `Ok`; after `within` fails with the last
/// `Err` (what the state was instead). For conditions no event announces:
/// a file on a server's disk, an order's status over the API.
pub async fn eventually<T>(within: Duration, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(state) => assert!(Instant::now() < deadline, "not within {within:?}: {state}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A running hub; stops (and drains) on [`TestHub::stop`] or drop.
pub struct TestHub {
    pub base_url: String,
    pub client: reqwest::Client,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), hub_kernel::server::ServerError>>>,
}

impl TestHub {
    /// Starts a hub whose config is the common part plus `targets_and_routes`
    /// (TOML: `[targets.X]` tables and `[[routes]]`).
    pub async fn start(targets_and_routes: &str) -> TestHub {
        let dir = temp_dir("hub");
        let root = repo_root();
        let text = format!(
            r#"
listen = "127.0.0.1:0"
database_url = "sqlite:{db}"
schemas_dir = "{schemas}"
{PRINCIPALS}
[plugins]
dir = "{plugins}"
cache_dir = "{cache}"

[dispatch]
idle_poll_ms = 50
shutdown_grace_ms = 2000
poller_lease_ms = 1000

{targets_and_routes}
"#,
            db = dir.join("hub.db").display(),
            schemas = root.join("schemas").display(),
            plugins = root.join("plugins/dist").display(),
            cache = root.join("target/hub-e2e-plugin-cache").display(),
        );
        std::fs::write(dir.join("hub.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        let config = HubConfig::parse(&text, "test hub.toml").unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(hub_kernel::server::run(config, listener, async move {
            let _ = stopped.await;
        }));
        let hub = TestHub {
            base_url: format!("http://{address}"),
            client: reqwest::Client::new(),
            dir,
            stop: Some(stop),
            task: Some(task),
        };
        hub.wait_ready().await;
        hub
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.client.get(format!("{}/healthz", self.base_url)).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(task) = &self.task
                && task.is_finished()
            {
                panic!("the hub stopped during start-up (see the log above)");
            }
            assert!(Instant::now() < deadline, "the hub did not come up within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        read(response).await
    }

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        read(response).await
    }

    /// Submits `order` as the demo customer; returns the order id.
    pub async fn submit(&self, line: &str, order: &Value) -> String {
        let (status, body) = self.post(CUSTOMER_KEY, &format!("/v1/orders/{line}"), order).await;
        assert!(
            status == 201 || status == 200 || status == 202,
            "submit {line}: {status} {body:#}"
        );
        body["order_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no order_id in {body:#}"))
            .to_owned()
    }

    /// Submits `order` as the demo customer within the portal's trace
    /// `traceparent`; returns the order id and the `traceparent` the hub
    /// answered with (its intake span).
    pub async fn submit_traced(&self, line: &str, order: &Value, traceparent: &str) -> (String, String) {
        let response = self
            .client
            .post(format!("{}/v1/orders/{line}", self.base_url))
            .bearer_auth(CUSTOMER_KEY)
            .header("traceparent", traceparent)
            .json(order)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /v1/orders/{line}: {e}"));
        let answered = response
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no traceparent in the answer: {:?}", response.headers()))
            .to_owned();
        let (status, body) = read(response).await;
        assert_eq!(status, 202, "submit {line}: {body:#}");
        let id = body["order_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no order_id in {body:#}"));
        (id.to_owned(), answered)
    }

    /// The order as staff see it (timeline with internal detail).
    pub async fn order(&self, id: &str) -> Value {
        let (status, body) = self.get(OPERATOR_KEY, &format!("/v1/orders/{id}")).await;
        assert_eq!(status, 200, "{body:#}");
        body
    }

    /// Waits until the order's status is one of `statuses`; fails with the
    /// order's timeline when `within` passes first.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str], within: Duration) -> Value {
        eventually(within, async || {
            let order = self.order(id).await;
            if statuses.iter().any(|s| order["status"] == *s) {
                Ok(order)
            } else {
                Err(format!("order {id} did not reach {statuses:?}; it is:\n{order:#}"))
            }
        })
        .await
    }

    /// Waits until the order's timeline has an event of `kind`.
    pub async fn wait_for_event(&self, id: &str, kind: &str, within: Duration) -> Value {
        eventually(within, async || {
            let order = self.order(id).await;
            events(&order)
                .into_iter()
                .find(|e| e["kind"] == kind)
                .ok_or_else(|| format!("order {id} got no `{kind}` event; it is:\n{order:#}"))
        })
        .await
    }

    /// Stops the hub the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                other => panic!("the hub did not stop cleanly: {other:?}"),
            }
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The timeline events of an order view.
pub fn events(order: &Value) -> Vec<Value> {
    order["timeline"].as_array().cloned().unwrap_or_default()
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
