//! The OpenAPI document (`GET /v1/openapi.json`) against the API that serves
//! it, over a real socket: every documented route exists, every route the
//! API serves is documented (the list below is the second witness: a route
//! added without updating it and the document fails), security and error
//! responses are declared, and what the document says about credentials is
//! what the server does.
//!
//! **Adding an endpoint**: annotate the handler, register it in
//! `api::routes()`, and add its method and path to [`SERVED`]. (The web
//! console's files are served too but are no endpoint: [`NOT_API`].)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::collections::BTreeSet;

use serde_json::Value;
use support::api_server::ApiServer;

mod support;

/// Every route the API serves (method, path as the document spells it):
/// the route table of `api/mod.rs`.
const SERVED: &[(&str, &str)] = &[
    ("GET", "/v1/me"),
    ("POST", "/v1/orders/{line_or_id}"),
    ("GET", "/v1/orders/{line_or_id}"),
    ("GET", "/v1/orders"),
    ("GET", "/v1/orders/{id}/timeline"),
    ("GET", "/v1/orders/{id}/events"),
    ("POST", "/v1/validate/{line}"),
    ("GET", "/v1/business-lines"),
    ("GET", "/v1/business-lines/{line}/schema"),
    ("GET", "/v1/review"),
    ("POST", "/v1/review/{id}/release"),
    ("POST", "/v1/review/{id}/reject"),
    ("GET", "/v1/plugins"),
    ("POST", "/v1/plugins/rescan"),
    ("POST", "/v1/plugins/{name}/activate"),
    ("POST", "/v1/plugins/{name}/rollback"),
    ("GET", "/v1/targets"),
    ("GET", "/v1/dead-letters"),
    ("GET", "/v1/dead-letters/{job_id}"),
    ("POST", "/v1/dead-letters/{job_id}/replay"),
    ("POST", "/v1/dead-letters/replay"),
    ("GET", "/v1/replies/unmatched"),
    ("GET", "/v1/replies/overdue"),
    ("POST", "/v1/callbacks/{target}"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/{id}"),
    ("DELETE", "/v1/subscriptions/{id}"),
    ("POST", "/v1/subscriptions/{id}/rotate-secret"),
    ("POST", "/v1/subscriptions/{id}/enable"),
    ("POST", "/v1/subscriptions/{id}/test"),
    ("GET", "/v1/subscriptions/{id}/deliveries"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
];

/// What the hub serves besides the API: the web console's static files
/// (`api/console.rs`). They are not the API, so the document leaves them
/// out on purpose and [`SERVED`] does not list them;
/// `console_files_are_served_but_not_documented` holds both to that.
const NOT_API: &[(&str, &str)] = &[("GET", "/"), ("GET", "/assets/{*path}")];

/// Paths anyone may call without credentials.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/v1/openapi.json"];

/// Paths an OPS calls with its target's callback token instead of an API key.
const CALLBACK: &[&str] = &["/v1/callbacks/{target}"];

/// Operations that answer no 4xx of their own (liveness, readiness, this
/// document): exempt from "documents a 4xx problem response".
const NO_CLIENT_ERRORS: &[&str] = &["/healthz", "/readyz", "/v1/openapi.json"];

/// The methods the document may use; paths are probed with all of them.
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

impl ApiServer {
    /// `method path` without credentials: status and body (JSON if it is).
    async fn call(&self, method: &str, path: &str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn document(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/v1/openapi.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/json"), "{content_type}");
        serde_json::from_str(&response.text().await.unwrap()).expect("the document is JSON")
    }
}

/// Every (path, method, operation) of the document.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                found.push((path.clone(), method.clone(), operation.clone()));
            }
        }
    }
    found
}

/// `path` with each `{param}` replaced by a dummy value.
fn fill(path: &str) -> String {
    let mut filled = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c).expect("closed parameter");
        filled.push_str(&rest[..open]);
        filled.push_str(&format!("dummy-{}", &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    filled.push_str(rest);
    filled
}

/// The router's own answer to a path it does not know.
fn is_fallback(status: u16, body: &Value) -> bool {
    status == 404
        && body["type"].as_str().is_some_and(|t| t.ends_with("/not-found"))
        && body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("no such endpoint"))
}

