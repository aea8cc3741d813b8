//! The HTTP API (axum). **Only this module knows HTTP**: handlers translate
//! requests into calls on the intake/review stages and their errors into
//! RFC 9457 problem details; no business rule lives here.
//!
//! Routes:
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | `/v1/me` | any caller |
//! | POST | `/v1/orders/{line}` | any caller |
//! | GET | `/v1/orders/{id}` | the order's tenant, staff |
//! | GET | `/v1/orders` | customers: own tenant; staff: all (`?tenant=`) |
//! | GET | `/v1/orders/{id}/timeline`, `/v1/orders/{id}/events` (SSE) | the order's tenant, staff |
//! | POST | `/v1/validate/{line}` | any caller |
//! | GET | `/v1/business-lines` | any caller |
//! | GET | `/v1/business-lines/{line}/schema` | any caller |
//! | GET | `/v1/review` | reviewer, operator, admin |
//! | POST | `/v1/review/{id}/release` | reviewer, operator, admin |
//! | POST | `/v1/review/{id}/reject` | reviewer, operator, admin |
//! | GET | `/v1/plugins` | operator, admin |
//! | POST | `/v1/plugins/rescan`, `/v1/plugins/{name}/activate`, `/v1/plugins/{name}/rollback` | operator, admin |
//! | GET | `/v1/targets` | operator, admin |
//! | GET | `/v1/dead-letters`, `/v1/dead-letters/{job_id}` | operator, admin |
//! | POST | `/v1/dead-letters/{job_id}/replay`, `/v1/dead-letters/replay` | operator, admin |
//! | GET | `/v1/replies/unmatched`, `/v1/replies/overdue` | operator, admin |
//! | POST | `/v1/callbacks/{target}` | the OPS, with the target's callback token |
//! | GET | `/v1/audit` | operator, admin |
//! | POST, GET | `/v1/subscriptions` | customers: own tenant; operators, admins: any (`?tenant=`) |
//! | GET, DELETE | `/v1/subscriptions/{id}` | the subscription's tenant, operators, admins |
//! | POST | `/v1/subscriptions/{id}/rotate-secret`, `/enable`, `/test` | the subscription's tenant, operators, admins |
//! | GET | `/v1/subscriptions/{id}/deliveries` | the subscription's tenant, operators, admins |
//! | GET | `/healthz`, `/readyz` | anyone |
//! | GET | `/metrics` (Prometheus) | operator, admin |
//! | GET | `/v1/openapi.json` | anyone |
//! | GET | `/`, `/assets/{*path}` | anyone: the web console's static files (`console.rs`; not part of the API or its document; `[console] enabled = false` removes them) |
//!
//! (`/v1/orders/{line}` and `/v1/orders/{id}` are one path, `/v1/orders/{line_or_id}`:
//! POST takes a business line, GET an order id.)
//!
//! The OpenAPI 3.1 document at `/v1/openapi.json` is generated from the
//! handlers' `#[utoipa::path]` annotations, and [`routes`] registers the
//! handlers from those same annotations, so what is served and what is
//! documented cannot differ. **To add an endpoint**: annotate the handler
//! (see any handler here; `openapi.rs` has the shared parts), add one
//! `.routes(routes!(module::handler))` line to [`routes`], a row to the table
//! above, and the route to `SERVED` in `kernel/tests/openapi.rs`.

mod audit;
mod body;
mod console;
mod cursor;
mod dispatch;
mod extract;
pub mod key_usage;
mod lines;
mod me;
mod openapi;
mod orders;
mod plugins;
pub mod problem;
mod query;
pub mod rate_limit;
mod review;
mod subscriptions;
mod telemetry;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticator;
use crate::dispatch::Dispatcher;
use crate::intake::Intake;
use crate::plugins::PluginHost;
use crate::replies::Replies;
use crate::review::Review;
use crate::route::Router as RouteTable;
use crate::schema::SchemaRegistry;
use crate::store::Store;
use crate::webhooks::WebhookSettings;
use problem::ApiProblem;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub schemas: Arc<SchemaRegistry>,
    pub store: Store,
    pub intake: Intake,
    pub review: Review,
    pub auth: Arc<Authenticator>,
    pub max_body_bytes: usize,
    /// Installed plugins and bound targets; `None` in a hub without them.
    pub plugins: Option<Arc<PluginHost>>,
    /// This node's dispatcher (for `/v1/targets`); `None` when not dispatching.
    pub dispatcher: Option<Dispatcher>,
    /// Reply handling (callbacks); `None` in a hub without plugins.
    pub replies: Option<Arc<Replies>>,
    /// Cancelled when the hub begins to stop: ends open event streams,
    /// which would otherwise hold the graceful shutdown open for ever.
    pub streams_stop: tokio_util::sync::CancellationToken,
    /// Webhook subscriptions: the SSRF policy, limits, and the bell that
    /// wakes this node's delivery worker.
    pub webhooks: WebhookSettings,
    /// The Prometheus recorder `/metrics` renders; `None`: not recorded here.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Serve the web console at `/` (`[console] enabled`).
    pub console: bool,
    /// Per-principal intake rate (`[rate_limits]`); `None`: no limit.
    pub intake_limit: Option<Arc<rate_limit::RateLimiter>>,
    /// Stored keys' uses, written in batches (`last_used_at`).
    pub key_usage: Arc<key_usage::KeyUsage>,
}

