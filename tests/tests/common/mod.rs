//! Test harness: a whole hub on a real loopback socket, on a fresh database
//! of either backend.
//!
//! Every store-touching test runs twice through [`both_backends!`]: on a new
//! SQLite file and on a new PostgreSQL database (`HUB_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`). A missing PostgreSQL
//! fails the test; nothing is skipped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use hub_kernel::api::{self, AppState};
use hub_kernel::auth::Authenticator;
use hub_kernel::config::HubConfig;
use hub_kernel::schema::SchemaRegistry;
use hub_kernel::store::Store;
use serde_json::Value;
use tokio::sync::oneshot;

pub const ACME: &str = "demo-customer-acme";
pub const GLOBEX: &str = "demo-customer-globex";
pub const REVIEWER: &str = "demo-reviewer";
pub const OPERATOR: &str = "demo-operator";
pub const ADMIN: &str = "demo-admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn schemas() -> SchemaRegistry {
    SchemaRegistry::load_dir(&repo_root().join("schemas")).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, empty database URL for `backend`.
pub async fn fresh_database(backend: Backend) -> String {
    let name = format!("hub_t_{}", uuid::Uuid::now_v7().simple());
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("order-hub-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite:{}", dir.join(format!("{name}.db")).display())
        }
        Backend::Postgres => {
            let admin = std::env::var("HUB_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
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
    }
}

pub struct TestHub {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestHub {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_limit(backend, 1024 * 1024).await
    }

    pub async fn start_with_limit(backend: Backend, max_body_bytes: usize) -> Self {
        Self::start_with(backend, max_body_bytes, |state| state).await
    }

    /// A hub whose state `adjust` changes before it starts serving.
    pub async fn start_with(
        backend: Backend,
        max_body_bytes: usize,
        adjust: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let config = HubConfig::load(None).unwrap();
        let store = Store::connect(&fresh_database(backend).await).await.unwrap();
        let auth = Authenticator::from_config(&config.principals).unwrap();
        let state = adjust(AppState::new(Arc::new(schemas()), store.clone(), auth, max_body_bytes));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestHub {
            base,
            client: reqwest::Client::new(),
            store,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
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

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).bearer_auth(key).send().await.unwrap();
        read(response).await
    }

    /// Stops the server and checks it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.store.close().await;
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Reads `examples/orders/<line>/<name>.input.json`.
pub fn example(line: &str, name: &str) -> Value {
    let path = repo_root()
        .join("examples/orders")
        .join(line)
        .join(format!("{name}.input.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Runs an async test body `fn(Backend)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(common::Backend::Postgres).await
            }
        }
    };
}