/// Follows a `$ref` into the document's components.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local $ref");
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"))
        }
        None => value,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_openapi_3_1_and_public() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Order Hub API");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(document["info"]["description"].as_str().is_some_and(|d| !d.is_empty()));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "http");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["callback_token"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["Problem"].is_object());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_exists_and_answers_as_documented() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    let operations = operations(&document);
    assert!(!operations.is_empty());
    for (path, method, operation) in &operations {
        let (status, body) = hub.call(method, &fill(path)).await;
        let what = format!("{} {path} answered {status} {body}", method.to_uppercase());
        assert!(!is_fallback(status, &body), "not routed: {what}");
        assert_ne!(status, 405, "method not routed: {what}");
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            // declared credentials are really required
            assert_eq!(status, 401, "no credentials, yet: {what}");
            assert_eq!(body["type"], "https://order-hub.dev/problems/unauthorized", "{what}");
        } else {
            assert!((200..300).contains(&status), "public, yet: {what}");
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_paths_take_no_undocumented_method() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let (status, body) = hub.call(method, &fill(path)).await;
            assert_eq!(
                status,
                405,
                "{} {path} is served but not documented: {body}",
                method.to_uppercase()
            );
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_exactly_the_served_routes() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(path, method, _)| (method.to_uppercase(), path))
        .collect();
    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(served.len(), SERVED.len(), "SERVED lists a route twice");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
    assert!(
        unknown.is_empty(),
        "documented but not in SERVED (add them to the list and the table in api/mod.rs): {unknown:?}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_declare_security_and_problem_responses() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    for (path, method, operation) in operations(&document) {
        let what = format!("{} {path}", method.to_uppercase());
        let requirements: Vec<&str> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().unwrap().keys())
            .map(String::as_str)
            .collect();
        for name in &requirements {
            assert!(schemes.contains_key(*name), "{what}: unknown security scheme {name}");
        }
        let expected: &[&str] = if PUBLIC.contains(&path.as_str()) {
            &[]
        } else if CALLBACK.contains(&path.as_str()) {
            &["callback_token"]
        } else {
            &["api_key"]
        };
        assert_eq!(requirements, expected, "{what}: security");

        assert!(operation["operationId"].is_string(), "{what}: operationId");
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{what}: tag"
        );
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success response"
        );
        let problems: Vec<&str> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('4'))
            .filter(|(_, response)| {
                resolve(&document, response)["content"]["application/problem+json"]["schema"]["$ref"]
                    == "#/components/schemas/Problem"
            })
            .map(|(status, _)| status.as_str())
            .collect();
        if !NO_CLIENT_ERRORS.contains(&path.as_str()) {
            assert!(!problems.is_empty(), "{what}: no 4xx problem response documented");
        }
        if requirements == ["api_key"] {
            assert!(
                problems.contains(&"401"),
                "{what}: needs an API key but documents no 401"
            );
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reference_resolves() {
    fn walk<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    found.push(reference);
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    let mut references = Vec::new();
    walk(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {reference}"));
        assert!(document.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_but_not_documented() {
    let hub = ApiServer::start(true).await;
    let document = hub.document().await;
    let paths = document["paths"].as_object().unwrap();
    for (method, route) in NOT_API {
        let template_start = route.split('{').next().unwrap_or(route);
        assert!(
            !paths
                .keys()
                .any(|p| p == route || (template_start.len() > 1 && p.starts_with(template_start))),
            "{method} {route} is the console, not the API: it must not be in the document"
        );
        assert!(!SERVED.iter().any(|(_, served)| served == route), "{route} in SERVED");
        let (status, body) = hub.call(method, &fill(&route.replace("{*", "{"))).await;
        assert!(
            !is_fallback(status, &body),
            "{method} {route} is not served: {status} {body}"
        );
    }
    hub.stop().await;
}
