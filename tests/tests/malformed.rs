//! A table of malformed requests: each gets a precise RFC 9457 answer and the
//! hub keeps serving. Runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod common;

use common::{ACME, Backend, REVIEWER, TestHub};
use serde_json::Value;

struct Case {
    name: String,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    key: Option<&'static str>,
    idempotency_key: Option<String>,
    body: Vec<u8>,
    status: u16,
    slug: &'static str,
}

fn case(name: &str, path: &str, body: impl Into<Vec<u8>>, status: u16, slug: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        method: "POST",
        path: path.to_owned(),
        content_type: Some("application/json"),
        key: Some(ACME),
        idempotency_key: None,
        body: body.into(),
        status,
        slug,
    }
}

const ORDERS: &str = "/v1/orders/complaint";

/// The canonical form of the complaint example: valid as it stands.
fn valid_complaint() -> Value {
    let path = common::repo_root().join("examples/orders/complaint/messy-delay.expected.json");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    expected["normalized"].clone()
}

/// The valid complaint with `pointer` replaced by `value`.
fn with(pointer: &str, value: Value) -> Vec<u8> {
    let mut order = valid_complaint();
    *order.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
    serde_json::to_vec(&order).unwrap()
}

fn corpus() -> Vec<Case> {
    use serde_json::json;
    let mut cases = vec![
        case("not json", ORDERS, "hello", 400, "malformed-json"),
        case("truncated object", ORDERS, r#"{"category": "DELAY", "desc"#, 400, "malformed-json"),
        case("trailing garbage", ORDERS, r#"{"category": "DELAY"} xyz"#, 400, "malformed-json"),
        case("trailing comma", ORDERS, r#"{"category": "DELAY",}"#, 400, "malformed-json"),
        case("single quotes", ORDERS, "{'category': 'DELAY'}", 400, "malformed-json"),
        case("unquoted key", ORDERS, "{category: 1}", 400, "malformed-json"),
        case("comment", ORDERS, "// hi\n{}", 400, "malformed-json"),
        case("NaN literal", ORDERS, r#"{"n": NaN}"#, 400, "malformed-json"),
        case("number out of range", ORDERS, r#"{"n": 1e400}"#, 400, "malformed-json"),
        case("lone surrogate escape", ORDERS, r#"{"description": "\ud800"}"#, 400, "malformed-json"),
        case("control character in string", ORDERS, "{\"description\": \"a\u{1}b\"}", 400, "malformed-json"),
        case("byte order mark", ORDERS, [&[0xEF, 0xBB, 0xBF][..], br#"{"a": 1}"#].concat(), 400, "malformed-json"),
        case("deep nesting 200", ORDERS, format!("{}{}", "[".repeat(200), "]".repeat(200)), 400, "malformed-json"),
        case("deep nesting in object", ORDERS, format!("{{\"a\":{}1{}}}", "{\"b\":".repeat(300), "}".repeat(300)), 400, "malformed-json"),
        case("empty body", ORDERS, "", 400, "empty-body"),
        case("whitespace body", ORDERS, "  \n\t ", 400, "empty-body"),
        case("invalid utf-8", ORDERS, [&br#"{"description": ""#[..], &[0xC3, 0x28], b"\"}"].concat(), 400, "invalid-utf8"),
        case("gbk bytes", ORDERS, [&br#"{"description": ""#[..], &[0xD6, 0xD0, 0xCE, 0xC4], b"\"}"].concat(), 400, "invalid-utf8"),
        case("array instead of object", ORDERS, "[1, 2, 3]", 422, "invalid-order"),
        case("string instead of object", ORDERS, "\"order\"", 422, "invalid-order"),
        case("number instead of object", ORDERS, "42", 422, "invalid-order"),
        case("null instead of object", ORDERS, "null", 422, "invalid-order"),
        case("empty object", ORDERS, "{}", 422, "invalid-order"),
        case("category number", ORDERS, with("/category", json!(7)), 422, "invalid-order"),
        case("category array", ORDERS, with("/category", json!(["DELAY"])), 422, "invalid-order"),
        case("category unknown", ORDERS, with("/category", json!("快递")), 422, "invalid-order"),
        case("description object", ORDERS, with("/description", json!({"text": "x"})), 422, "invalid-order"),
        case("description too short", ORDERS, with("/description", json!("short")), 422, "invalid-order"),
        case("description 6000 chars", ORDERS, with("/description", json!("长".repeat(6000))), 422, "invalid-order"),
        case("date garbage", ORDERS, with("/occurred_on", json!("yesterday")), 422, "invalid-order"),
        case("date impossible", ORDERS, with("/occurred_on", json!("2026-02-30")), 422, "invalid-order"),
        case("date huge number", ORDERS, with("/occurred_on", json!(1e300)), 422, "invalid-order"),
        case("date boolean", ORDERS, with("/occurred_on", json!(true)), 422, "invalid-order"),
        case("phone letters", ORDERS, with("/contact", json!({"name": "陈静", "phone": "call me"})), 422, "invalid-order"),
        case("phone too short", ORDERS, with("/contact", json!({"name": "陈静", "phone": "123"})), 422, "invalid-order"),
        case("email malformed", ORDERS, with("/contact", json!({"name": "陈静", "email": "no-at-sign"})), 422, "invalid-order"),
        case("contact null", ORDERS, with("/contact", Value::Null), 422, "invalid-order"),
        case("unknown field", ORDERS, {
            let mut o = valid_complaint();
            o["bogus"] = json!(1);
            serde_json::to_vec(&o).unwrap()
        }, 422, "invalid-order"),
        case("NUL inside string", ORDERS, with("/description", json!("包装破损\u{0}，请尽快处理这个问题谢谢")), 202, ""),
        case("duplicate keys", ORDERS, r#"{"category": "DELAY", "category": 5}"#, 422, "invalid-order"),
        case("huge integer", "/v1/orders/warehouse-order", serde_json::to_vec(&json!({"direction": "IN", "warehouse_code": "SH-01", "expected_date": "2026-11-03", "reference_numbers": {"customer_order_no": "A"}, "lines": [{"sku": "A", "quantity": 1e300, "unit": "PCS"}]})).unwrap(), 422, "invalid-order"),
        case("negative quantity", "/v1/orders/warehouse-order", serde_json::to_vec(&json!({"direction": "IN", "warehouse_code": "SH-01", "expected_date": "2026-11-03", "reference_numbers": {"customer_order_no": "A"}, "lines": [{"sku": "A", "quantity": -5, "unit": "PCS"}]})).unwrap(), 422, "invalid-order"),
        case("weight wrong unit", "/v1/orders/trucking-pickup", serde_json::to_vec(&{
            let mut o = common::example("trucking-pickup", "messy-pickup");
            o["货物"]["毛重"] = json!("3 cbm");
            o
        }).unwrap(), 422, "invalid-order"),
        case("10000 cargo lines", "/v1/orders/freight-booking", serde_json::to_vec(&{
            let mut o = common::example("freight-booking", "messy-fcl");
            o["cargo"] = json!(vec![json!({"desc": "x", "pkgs": 1, "gross_weight": "1 kg"}); 10000]);
            o
        }).unwrap(), 422, "invalid-order"),
        case("500 cargo lines", "/v1/orders/freight-booking", serde_json::to_vec(&{
            let mut o = common::example("freight-booking", "messy-fcl");
            o["cargo"] = json!(vec![json!({"desc": "x", "pkgs": 1, "gross_weight": "1 kg"}); 500]);
            o
        }).unwrap(), 422, "invalid-order"),
        case("unknown line", "/v1/orders/space-freight", "{}", 404, "not-found"),
        case("unknown line on validate", "/v1/validate/space-freight", "{}", 404, "not-found"),
        case("unknown endpoint", "/v1/nothing-here", "{}", 404, "not-found"),
        case("customer calls release", "/v1/review/nope/release", "{}", 403, "forbidden"),
    ];
    for (name, content_type) in [
        ("text/plain", Some("text/plain")),
        ("no content type", None),
        ("form encoded", Some("application/x-www-form-urlencoded")),
        ("gbk charset", Some("application/json; charset=gbk")),
        ("xml", Some("application/xml")),
    ] {
        let mut c = case(
            name,
            ORDERS,
            serde_json::to_vec(&valid_complaint()).unwrap(),
            415,
            "unsupported-media-type",
        );
        c.content_type = content_type;
        cases.push(c);
    }
    for (name, key) in [("no api key", None), ("wrong api key", Some("not-a-key"))] {
        let mut c = case(
            name,
            ORDERS,
            serde_json::to_vec(&valid_complaint()).unwrap(),
            401,
            "unauthorized",
        );
        c.key = key;
        cases.push(c);
    }
    for (name, idem) in [
        ("idempotency key with space", "a b".to_owned()),
        ("idempotency key 300 chars", "k".repeat(300)),
        ("idempotency key non-ascii", "订单1".to_owned()),
    ] {
        let mut c = case(
            name,
            ORDERS,
            serde_json::to_vec(&valid_complaint()).unwrap(),
            400,
            "bad-idempotency-key",
        );
        c.idempotency_key = Some(idem);
        cases.push(c);
    }
    for (name, method, path, status, slug) in [
        (
            "get unknown order",
            "GET",
            "/v1/orders/00000000-0000-0000-0000-000000000000",
            404,
            "not-found",
        ),
        ("put orders", "PUT", ORDERS, 405, "method-not-allowed"),
        ("delete orders", "DELETE", ORDERS, 405, "method-not-allowed"),
        (
            "get validate",
            "GET",
            "/v1/validate/complaint",
            405,
            "method-not-allowed",
        ),
        (
            "unknown schema",
            "GET",
            "/v1/business-lines/space/schema",
            404,
            "not-found",
        ),
    ] {
        let mut c = case(name, path, "", status, slug);
        c.method = method;
        cases.push(c);
    }
    for (name, path, body, status, slug) in [
        ("release body array", "/v1/review/x/release", "[]", 400, "bad-request"),
        (
            "release unknown field",
            "/v1/review/x/release",
            r#"{"fix": {}}"#,
            400,
            "bad-request",
        ),
        (
            "release note number",
            "/v1/review/x/release",
            r#"{"note": 5}"#,
            400,
            "bad-request",
        ),
        ("release unknown order", "/v1/review/x/release", "{}", 404, "not-found"),
        (
            "reject without reason",
            "/v1/review/x/reject",
            "{}",
            422,
            "missing-reason",
        ),
        (
            "reject reason number",
            "/v1/review/x/reject",
            r#"{"reason": 5}"#,
            400,
            "bad-request",
        ),
        (
            "review malformed json",
            "/v1/review/x/reject",
            "{",
            400,
            "malformed-json",
        ),
    ] {
        let mut c = case(name, path, body, status, slug);
        c.key = Some(REVIEWER);
        cases.push(c);
    }
    cases
}

async fn run(hub: &TestHub, c: &Case) {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
    let mut request = hub.client.request(method, hub.url(&c.path)).body(c.body.clone());
    if let Some(ct) = c.content_type {
        request = request.header("content-type", ct);
    }
    if let Some(key) = c.key {
        request = request.bearer_auth(key);
    }
    if let Some(idem) = &c.idempotency_key {
        request = request.header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(idem.as_bytes()).unwrap(),
        );
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", c.name));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    assert_eq!(status, c.status, "case '{}': {body}", c.name);
    if c.slug.is_empty() {
        return;
    }
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "case '{}'",
        c.name
    );
    assert!(
        body["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/{}", c.slug)),
        "case '{}': {body}",
        c.name
    );
    assert_eq!(body["status"], c.status, "case '{}'", c.name);
    assert!(
        !body["detail"].as_str().unwrap_or_default().is_empty(),
        "case '{}'",
        c.name
    );
    if c.slug == "malformed-json" {
        assert!(
            body["line"].is_u64() && body["column"].is_u64(),
            "case '{}': {body}",
            c.name
        );
    }
    if c.slug == "invalid-order" {
        let problems = body["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("case '{}': {body}", c.name));
        assert!(!problems.is_empty(), "case '{}'", c.name);
        for p in problems {
            assert!(
                p["pointer"].is_string() && p["code"].is_string() && p["message"].is_string(),
                "case '{}': {p}",
                c.name
            );
        }
    }
}

/// Sends only the headers of a POST announcing `length` bytes and reads the answer.
async fn announce_huge_body(hub: &TestHub, length: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = hub.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {ORDERS} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ACME}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    // Read until the JSON body is complete or the server closes.
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        response.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&response);
        if n == 0
            || text
                .split_once("\r\n\r\n")
                .is_some_and(|(_, body)| body.trim_end().ends_with('}'))
        {
            break;
        }
    }
    let text = String::from_utf8(response).unwrap();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

both_backends!(
    every_malformed_request_gets_a_clear_answer,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let cases = corpus();
        assert!(cases.len() >= 50, "only {} cases", cases.len());
        for c in &cases {
            run(&hub, c).await;
            let health = hub.client.get(hub.url("/healthz")).send().await.unwrap();
            assert_eq!(health.status(), 200, "hub stopped serving after '{}'", c.name);
        }
        // A 10 MB order is refused from its Content-Length, before the body is
        // read. A raw client waits for that answer the way `Expect: 100-continue`
        // clients do; a client that pushes the body anyway races the server's
        // close of the connection, which is why this is not a table row.
        let (status, problem) = announce_huge_body(&hub, 10 * 1024 * 1024).await;
        assert_eq!(status, 413, "{problem}");
        assert!(
            problem["type"].as_str().unwrap().ends_with("/payload-too-large"),
            "{problem}"
        );
        assert_eq!(hub.client.get(hub.url("/healthz")).send().await.unwrap().status(), 200);

        // And real work still goes through.
        let (status, accepted) = hub.post(ACME, ORDERS, &valid_complaint()).await;
        assert_eq!(status, 202, "{accepted}");
        hub.stop().await;
    }
);
