//! Installed plugins and the targets they serve, for operators.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::extract::Caller;
use super::problem::ApiProblem;

pub async fn list(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiProblem> {
    if !caller.role.can_operate() {
        return Err(ApiProblem::forbidden("see plugins and targets"));
    }
    let (plugins, targets) = match &state.plugins {
        Some(host) => (json!(host.plugins()), json!(host.targets())),
        None => (json!([]), json!([])),
    };
    Ok(Json(json!({ "plugins": plugins, "targets": targets })))
}
