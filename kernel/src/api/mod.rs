//! The HTTP API (axum). **Only this module knows HTTP**: handlers translate
//! requests into calls on the intake/review stages and their errors into
//! RFC 9457 problem details; no business rule lives here.
//!
//! Routes:
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | `/v1/orders/{line}` | any caller |
//! | GET | `/v1/orders/{id}` | the order's tenant, staff |
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
//! | GET | `/healthz`, `/readyz` | anyone |

mod dispatch;
mod extract;
mod lines;
mod orders;
mod plugins;
pub mod problem;
mod review;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::dispatch::Dispatcher;
use crate::intake::Intake;
use crate::plugins::PluginHost;
use crate::replies::Replies;
use crate::review::Review;
use crate::route::Router as RouteTable;
use crate::schema::SchemaRegistry;
use crate::store::Store;
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
}

pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.max_body_bytes;
    Router::new()
        .route("/v1/orders/{line_or_id}", post(orders::submit).get(orders::get))
        .route("/v1/validate/{line}", post(orders::validate))
        .route("/v1/business-lines", get(lines::list))
        .route("/v1/business-lines/{line}/schema", get(lines::schema))
        .route("/v1/review", get(review::queue))
        .route("/v1/review/{id}/release", post(review::release))
        .route("/v1/review/{id}/reject", post(review::reject))
        .route("/v1/plugins", get(plugins::list))
        .route("/v1/plugins/rescan", post(plugins::rescan))
        .route("/v1/plugins/{name}/activate", post(plugins::activate))
        .route("/v1/plugins/{name}/rollback", post(plugins::rollback))
        .route("/v1/targets", get(dispatch::targets))
        .route("/v1/dead-letters", get(dispatch::list_dead_letters))
        .route("/v1/dead-letters/replay", post(dispatch::replay_dead_letters))
        .route("/v1/dead-letters/{job_id}", get(dispatch::show_dead_letter))
        .route("/v1/dead-letters/{job_id}/replay", post(dispatch::replay_dead_letter))
        .route("/v1/replies/unmatched", get(dispatch::unmatched_replies))
        .route("/v1/replies/overdue", get(dispatch::overdue_replies))
        .route("/v1/callbacks/{target}", post(dispatch::callback))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
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
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiProblem> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiProblem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Service Unavailable",
            "the store is not reachable",
        )
    })?;
    Ok("ready")
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
