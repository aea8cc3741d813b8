//! The API alone (no plugins, no dispatch) on a loopback socket, in this
//! process, over a fresh SQLite file: for tests of what the router serves.

use std::path::PathBuf;
use std::sync::Arc;

use hub_kernel::api::{self, AppState};
use hub_kernel::auth::Authenticator;
use hub_kernel::config::HubConfig;
use hub_kernel::schema::SchemaRegistry;
use hub_kernel::store::Store;
use tokio::sync::oneshot;

pub struct ApiServer {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl ApiServer {
    /// The repository's schemas and the embedded default's principals;
    /// `console` says whether `/` and `/assets/…` serve the web console.
    pub async fn start(console: bool) -> ApiServer {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let schemas = SchemaRegistry::load_dir(&repo.join("schemas")).unwrap_or_else(|e| panic!("{e}"));
        let principals = HubConfig::load(None).unwrap().principals;
        let dir = std::env::temp_dir().join("order-hub-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join(format!("api_{}.db", uuid::Uuid::now_v7().simple()));
        let store = Store::connect(&format!("sqlite:{}", db.display())).await.unwrap();
        let auth = Authenticator::from_config(&principals).unwrap();
        let state = AppState::new(Arc::new(schemas), store.clone(), auth, 1024 * 1024).with_console(console);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, state, async {
            let _ = rx.await;
        }));
        ApiServer {
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            store,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

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
