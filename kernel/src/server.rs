//! A whole hub in one call: store, plugins and targets, dispatcher, reply
//! consumers, pollers and the HTTP API, started in the right order and
//! stopped in the reverse one.
//!
//! `hub serve` is this plus a signal handler; the end-to-end tests and the
//! benchmarks run exactly the same thing in-process, so what they prove is
//! what the binary does.
//!
//! **Invariants**
//! - Every configuration mistake (schemas, plugins, grants, secrets,
//!   routes, store) is reported before the listener takes a request.
//! - On shutdown the API stops first, then the dispatcher drains (finishes
//!   or gives back its jobs) and the consumers and pollers stop, and only
//!   then does the store close.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::Authenticator;
use crate::config::{ConfigError, HubConfig};
use crate::dispatch::{self, Dispatcher};
use crate::plugins::{PluginHost, PluginSetupError};
use crate::replies::{Replies, ReplyInbox};
use crate::sandbox::InboundSource;
use crate::schema::SchemaRegistry;
use crate::store::{Store, StoreError};
use crate::webhooks::{self, WebhookError, WebhookSettings};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Schemas(String),
    #[error("cannot set up plugins and targets:\n{0}")]
    Plugins(#[from] PluginSetupError),
    #[error("invalid principals: {0}")]
    Principals(String),
    #[error("cannot open the store ({url}): {source}")]
    Store { url: String, source: StoreError },
    #[error(transparent)]
    Routes(#[from] ConfigError),
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error(transparent)]
    Webhooks(#[from] WebhookError),
}

/// Runs a hub on `listener` until `shutdown` completes.
pub async fn run(
    config: HubConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let schemas = Arc::new(
        SchemaRegistry::load_dir(&config.schemas_dir).map_err(|errors| ServerError::Schemas(errors.to_string()))?,
    );
    let plugins = Arc::new(PluginHost::start(&config)?);
    for plugin in plugins.plugins() {
        tracing::info!(plugin = %plugin.name, active = %plugin.active, versions = ?plugin.versions, "plugin loaded");
    }
    let auth = Authenticator::from_config(&config.principals).map_err(|e| ServerError::Principals(e.to_string()))?;
    let store = Store::connect(&config.database_url)
        .await
        .map_err(|source| ServerError::Store {
            url: redact_url(&config.database_url),
            source,
        })?;
    let node = dispatch::node_name(config.dispatch.node_id.as_deref());
    let dispatcher = Dispatcher::new(store.clone(), plugins.clone(), &config, node.clone());
    let replies = Arc::new(Replies::new(store.clone(), plugins.clone(), &config, node.clone()));
    let reply_consumers = plugins.amqp_reply_consumers();
    let webhook_settings = WebhookSettings::from_config(&config.webhooks);
    let webhook_worker = config
        .webhooks
        .enabled
        .then(|| webhooks::Worker::new(store.clone(), &config.webhooks, webhook_settings.clone(), node.clone()))
        .transpose()?;
    let mut state = AppState::new(schemas.clone(), store.clone(), auth, config.max_body_bytes)
        .with_plugins(plugins)
        .with_dispatch(dispatcher.clone(), replies.clone())
        .with_webhooks(webhook_settings)
        .with_metrics(crate::telemetry::metrics::install())
        .with_console(config.console.enabled)
        .with_intake_limit(&config.rate_limits);
    if !config.routes.is_empty() {
        state = state.with_routes(Arc::new(config.router()?));
    }
    let stop = CancellationToken::new();
    state.streams_stop = stop.clone();
    let mut background = tokio::task::JoinSet::new();
    if config.dispatch.enabled {
        let token = stop.clone();
        background.spawn(async move { dispatcher.run(token).await });
        // Every node consumes the reply queues (competing consumers;
        // applying a reply twice adds nothing).
        for (target, broker) in reply_consumers {
            let inbox = Arc::new(ReplyInbox {
                replies: replies.clone(),
                target,
                source: InboundSource::AmqpReply,
            });
            let token = stop.clone();
            background.spawn(async move { broker.run_replies(inbox, token).await });
        }
        let token = stop.clone();
        background.spawn(async move { replies.run_pollers(token).await });
    }
    let key_usage = state.key_usage.clone();
    {
        let (usage, store, token) = (key_usage.clone(), store.clone(), stop.clone());
        background.spawn(async move { usage.run(store, token).await });
    }
    if let Some(worker) = webhook_worker {
        let token = stop.clone();
        background.spawn(async move { worker.run(token).await });
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        store = %redact_url(&config.database_url),
        lines = schemas.lines().count(),
        node,
        dispatching = config.dispatch.enabled,
        "order hub ready"
    );
    let api_stop = stop.clone();
    let served = api::serve(listener, state, async move {
        shutdown.await;
        api_stop.cancel();
    })
    .await;
    stop.cancel();
    while background.join_next().await.is_some() {}
    // Uses by requests that finished after the flusher's last flush.
    if let Err(e) = key_usage.flush(&store).await {
        tracing::warn!(error = %e, "cannot record when API keys were last used");
    }
    store.close().await;
    tracing::info!("order hub stopped");
    Ok(served?)
}

/// A database URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:**REDACTED**{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
