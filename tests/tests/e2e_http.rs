//! The whole hub against real HTTP OPS: customs declarations as SOAP 1.1
//! with host-added WS-Security (plugin `customs-soap`), freight bookings as
//! REST/JSON (plugin `rest-json`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::path::Path;
use std::time::Duration;

use hub_e2e::hub::{TestHub, events, example_order, temp_dir};
use hub_e2e::servers::freight_rest::FreightRestOps;
use hub_e2e::servers::ops_http::{CustomsBehaviour, FieldError, OpsHttpOptions, OpsHttpServer, WsseAccount};
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(30);
const WSS_PASSWORD: &str = "海关-Pass-2026";

fn customs_target(server: &OpsHttpServer, secrets: &Path, password: &str, password_type: &str) -> String {
    let file = secrets.join("wss-password");
    std::fs::write(&file, password).unwrap();
    format!(
        r#"
[targets.customs-ops]
plugin = "customs-soap"
grants = ["http", "config", "log"]
retry = {{ max_attempts = 3, initial_backoff_ms = 100, max_backoff_ms = 200 }}
http = {{ base_url = "{base}", timeout_ms = 1000, wsse = {{ username = "hub-customs", password = {{ file = "{file}" }}, password_type = "{password_type}" }} }}

[[routes]]
name = "all declarations"
line = "customs-declaration"
target = "customs-ops"
"#,
        base = server.base_url(),
        file = file.display(),
    )
}

async fn customs_ops() -> OpsHttpServer {
    OpsHttpServer::start(OpsHttpOptions {
        wsse: Some(WsseAccount {
            username: "hub-customs".into(),
            password: WSS_PASSWORD.into(),
        }),
        tls: false,
        address: None,
    })
    .await
    .unwrap()
}

fn event<'a>(order: &'a Value, kind: &str) -> Option<&'a Value> {
    order["timeline"].as_array()?.iter().find(|e| e["kind"] == kind)
}

async fn declare(hub: &TestHub) -> String {
    hub.submit(
        "customs-declaration",
        &example_order("customs-declaration", "messy-export"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_e2e_customs_soap_with_ws_security_digest_accepted() {
    let ops = customs_ops().await;
    let hub = TestHub::start(&customs_target(&ops, &temp_dir("secrets"), WSS_PASSWORD, "digest")).await;
    let id = declare(&hub).await;
    let order = hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let accepted = event(&order, "accepted").unwrap();
    assert!(
        accepted["detail"]["ops_ref"].as_str().unwrap().starts_with("CD-"),
        "{accepted:#}"
    );

    let request = ops.requests().into_iter().last().unwrap();
    let body = request.body_text();
    assert!(
        body.contains("PasswordDigest"),
        "digest token added by the host: {body}"
    );
    assert!(
        !body.contains(WSS_PASSWORD),
        "the password itself never travels with digest"
    );
    assert!(request.header("soapaction").is_some(), "SOAPAction set");
    for text in ["宁波海关报关有限公司", "蓝牙耳机"] {
        assert!(body.contains(text), "`{text}` missing: {body}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_e2e_customs_faults_map_to_rejected_or_retried() {
    let ops = customs_ops().await;
    let hub = TestHub::start(&customs_target(&ops, &temp_dir("secrets"), WSS_PASSWORD, "text")).await;

    // Client Fault: the OPS refuses the declaration; reasons reach the order.
    ops.set_behaviour(CustomsBehaviour::ClientFault(vec![FieldError::new(
        "Goods/Item[1]/HsCode",
        "HS_INVALID",
        "商品编码无效",
    )]));
    let rejected = declare(&hub).await;
    let order = hub.wait_for_status(&rejected, &["rejected"], WITHIN).await;
    assert!(
        event(&order, "rejected").unwrap().to_string().contains("商品编码无效"),
        "{order:#}"
    );

    // Server Fault once, then accepted: retried, not rejected.
    ops.set_behaviour(CustomsBehaviour::Accept);
    ops.queue_behaviour(CustomsBehaviour::ServerFault("database busy".into()));
    let retried = declare(&hub).await;
    let order = hub.wait_for_status(&retried, &["accepted"], WITHIN).await;
    assert_eq!(
        events(&order).iter().filter(|e| e["kind"] == "attempt-failed").count(),
        1,
        "{order:#}"
    );

    // Slower than the target's 1 s timeout, then fine: a timeout is retried.
    ops.queue_behaviour(CustomsBehaviour::Slow(Duration::from_millis(2500)));
    let slow = declare(&hub).await;
    let failed = hub.wait_for_event(&slow, "attempt-failed", WITHIN).await;
    assert_eq!(failed["detail"]["error_kind"], "timeout", "{failed:#}");
    hub.wait_for_status(&slow, &["accepted"], WITHIN).await;

    // Malformed and empty answers: retried with a precise reason, not a panic.
    for behaviour in [CustomsBehaviour::Malformed, CustomsBehaviour::Empty] {
        ops.queue_behaviour(behaviour);
        let id = declare(&hub).await;
        let failed = hub.wait_for_event(&id, "attempt-failed", WITHIN).await;
        assert!(
            failed["detail"]["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{failed:#}"
        );
        hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_e2e_customs_wrong_wss_password_fails_without_retrying() {
    let ops = customs_ops().await;
    let hub = TestHub::start(&customs_target(&ops, &temp_dir("secrets"), "wrong-password", "digest")).await;
    let id = declare(&hub).await;
    let order = hub.wait_for_status(&id, &["failed", "rejected"], WITHIN).await;
    assert_eq!(
        order["status"], "failed",
        "bad credentials are a failure, not the customer's fault: {order:#}"
    );
    assert_eq!(
        events(&order).iter().filter(|e| e["kind"] == "attempt-failed").count(),
        0
    );
    assert!(
        !order.to_string().contains("wrong-password"),
        "secret leaked: {order:#}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_e2e_freight_rest_down_then_up_books_once() {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let target = ops.target_config("retry = { max_attempts = 20, initial_backoff_ms = 100, max_backoff_ms = 300 }");
    let hub = TestHub::start(&target).await;
    ops.set_down(true);
    let id = hub
        .submit("freight-booking", &example_order("freight-booking", "messy-fcl"))
        .await;
    let failed = hub.wait_for_event(&id, "attempt-failed", WITHIN).await;
    assert_eq!(
        failed["detail"]["retry_after_requested_ms"], 1000,
        "Retry-After surfaced: {failed:#}"
    );
    ops.set_down(false);
    let order = hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    assert!(
        event(&order, "accepted").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("订舱成功")
    );
    assert_eq!(ops.bookings(), 1);
    let keys: std::collections::BTreeSet<String> = ops
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(n, _)| n == "idempotency-key")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carried the same idempotency key: {keys:?}"
    );
    let body = String::from_utf8(ops.requests().last().unwrap().body.clone()).unwrap();
    assert!(body.contains("上海"), "{body}");
    hub.stop().await;
}