impl AppState {
    pub fn new(schemas: Arc<SchemaRegistry>, store: Store, auth: Authenticator, max_body_bytes: usize) -> Self {
        AppState {
            intake: Intake::new(schemas.clone(), store.clone()),
            review: Review::new(schemas.clone(), store.clone()),
            schemas,
            store,
            auth: Arc::new(auth),
            max_body_bytes,
            plugins: None,
            dispatcher: None,
            replies: None,
            streams_stop: tokio_util::sync::CancellationToken::new(),
            webhooks: WebhookSettings::default(),
            metrics: None,
            console: true,
            intake_limit: None,
            key_usage: Arc::default(),
        }
    }

    pub fn with_plugins(mut self, plugins: Arc<PluginHost>) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// Accepted and released orders are routed with `routes`.
    pub fn with_routes(mut self, routes: Arc<RouteTable>) -> Self {
        self.intake = self.intake.with_router(routes.clone());
        self.review = self.review.with_router(routes);
        self
    }

    pub fn with_dispatch(mut self, dispatcher: Dispatcher, replies: Arc<Replies>) -> Self {
        self.dispatcher = Some(dispatcher);
        self.replies = Some(replies);
        self
    }

    pub fn with_webhooks(mut self, webhooks: WebhookSettings) -> Self {
        self.webhooks = webhooks;
        self
    }

    pub fn with_metrics(mut self, metrics: Option<metrics_exporter_prometheus::PrometheusHandle>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Limits each principal's intake requests (`None` or a rate of 0: no limit).
    pub fn with_intake_limit(mut self, config: &rate_limit::RateLimitConfig) -> Self {
        self.intake_limit = rate_limit::RateLimiter::new(config).map(Arc::new);
        self
    }

    /// Takes one intake token of `caller`; 429 when it is over its rate.
    pub(crate) fn check_intake_rate(&self, caller: &crate::auth::Principal) -> Result<(), problem::ApiProblem> {
        match &self.intake_limit {
            Some(limiter) => limiter
                .check(&caller.id, std::time::Instant::now())
                .map_err(|limited| problem::ApiProblem::rate_limited(&limited)),
            None => Ok(()),
        }
    }

    /// Whether `/` and `/assets/…` serve the web console (on by default).
    pub fn with_console(mut self, enabled: bool) -> Self {
        self.console = enabled;
        self
    }
}

/// Every route of the API, each registered from its handler's
/// `#[utoipa::path]`: the axum routes and the OpenAPI document come from
/// the same annotations. **Register new handlers here**, one
/// `.routes(routes!(...))` per path; handlers sharing a path (different
/// methods) go in the same `routes!`, which requires their annotations to
/// name the same path, parameter names included.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        // the caller
        .routes(routes!(me::me))
        // orders
        .routes(routes!(orders::submit, orders::get))
        .routes(routes!(query::list))
        .routes(routes!(query::timeline))
        .routes(routes!(query::events))
        .routes(routes!(audit::list))
        .routes(routes!(orders::validate))
        // business lines (meta)
        .routes(routes!(lines::list))
        .routes(routes!(lines::schema))
        // review queue
        .routes(routes!(review::queue))
        .routes(routes!(review::release))
        .routes(routes!(review::reject))
        // plugins
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::rescan))
        .routes(routes!(plugins::activate))
        .routes(routes!(plugins::rollback))
        // dispatch: targets, dead letters, replies, callbacks
        .routes(routes!(dispatch::targets))
        .routes(routes!(dispatch::list_dead_letters))
        .routes(routes!(dispatch::replay_dead_letters))
        .routes(routes!(dispatch::show_dead_letter))
        .routes(routes!(dispatch::replay_dead_letter))
        .routes(routes!(dispatch::unmatched_replies))
        .routes(routes!(dispatch::overdue_replies))
        .routes(routes!(dispatch::callback))
        // webhook subscriptions
        .routes(routes!(subscriptions::create, subscriptions::list))
        .routes(routes!(subscriptions::get, subscriptions::delete))
        .routes(routes!(subscriptions::rotate_secret))
        .routes(routes!(subscriptions::enable))
        .routes(routes!(subscriptions::test))
        .routes(routes!(subscriptions::deliveries))
        // health and this document
        .routes(routes!(telemetry::healthz))
        .routes(routes!(telemetry::readyz))
        .routes(routes!(telemetry::metrics))
        .routes(routes!(openapi::document))
}

/// The OpenAPI 3.1 document of the API, as served at `/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.max_body_bytes;
    let (mut routes, _document) = routes().split_for_parts();
    if state.console {
        routes = routes.merge(console::routes());
    }
    routes
        .fallback(|| async { ApiProblem::not_found("no such endpoint; see /v1/business-lines and the README") })
        .method_not_allowed_fallback(|| async {
            ApiProblem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method Not Allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .route_layer(axum::middleware::from_fn(telemetry::measure))
        .layer(axum::middleware::map_response(no_sniffing_no_framing))
        .layer(TraceLayer::new_for_http())
        // outermost: drains what any route left of a body before its answer
        .layer(axum::middleware::from_fn(body::drain_unread))
        .with_state(state)
}

/// Every answer, API or not: browsers must not guess a media type other
/// than the one declared (a JSON body read as HTML), nor show the hub in a
/// frame. The console's own routes add the rest of their header set.
async fn no_sniffing_no_framing(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers
        .entry(axum::http::header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(axum::http::HeaderValue::from_static("nosniff"));
    headers
        .entry(axum::http::header::X_FRAME_OPTIONS)
        .or_insert(axum::http::HeaderValue::from_static("DENY"));
    response
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
