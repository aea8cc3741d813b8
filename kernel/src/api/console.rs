//! The web console: the static files of `kernel/console/`, served at `/`
//! (`index.html`) and `/assets/{*path}`.
//!
//! **Why it is built this way.** The console ships inside the `hub` binary
//! ([rust-embed](https://docs.rs/rust-embed): release builds embed the files
//! at compile time; debug builds read them from disk on each request, so a
//! reload shows an edit without a rebuild). One binary to deploy, no npm or
//! build step at run time, no CDN: the browser loads nothing from anywhere
//! but the hub. That is what lets every response carry a strict
//! Content-Security-Policy — scripts, styles, fonts and images only from the
//! hub itself, **no inline script or style**, no framing — so even a
//! malicious order text rendered by the console cannot run as script.
//!
//! The console is a client of the public API: it calls the documented `/v1`
//! endpoints with the user's API key like any portal. These routes serve
//! only files, so they are not part of the OpenAPI document (which
//! describes the API); `[console] enabled = false` removes them and `/` is
//! the API's usual 404.
//!
//! Files are answered with `Cache-Control: no-cache` and an `ETag` (a
//! content hash): the browser revalidates every time and gets a 304 while
//! the file is unchanged, so a new hub version is picked up at once.
//! Anything outside the embedded folder — `..`, encoded or not, backslashes,
//! hidden files — is a 404.

use std::borrow::Cow;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::problem::ApiProblem;

/// The console's files, embedded at compile time (read from disk in debug builds).
#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Files;

/// The Content-Security-Policy of every console response: only the hub's
/// own files, no inline script or style, no plugins, no framing; the API is
/// called on the same origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Headers every console response carries (files, 304s and 404s alike).
const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
];

/// `GET /` and `GET /assets/{*path}` (HEAD too), with the security headers.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(path: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Response {
    match path {
        Ok(Path(path)) if is_plain_relative(&path) => serve(&format!("assets/{path}"), &headers),
        // Not UTF-8 after decoding, or trying to leave the folder.
        _ => not_found(),
    }
}

/// A relative path of plain names: no empty, `.`, `..` or hidden segment,
/// no backslash, colon or control character (checked after percent-decoding,
/// so `%2e%2e` and `%2f` are caught too).
fn is_plain_relative(path: &str) -> bool {
    path.len() <= 512
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && !segment.chars().any(|c| c == '\\' || c == ':' || c.is_control())
        })
}

fn not_found() -> Response {
    ApiProblem::not_found("no such console file").into_response()
}

/// The file `name` of the console folder, or 304 when `If-None-Match`
/// names its current ETag.
fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(file) = Files::get(name) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
        ),
    ];
    if none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)))],
        cache,
        Body::from(body),
    )
        .into_response()
}

/// Whether `If-None-Match` lists `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`.
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The media type of a console file by its extension; text types say UTF-8.
fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_pass() {
        for good in ["app.js", "img/logo.svg", "fonts/Noto-Sans.woff2"] {
            assert!(is_plain_relative(good), "{good}");
        }
        for bad in [
            "",
            "../Cargo.toml",
            "a/../../b",
            "./app.js",
            "a//b",
            "/etc/passwd",
            ".env",
            "a\\..\\b",
            "C:/x",
            "a\nb",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn media_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/app.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("assets/a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("assets/f.woff2"), "font/woff2");
        assert_eq!(content_type("assets/LICENSE"), "application/octet-stream");
    }

    #[test]
    fn etags_match_weakly_and_in_lists() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(none_match(&with("\"abc\""), "\"abc\""));
        assert!(none_match(&with("W/\"abc\""), "\"abc\""));
        assert!(none_match(&with("\"x\", \"abc\""), "\"abc\""));
        assert!(none_match(&with("*"), "\"abc\""));
        assert!(!none_match(&with("\"abd\""), "\"abc\""));
        assert!(!none_match(&HeaderMap::new(), "\"abc\""));
    }

    #[test]
    fn index_is_embedded() {
        assert!(Files::get("index.html").is_some());
        assert!(Files::get("../Cargo.toml").is_none());
    }
}
