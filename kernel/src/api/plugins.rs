//! Installed plugins and the targets they serve, for operators.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::extract::{Caller, JsonBody};
use super::problem::{self, ApiProblem, ProblemDocument};
use crate::auth::Principal;
use crate::plugins::PluginHost;
use crate::sandbox::registry::RegistryError;

fn require_operator(caller: &Principal) -> Result<(), ApiProblem> {
    if caller.role.can_operate() {
        Ok(())
    } else {
        Err(ApiProblem::forbidden("manage plugins and targets"))
    }
}

fn host(state: &AppState) -> Result<&Arc<PluginHost>, ApiProblem> {
    state
        .plugins
        .as_ref()
        .ok_or_else(|| ApiProblem::not_found("this hub runs without plugins"))
}

fn registry_problem(error: RegistryError) -> ApiProblem {
    ApiProblem::not_found(error.to_string())
}

/// Install new plugin packages.
///
/// `POST /v1/plugins/rescan`: install new packages from the plugin directory.
/// Each newly installed package becomes its plugin's active version;
/// packages that cannot be loaded are reported and change nothing.
#[utoipa::path(
    post,
    path = "/v1/plugins/rescan",
    operation_id = "rescanPlugins",
    tag = "plugins",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "What was installed (`name@version`) and what could not be loaded.", body = Object,
            example = json!({"installed": ["rest-json@1.1.0"], "problems": []})),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "This hub runs without plugins.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = problem::Internal),
    ),
)]
pub async fn rescan(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller)?;
    let host = host(&state)?.clone();
    let report = tokio::task::spawn_blocking(move || host.rescan())
        .await
        .map_err(|_| ApiProblem::internal())?;
    tracing::info!(operator = %caller.id, installed = ?report.installed, problems = report.problems.len(), "plugin rescan");
    Ok(Json(json!(report)))
}

/// Which installed version of a plugin to make active.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// An installed version (semver).
    #[schema(value_type = String, example = "1.2.0")]
    version: semver::Version,
}

/// Activate an installed version of a plugin.
///
/// `POST /v1/plugins/{name}/activate` `{"version": "1.2.0"}`: switch the
/// plugin to an installed version (hot swap; in-flight calls finish on the old one).
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/activate",
    operation_id = "activatePluginVersion",
    tag = "plugins",
    security(("api_key" = [])),
    params(("name" = String, Path, description = "The plugin's name.", example = "rest-json")),
    request_body(content = Activate),
    responses(
        (status = 200, description = "The plugin and its now active version.", body = Object,
            example = json!({"plugin": "rest-json", "active": "1.2.0"})),
        (status = 400, response = problem::BadBody),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such plugin or version, or a hub without plugins.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        (status = 422, description = "The body is not `{\"version\": \"X.Y.Z\"}`.", body = ProblemDocument, content_type = "application/problem+json"),
    ),
)]
pub async fn activate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller)?;
    let body: Activate = serde_json::from_value(body.value).map_err(|error| {
        ApiProblem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Unprocessable Content",
            format!("expected {{\"version\": \"X.Y.Z\"}}: {error}"),
        )
    })?;
    host(&state)?
        .registry()
        .activate(&name, &body.version)
        .map_err(registry_problem)?;
    tracing::info!(operator = %caller.id, plugin = %name, version = %body.version, "plugin version activated");
    Ok(Json(json!({ "plugin": name, "active": body.version.to_string() })))
}

/// Roll a plugin back.
///
/// `POST /v1/plugins/{name}/rollback`: back to the previously active version.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/rollback",
    operation_id = "rollbackPlugin",
    tag = "plugins",
    security(("api_key" = [])),
    params(("name" = String, Path, description = "The plugin's name.", example = "rest-json")),
    responses(
        (status = 200, description = "The plugin and its now active version.", body = Object,
            example = json!({"plugin": "rest-json", "active": "1.1.0"})),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
        (status = 404, description = "No such plugin, or a hub without plugins.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "No earlier version to roll back to.", body = ProblemDocument, content_type = "application/problem+json"),
    ),
)]
pub async fn rollback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiProblem> {
    require_operator(&caller)?;
    let version = host(&state)?.registry().rollback(&name).map_err(|error| match error {
        RegistryError::NothingToRollBack(_) => ApiProblem::new(
            StatusCode::CONFLICT,
            "nothing-to-roll-back",
            "Conflict",
            error.to_string(),
        ),
        other => registry_problem(other),
    })?;
    tracing::info!(operator = %caller.id, plugin = %name, version = %version, "plugin rolled back");
    Ok((
        StatusCode::OK,
        Json(json!({ "plugin": name, "active": version.to_string() })),
    ))
}

/// Installed plugins (versions, active one) and the targets bound to them.
#[utoipa::path(
    get,
    path = "/v1/plugins",
    operation_id = "listPlugins",
    tag = "plugins",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "`plugins` and `targets` (both empty in a hub without plugins).", body = Object),
        (status = 401, response = problem::Unauthorized),
        (status = 403, response = problem::Forbidden),
    ),
)]
pub async fn list(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller)?;
    let (plugins, targets) = match &state.plugins {
        Some(host) => (json!(host.plugins()), json!(host.targets())),
        None => (json!([]), json!([])),
    };
    Ok(Json(json!({ "plugins": plugins, "targets": targets })))
}
