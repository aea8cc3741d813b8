//! Conveniences over the transport capabilities: classifying errors and HTTP
//! statuses the same way in every plugin, so the kernel's retry decisions do
//! not depend on each author's taste.

use crate::bindings::hub::plugin::http::{self, Method, Request, Response};
use crate::{Failure, FailureExt, TransportError, Unavailable};

/// Reading a [`TransportError`].
pub trait TransportErrorExt {
    /// Could the same call succeed later without anyone changing anything?
    fn is_transient(&self) -> bool;
    /// How long the OPS asked us to wait, if it did.
    fn retry_after_ms(&self) -> Option<u64>;
    /// One line for a log or failure message.
    fn describe(&self) -> String;
}

impl TransportErrorExt for TransportError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout(_) | TransportError::Refused(_) | TransportError::Unavailable(_)
        )
    }

    fn retry_after_ms(&self) -> Option<u64> {
        match self {
            TransportError::Unavailable(unavailable) => unavailable.retry_after_ms,
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            TransportError::Timeout(detail) => format!("timed out: {detail}"),
            TransportError::Refused(detail) => format!("connection refused: {detail}"),
            TransportError::Unauthorized(detail) => format!("unauthorized: {detail}"),
            TransportError::NotFound(detail) => format!("not found: {detail}"),
            TransportError::Unavailable(Unavailable {
                message,
                retry_after_ms: Some(ms),
            }) => {
                format!("unavailable (retry after {ms} ms): {message}")
            }
            TransportError::Unavailable(Unavailable {
                message,
                retry_after_ms: None,
            }) => {
                format!("unavailable: {message}")
            }
            TransportError::ProtocolError(detail) => format!("protocol error: {detail}"),
            TransportError::TooLarge(limit) => format!("message larger than the {limit}-byte limit"),
            TransportError::Denied(detail) => format!("denied by the hub: {detail}"),
        }
    }
}

/// Reading an HTTP [`Response`].
pub trait ResponseExt {
    /// The first header with this name (case-insensitive).
    fn header(&self, name: &str) -> Option<&str>;
    /// The body as UTF-8 text (lossy: an OPS answer is evidence, keep it).
    fn text(&self) -> String;
    /// The body as JSON. A body that is not the expected JSON is a protocol
    /// error of the OPS.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, TransportError>;
    /// `Retry-After` in milliseconds (delta-seconds form).
    fn retry_after_ms(&self) -> Option<u64>;
    /// Map transport-level statuses to [`TransportError`]: 401/403 →
    /// unauthorized, 404 → not-found, 408 → timeout, 429/502/503/504 →
    /// unavailable (with `Retry-After`). Other statuses, including 4xx
    /// business answers such as 409 or 422, are left to the plugin.
    fn classify(&self) -> Result<&Self, TransportError>;
}

impl ResponseExt for Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, TransportError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            TransportError::ProtocolError(format!("HTTP {} body is not the expected JSON: {error}", self.status))
        })
    }

    fn retry_after_ms(&self) -> Option<u64> {
        self.header("retry-after")?
            .trim()
            .parse::<u64>()
            .ok()
            .map(|seconds| seconds.saturating_mul(1000))
    }

    fn classify(&self) -> Result<&Self, TransportError> {
        let summary = || format!("HTTP {}: {}", self.status, snippet(&self.text()));
        match self.status {
            401 | 403 => Err(TransportError::Unauthorized(summary())),
            404 => Err(TransportError::NotFound(summary())),
            408 => Err(TransportError::Timeout(summary())),
            429 | 502 | 503 | 504 => Err(TransportError::Unavailable(Unavailable {
                message: summary(),
                retry_after_ms: self.retry_after_ms(),
            })),
            _ => Ok(self),
        }
    }
}

/// At most 200 characters of an OPS answer for a message.
fn snippet(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// Send a request to the target.
pub fn request(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Response, TransportError> {
    http::send(&Request {
        method,
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body,
    })
}

/// `GET path` on the target.
pub fn get(path: &str, headers: &[(&str, &str)]) -> Result<Response, TransportError> {
    request(Method::Get, path, headers, None)
}

/// `POST path` with a JSON body (`content-type: application/json`).
pub fn post_json<T: serde::Serialize + ?Sized>(
    path: &str,
    body: &T,
    headers: &[(&str, &str)],
) -> Result<Response, TransportError> {
    let body = serde_json::to_vec(body)
        .map_err(|error| TransportError::ProtocolError(format!("cannot encode the request as JSON: {error}")))?;
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json"), ("accept", "application/json")];
    all.extend_from_slice(headers);
    request(Method::Post, path, &all, Some(body))
}

/// A setting the plugin cannot work without; missing is a permanent failure
/// naming the key, so the operator knows what to add to the target's config.
pub fn require_setting(key: &str) -> Result<String, Failure> {
    crate::bindings::hub::plugin::config::get(key)
        .ok_or_else(|| Failure::permanent(format!("the target's settings lack `{key}`")))
}
