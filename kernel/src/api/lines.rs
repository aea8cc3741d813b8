//! Business lines and their schemas, for portals that render forms.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::Caller;
use super::problem::{ApiProblem, bad_query};

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

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<u32>,
}

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
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        Json(schema.document.clone()),
    ))
}
