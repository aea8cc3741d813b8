//! Operations endpoints: liveness, readiness and Prometheus metrics, and
//! the middleware that measures every API request.
//!
//! `/healthz` and `/readyz` are public (probes carry no keys) and reveal
//! only whether each check passed; `/metrics` needs an operator or admin
//! key, because target names, business lines and backlog sizes describe
//! the company's operations (Prometheus sends the key with
//! `authorization: { credentials: … }` in its scrape config).

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::extract::Caller;
use super::problem::{self, ApiProblem};
use crate::telemetry::metrics::{self, Levels};

/// Liveness: the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The hub is up.", body = String, content_type = "text/plain", example = "ok")),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `store`, `plugins` or `targets`.
    #[schema(example = "store")]
    name: &'static str,
    ok: bool,
    /// What was found, never a secret.
    #[schema(example = "sqlite answers")]
    detail: String,
}

/// The readiness checks and their verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not-ready`.
    #[schema(example = "ready")]
    status: &'static str,
    checks: Vec<Check>,
}

/// Readiness: the store answers, every configured target has a loaded
/// plugin version serving it.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "The hub can take and deliver orders.", body = Readiness,
            example = json!({"status": "ready", "checks": [
                {"name": "store", "ok": true, "detail": "sqlite answers"},
                {"name": "plugins", "ok": true, "detail": "5 plugin(s) loaded"},
                {"name": "targets", "ok": true, "detail": "5 target(s), each served by a loaded plugin"}]})),
        (status = 503, description = "A check failed; `checks` says which.", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = Vec::with_capacity(3);
    let backend = state.store.backend().as_str();
    checks.push(match state.store.ping().await {
        Ok(()) => Check {
            name: "store",
            ok: true,
            detail: format!("{backend} answers"),
        },
        Err(error) => {
            tracing::warn!(%error, "readiness: the store does not answer");
            Check {
                name: "store",
                ok: false,
                detail: format!("{backend} does not answer"),
            }
        }
    });
    match &state.plugins {
        None => checks.push(Check {
            name: "plugins",
            ok: true,
            detail: "this hub runs without plugins".into(),
        }),
        Some(host) => {
            let plugins = host.plugins();
            checks.push(Check {
                name: "plugins",
                ok: true,
                detail: format!("{} plugin(s) loaded", plugins.len()),
            });
            let targets = host.targets();
            let unserved: Vec<String> = targets
                .iter()
                .filter(|target| target.serving_version.is_none())
                .map(|target| target.name.clone())
                .collect();
            checks.push(if unserved.is_empty() {
                Check {
                    name: "targets",
                    ok: true,
                    detail: format!("{} target(s), each served by a loaded plugin", targets.len()),
                }
            } else {
                Check {
                    name: "targets",
                    ok: false,
                    detail: format!("no loaded plugin serves target(s) {}", unserved.join(", ")),
                }
            });
        }
    }
    let ready = checks.iter().all(|check| check.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not-ready" },
            checks,
        }),
    )
}

/// Prometheus metrics.
///
/// Counters and latency histograms since this process started (orders per
/// stage and line, delivery attempts per target and outcome, retries, dead
/// letters, plugin call time and fuel, replies, reply deadline misses,
/// webhook deliveries, API requests) and levels read at scrape time (queue
/// depth, dead letters waiting, review queue, in-flight jobs, breaker
/// state). Text exposition format 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4",
            example = "# TYPE orderhub_orders_total counter\norderhub_orders_total{line=\"freight-booking\",stage=\"received\"} 3\n"),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 500, response = problem::Internal),
        (status = 503, description = "Metrics are not recorded in this process (another recorder was installed first).", body = problem::ProblemDocument, content_type = "application/problem+json"),
    ),
)]
pub async fn metrics(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiProblem> {
    if !caller.role.can_operate() {
        return Err(ApiProblem::forbidden("read the hub's metrics"));
    }
    let Some(handle) = state.metrics.as_ref() else {
        return Err(ApiProblem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics-unavailable",
            "Service Unavailable",
            "metrics are not recorded in this process",
        ));
    };
    let store_levels = state.store.levels().await.map_err(|error| {
        tracing::warn!(%error, "cannot read backlog levels for /metrics");
        ApiProblem::internal()
    })?;
    let lanes = state.dispatcher.as_ref().map(|d| d.lanes()).unwrap_or_default();
    let (targets, plugins_loaded) = match &state.plugins {
        Some(host) => (
            host.targets().into_iter().map(|target| target.name).collect(),
            host.plugins().iter().map(|plugin| plugin.versions.len()).sum(),
        ),
        None => (Vec::new(), 0),
    };
    Levels {
        store: &store_levels,
        lanes: &lanes,
        targets: &targets,
        plugins_loaded,
    }
    .record();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics::render(handle),
    )
        .into_response())
}

/// Counts and times every request by its route template (never the raw
/// path: order ids would make one series per order).
pub async fn measure(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::http_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
