//! Business lines and their schemas, for portals that render forms.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::AppState;
use super::extract::Caller;
use super::problem::{self, ApiProblem, ProblemDocument, bad_query};

/// List the business lines with their latest schema version.
#[utoipa::path(
    get,
    path = "/v1/business-lines",
    operation_id = "listBusinessLines",
    tag = "meta",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every business line: `line`, `title`, latest `version`, all `versions`, `schema_url`.", body = Object,
            example = json!({"items": [{"line": "freight-booking", "title": "Freight booking", "version": 1, "versions": [1],
                "schema_url": "/v1/business-lines/freight-booking/schema"}]})),
        (status = 401, response = problem::Unauthorized),
    ),
)]
pub async fn list(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let lines: Vec<Value> = state
        .schemas
        .lines()
        .map(|s| {
            json!({
                "line": s.line,
                "title": s.title,
                "version": s.version,
                "versions": state.schemas.versions(&s.line),
                "schema_url": format!("/v1/business-lines/{}/schema", s.line),
            })
        })
        .collect();
    Json(json!({ "items": lines }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A schema version of the line; the latest when absent.
    #[param(minimum = 1, example = 1)]
    version: Option<u32>,
}

/// The JSON Schema of a business line.
///
/// JSON Schema 2020-12, with the hub's `x-hub-*` keywords for aliases,
/// normalization and reviewable problems.
#[utoipa::path(
    get,
    path = "/v1/business-lines/{line}/schema",
    operation_id = "getBusinessLineSchema",
    tag = "meta",
    security(("api_key" = [])),
    params(
        ("line" = String, Path, description = "The business line, e.g. `freight-booking`.", example = "freight-booking"),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The schema document exactly as its file is written (property order included: a form shows fields in that order).", body = Object, content_type = "application/schema+json"),
        (status = 400, response = problem::BadQuery),
        (status = 401, response = problem::Unauthorized),
        (status = 404, description = "Unknown business line, or no such version of it.", body = ProblemDocument, content_type = "application/problem+json"),
    ),
)]
pub async fn schema(
    State(state): State<AppState>,
    _caller: Caller,
    Path(line): Path<String>,
    query: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiProblem> {
    let Query(query) = query.map_err(bad_query)?;
    let schema = match query.version {
        Some(v) => state.schemas.version(&line, v),
        None => state.schemas.latest(&line),
    }
    .ok_or_else(|| ApiProblem::not_found(format!("no schema for business line '{line}'")))?;
    // The author's text, not a re-serialization: property order is the
    // order a form shows its fields in.
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        schema.source.to_string(),
    ))
}
