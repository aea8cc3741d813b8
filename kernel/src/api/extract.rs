//! Request extractors that answer bad input with precise problem details:
//! the caller (API key), and a JSON body checked for media type, size
//! (the limit is [`super::body`]'s), UTF-8 and syntax — in that order, each
//! with its own status code.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde_json::Value;

use super::AppState;
use super::problem::ApiProblem;
use crate::auth::Principal;

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The auth scheme is case-insensitive (RFC 9110 §11.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(ApiProblem::unauthorized)?;
        if let Some(principal) = state.auth.authenticate(key) {
            return Ok(Caller(principal.clone()));
        }
        let stored = state
            .store
            .api_key_for(&crate::auth::digest_hex(key))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot look up an API key");
                ApiProblem::internal()
            })?;
        let (id, principal) = stored.ok_or_else(ApiProblem::unauthorized)?;
        state.key_usage.record(&id);
        Ok(Caller(principal))
    }
}

/// The authenticated caller of an intake route, within its rate
/// (`[rate_limits]`): checked before the body is read, so a caller over
/// its limit gets 429 whatever it sends.
pub struct IntakeCaller(pub Principal);

impl FromRequestParts<AppState> for IntakeCaller {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        state.check_intake_rate(&caller)?;
        Ok(IntakeCaller(caller))
    }
}

/// A tenant-scoped record as `caller` may see it. Another tenant's record
/// is answered exactly like a missing one, so an id reveals nothing: the
/// tenancy rule for every order- and subscription-scoped route, in one place.
pub(super) fn visible_to<T>(
    caller: &Principal,
    found: Option<T>,
    tenant_of: impl Fn(&T) -> &str,
    what: &str,
    id: &str,
) -> Result<T, ApiProblem> {
    match found {
        Some(record) if caller.may_read(tenant_of(&record)) => Ok(record),
        _ => Err(ApiProblem::not_found(format!("no {what} '{id}' visible to you"))),
    }
}

/// A JSON request body: the text exactly as sent, and its parsed value.
pub struct JsonBody {
    pub text: String,
    pub value: Value,
}

fn is_json_media_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|param| {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        !name.trim().eq_ignore_ascii_case("charset") || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    });
    json && utf8
}

/// 1-based line and column of byte `offset` in `bytes`.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, column)
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiProblem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match content_type {
            Some(ct) if is_json_media_type(&ct) => {}
            other => {
                return Err(ApiProblem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported Media Type",
                    format!(
                        "send 'Content-Type: application/json' (UTF-8); got {}",
                        other.map_or("no content type".to_owned(), |ct| format!("'{ct}'"))
                    ),
                ));
            }
        }
        let bytes = super::body::read_limited(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiProblem::new(
                StatusCode::BAD_REQUEST,
                "empty-body",
                "Bad Request",
                "the body is empty; send the order as a JSON object",
            ));
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text.to_owned(),
            Err(e) => {
                let (line, column) = line_column(&bytes, e.valid_up_to());
                return Err(ApiProblem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-utf8",
                    "Bad Request",
                    format!(
                        "the body is not valid UTF-8 at line {line}, column {column} (byte {})",
                        e.valid_up_to()
                    ),
                )
                .at(line, column));
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            ApiProblem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Bad Request",
                format!("the body is not valid JSON: {e}"),
            )
            .at(e.line(), e.column().max(1))
        })?;
        Ok(JsonBody { text, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("application/json; charset=UTF-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("application/json; charset=gbk"));
        assert!(!is_json_media_type("text/plain"));
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_column(b"{\n  \"a\": x", 9), (2, 8));
        assert_eq!(line_column(b"abc", 0), (1, 1));
    }
}
