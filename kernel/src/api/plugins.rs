//! Installed plugins and the targets they serve, for operators.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, JsonBody};
use super::problem::ApiProblem;
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

/// `POST /v1/plugins/rescan`: install new packages from the plugin directory.
pub async fn rescan(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller)?;
    let host = host(&state)?.clone();
    let report = tokio::task::spawn_blocking(move || host.rescan())
        .await
        .map_err(|_| ApiProblem::internal())?;
    tracing::info!(operator = %caller.id, installed = ?report.installed, problems = report.problems.len(), "plugin rescan");
    Ok(Json(json!(report)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    version: semver::Version,
}

/// `POST /v1/plugins/{name}/activate` `{"version": "1.2.0"}`.
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

/// `POST /v1/plugins/{name}/rollback`: back to the previously active version.
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

pub async fn list(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    require_operator(&caller)?;
    let (plugins, targets) = match &state.plugins {
        Some(host) => (json!(host.plugins()), json!(host.targets())),
        None => (json!([]), json!([])),
    };
    Ok(Json(json!({ "plugins": plugins, "targets": targets })))
}
