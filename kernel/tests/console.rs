//! The web console's static files on a real loopback socket: `/` is the
//! console's `index.html`, `/assets/…` its files with their media types,
//! every answer carries the console's security headers, ETags give 304s,
//! nothing outside `kernel/console/` can be reached (traversal attempts are
//! sent as raw HTTP, since HTTP clients normalize `..` away), and
//! `[console] enabled = false` leaves only the API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::path::{Path, PathBuf};

use hub_kernel::config::HubConfig;
use support::api_server::ApiServer;

mod support;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The header set of every console response.
const CONSOLE_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
];

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// The API with or without the console, as `[console]` of `config_text` says.
async fn start(config_text: &str) -> ApiServer {
    let config = HubConfig::parse(config_text, "test").unwrap();
    ApiServer::start(config.console.enabled).await
}

impl ApiServer {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// `GET <raw_target>` written byte for byte: status line and whole answer.
    async fn raw_get(&self, raw_target: &str) -> (u16, String) {
        use std::io::{Read as _, Write as _};
        let addr = self.addr;
        let request = format!("GET {raw_target} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n");
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .unwrap();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        (status, answer)
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map_or("", |value| value.to_str().unwrap())
}

fn assert_console_headers(response: &reqwest::Response, what: &str) {
    for (name, value) in CONSOLE_HEADERS {
        assert_eq!(header(response, name), value, "{what}: {name}");
    }
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), &format!("{prefix}{name}/"), out);
        } else {
            out.push(format!("{prefix}{name}"));
        }
    }
}

/// The media type the console must answer for a file name.
fn expected_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map_or("", |(_, extension)| extension) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        other => panic!("the test has no media type for .{other} files; add one here and in api/console.rs"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_is_html_with_the_console_headers() {
    let hub = start("").await;
    let response = hub.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    assert!(header(&response, "etag").starts_with('"'), "a strong ETag");
    assert_console_headers(&response, "GET /");
    let body = response.bytes().await.unwrap();
    assert_eq!(body, std::fs::read(console_dir().join("index.html")).unwrap());
    // HEAD too, without a body.
    let head = hub.client.head(format!("{}/", hub.base)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_console_headers(&head, "HEAD /");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asset_is_served_with_its_media_type() {
    let hub = start("").await;
    let mut assets = Vec::new();
    files_under(&console_dir().join("assets"), "", &mut assets);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "the console has no script: {assets:?}"
    );
    for asset in &assets {
        let response = hub.get(&format!("/assets/{asset}")).await;
        let what = format!("/assets/{asset}");
        assert_eq!(response.status(), 200, "{what}");
        assert_eq!(header(&response, "content-type"), expected_type(asset), "{what}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{what}");
        assert_console_headers(&response, &what);
        let body = response.bytes().await.unwrap();
        assert_eq!(
            body,
            std::fs::read(console_dir().join("assets").join(asset)).unwrap(),
            "{what}"
        );
    }
    // Unknown files: the API's 404 problem, still with the console's headers.
    for missing in ["/assets/no-such-file.js", "/assets/img/none.png"] {
        let response = hub.get(missing).await;
        assert_eq!(response.status(), 404, "{missing}");
        assert_eq!(header(&response, "content-type"), "application/problem+json");
        assert_console_headers(&response, missing);
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_answer_304_while_the_file_is_unchanged() {
    let hub = start("").await;
    let mut assets = Vec::new();
    files_under(&console_dir().join("assets"), "", &mut assets);
    for path in ["/".to_owned(), format!("/assets/{}", assets[0])] {
        let first = hub.get(&path).await;
        let etag = header(&first, "etag").to_owned();
        assert!(etag.len() > 2, "{path}: ETag {etag:?}");
        let again = hub.get(&path).await;
        assert_eq!(header(&again, "etag"), etag, "{path}: the ETag is the content's");
        for if_none_match in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}")] {
            let cached = hub
                .client
                .get(format!("{}{path}", hub.base))
                .header("if-none-match", &if_none_match)
                .send()
                .await
                .unwrap();
            assert_eq!(cached.status(), 304, "{path} If-None-Match: {if_none_match}");
            assert_eq!(header(&cached, "etag"), etag);
            assert_console_headers(&cached, &path);
            assert!(cached.bytes().await.unwrap().is_empty());
        }
        let stale = hub
            .client
            .get(format!("{}{path}", hub.base))
            .header("if-none-match", "\"0123456789abcdef\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "{path}: an old ETag gets the file");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_console_folder_is_reachable() {
    let hub = start("").await;
    let cargo_toml = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let index = std::fs::read_to_string(console_dir().join("index.html")).unwrap();
    for target in [
        "/assets/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/../index.html",
        "/assets/../../kernel/Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/%2E%2E/%2e%2e/Cargo.toml",
        "/assets/.%2e/index.html",
        "/assets/..%2fCargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/..%5c..%5cCargo.toml",
        "/assets/..\\..\\Cargo.toml",
        "/assets/%2fetc%2fpasswd",
        "/assets//etc/passwd",
        "/assets/./../Cargo.toml",
        "/assets/%00",
        "/assets/%ff%fe",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/index.html/../../Cargo.toml",
    ] {
        let (status, answer) = hub.raw_get(target).await;
        assert!(matches!(status, 400 | 404), "{target} answered {status}: {answer}");
        assert!(
            !answer.contains("[package]") && !answer.contains(cargo_toml.trim()),
            "{target} leaked Cargo.toml"
        );
        let (_, body) = answer.split_once("\r\n\r\n").unwrap_or(("", ""));
        assert!(
            index.trim().is_empty() || !body.contains(index.trim()),
            "{target} served index.html"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_are_not_sniffed_or_framed() {
    let hub = start("").await;
    for path in [
        "/healthz",
        "/v1/openapi.json",
        "/v1/business-lines",
        "/v1/no-such-thing",
    ] {
        let response = hub.get(path).await;
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_console_leaves_only_the_api() {
    let hub = start("[console]\nenabled = false\n").await;
    for path in ["/", "/assets/app.js"] {
        let response = hub.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(header(&response, "content-type"), "application/problem+json");
        assert_eq!(
            header(&response, "content-security-policy"),
            "",
            "{path}: no console here"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().starts_with("no such endpoint"),
            "{path}: the API's usual 404: {body}"
        );
    }
    assert_eq!(hub.get("/healthz").await.status(), 200);
    hub.stop().await;
}
