//! The whole hub against the machine's RabbitMQ: warehouse orders as JSON
//! request/reply (plugin `warehouse-amqp`). The test plays the WMS with a
//! real AMQP peer: it consumes what the hub published and answers on the
//! hub's reply queue.
//!
//! Test names contain `amqp` so nextest runs them one at a time with the
//! broker-restart tests (`.config/nextest.toml`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::path::Path;
use std::time::Duration;

use hub_e2e::hub::{OPERATOR_KEY, TestHub, events, eventually, example_order, temp_dir};
use hub_e2e::servers::rabbitmq::{BrokerOutage, Peer, unique_name};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

struct Wms {
    peer: Peer,
    exchange: String,
    orders: String,
    replies: String,
}

impl Wms {
    async fn start() -> Wms {
        let peer = Peer::connect().await.unwrap();
        let wms = Wms {
            peer,
            exchange: unique_name("wms-exchange"),
            orders: unique_name("wms-orders"),
            replies: unique_name("hub-replies"),
        };
        wms.peer.declare_exchange(&wms.exchange).await.unwrap();
        wms.peer.declare_queue(&wms.orders).await.unwrap();
        wms.peer
            .bind(&wms.orders, &wms.exchange, "wms.order.create")
            .await
            .unwrap();
        wms
    }

    fn target(&self, secrets: &Path) -> String {
        let password = secrets.join("amqp-password");
        std::fs::write(&password, "guest").unwrap();
        format!(
            r#"
[targets.warehouse-ops]
plugin = "warehouse-amqp"
grants = ["amqp", "config", "log"]
settings = {{ routing_key = "wms.order.create" }}
retry = {{ max_attempts = 60, initial_backoff_ms = 100, max_backoff_ms = 500 }}
breaker = {{ failure_threshold = 1000 }}
amqp = {{ url = "{url}", username = "guest", password = {{ file = "{password}" }}, exchange = "{exchange}", routing_keys = ["wms.order.create"], reply_queue = "{replies}", confirm_timeout_ms = 5000, reconnect_max_ms = 1000 }}

[[routes]]
name = "all warehouse orders"
line = "warehouse-order"
target = "warehouse-ops"
"#,
            url = hub_e2e::servers::rabbitmq::broker_url(),
            password = password.display(),
            exchange = self.exchange,
            replies = self.replies,
        )
    }

    async fn answer(&self, correlation_id: &str, body: &Value) {
        self.peer
            .publish_reply(
                &self.replies,
                body.to_string().as_bytes(),
                correlation_id,
                &uuid::Uuid::now_v7().to_string(),
                &[],
            )
            .await
            .unwrap();
    }

    async fn clean_up(self) {
        let _ = self.peer.delete_queue(&self.orders).await;
        let _ = self.peer.delete_queue(&self.replies).await;
        let _ = self.peer.delete_exchange(&self.exchange).await;
        let _ = self.peer.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_e2e_warehouse_order_published_confirmed_and_answered_on_the_reply_queue() {
    let wms = Wms::start().await;
    let mut inbox = wms.peer.consume(&wms.orders).await.unwrap();
    let hub = TestHub::start(&wms.target(&temp_dir("secrets"))).await;

    let portal_trace = "5c1c63257de34c67b4ef6e1e2f1b0d3a";
    let (id, _) = hub
        .submit_traced(
            "warehouse-order",
            &example_order("warehouse-order", "messy-inbound"),
            &format!("00-{portal_trace}-a2fb4a1d1a96d312-01"),
        )
        .await;
    let got = inbox.next_within(WITHIN).await.unwrap();
    hub.wait_for_status(&id, &["submitted"], WITHIN).await;
    assert_eq!(
        got.headers.get("traceparent").and_then(|t| t.split('-').nth(1)),
        Some(portal_trace),
        "the message carries the portal's trace: {:?}",
        got.headers
    );

    assert_eq!(got.delivery_mode, Some(2), "persistent");
    assert_eq!(got.routing_key, "wms.order.create");
    assert_eq!(
        got.message_id.as_deref(),
        Some(id.as_str()),
        "idempotency key as message id"
    );
    assert_eq!(got.correlation_id.as_deref(), Some(id.as_str()));
    assert_eq!(got.reply_to.as_deref(), Some(wms.replies.as_str()));
    let message: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(message["order_ref"], id.as_str());
    assert_eq!(message["contact"]["name"], "李娜");
    assert_eq!(message["lines"][0]["description"], "儿童保温杯 350ml");

    wms.answer(
        &id,
        &json!({"correlation_id": id, "status": "ACCEPTED", "wms_ref": "WMS-SH01-0042", "message": "入库单已创建"}),
    )
    .await;
    let order = hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let accepted = events(&order).into_iter().find(|e| e["kind"] == "accepted").unwrap();
    assert!(
        accepted["message"].as_str().unwrap().contains("入库单已创建"),
        "{accepted:#}"
    );
    assert_eq!(accepted["detail"]["ops_ref"], "WMS-SH01-0042");
    assert_eq!(accepted["detail"]["source"], "amqp-reply");

    // Rejection with a field reason, then a malformed and an empty reply:
    // kept for operators, acked (the reply queue drains), never lost.
    wms.answer(&id, &json!({"correlation_id": id, "status": "PICKING"}))
        .await;
    hub.wait_for_status(&id, &["in-progress"], WITHIN).await;
    wms.peer
        .publish_reply(&wms.replies, b"{not json", "nobody", "m-1", &[])
        .await
        .unwrap();
    wms.peer
        .publish_reply(&wms.replies, b"", "nobody", "m-2", &[])
        .await
        .unwrap();
    wms.peer.await_ready_count(&wms.replies, 0, WITHIN).await.unwrap();
    eventually(WITHIN, async || {
        let (_, unmatched) = hub.get(OPERATOR_KEY, "/v1/replies/unmatched").await;
        match unmatched["items"].as_array().map_or(0, Vec::len) {
            count if count >= 2 => Ok(()),
            _ => Err(format!("unreadable replies not kept: {unmatched:#}")),
        }
    })
    .await;
    hub.stop().await;
    wms.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_e2e_broker_restart_mid_run_loses_no_order() {
    let wms = Wms::start().await;
    let hub = TestHub::start(&wms.target(&temp_dir("secrets"))).await;
    let before = hub
        .submit("warehouse-order", &example_order("warehouse-order", "messy-inbound"))
        .await;
    hub.wait_for_status(&before, &["submitted"], WITHIN).await;

    let outage = BrokerOutage::begin().await.unwrap();
    let mut during = Vec::new();
    for _ in 0..5 {
        during.push(
            hub.submit("warehouse-order", &example_order("warehouse-order", "messy-inbound"))
                .await,
        );
    }
    hub.wait_for_event(&during[0], "attempt-failed", WITHIN).await;
    outage.end().await.unwrap();

    for id in &during {
        hub.wait_for_status(id, &["submitted"], Duration::from_secs(60)).await;
    }
    // Every order is in the WMS queue (the peer connects after the restart;
    // durable queue, persistent messages). Delivery is at least once: a
    // publish whose confirm was lost in the restart is sent again under the
    // same message id, which the WMS deduplicates on.
    let peer = Peer::connect().await.unwrap();
    let mut inbox = peer.consume(&wms.orders).await.unwrap();
    let expected: std::collections::BTreeSet<String> = during.iter().cloned().chain([before.clone()]).collect();
    let mut seen = std::collections::BTreeSet::new();
    while seen != expected {
        let got = inbox
            .next_within(WITHIN)
            .await
            .unwrap_or_else(|e| panic!("missing {:?}: {e}", expected.difference(&seen)));
        let id = got.message_id.clone().unwrap();
        assert!(expected.contains(&id), "unknown message {id}");
        seen.insert(id);
    }

    // The reply consumer came back too.
    let wms = Wms { peer, ..wms };
    wms.answer(
        &before,
        &json!({"correlation_id": before, "status": "ACCEPTED", "wms_ref": "W-1"}),
    )
    .await;
    hub.wait_for_status(&before, &["accepted"], WITHIN).await;
    hub.stop().await;
    wms.clean_up().await;
}

/// The WMS answers each order the moment it receives it, without waiting
/// for the hub to record `submitted`: the answer can overtake the hub's own
/// record of the submit (the broker's confirm and the ledger row come after
/// the WMS already has the message). Every answer must still be matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_e2e_an_instant_answer_that_overtakes_the_submit_is_matched() {
    const ORDERS: usize = 20;
    let wms = Wms::start().await;
    let mut inbox = wms.peer.consume(&wms.orders).await.unwrap();
    let hub = TestHub::start(&wms.target(&temp_dir("secrets"))).await;

    let submit = async {
        let mut ids = Vec::with_capacity(ORDERS);
        for _ in 0..ORDERS {
            ids.push(
                hub.submit("warehouse-order", &example_order("warehouse-order", "messy-inbound"))
                    .await,
            );
        }
        ids
    };
    // Answered on receipt, while the hub may still be waiting for the
    // broker's confirm of the same message.
    let answer = async {
        let mut answered = std::collections::BTreeSet::new();
        while answered.len() < ORDERS {
            let got = inbox.next_within(WITHIN).await.unwrap();
            let correlation = got.correlation_id.clone().unwrap();
            if answered.insert(correlation.clone()) {
                wms.answer(
                    &correlation,
                    &json!({"correlation_id": correlation, "status": "ACCEPTED", "wms_ref": format!("WMS-{}", answered.len())}),
                )
                .await;
            }
        }
        answered
    };
    let (ids, answered) = tokio::join!(submit, answer);
    assert_eq!(
        ids.iter().cloned().collect::<std::collections::BTreeSet<_>>(),
        answered,
        "the WMS answered every order once"
    );

    for id in &ids {
        let order = hub.wait_for_status(id, &["accepted"], WITHIN).await;
        let kinds: Vec<Value> = events(&order).iter().map(|e| e["kind"].clone()).collect();
        let submitted = kinds.iter().position(|k| k == "submitted");
        let accepted = kinds.iter().position(|k| k == "accepted");
        assert!(
            submitted.is_some() && submitted < accepted,
            "the answer is applied after the submit it overtook: {kinds:?}"
        );
    }
    // Every answer was taken off the reply queue, none of them kept aside.
    wms.peer.await_ready_count(&wms.replies, 0, WITHIN).await.unwrap();
    let (status, unmatched) = hub.get(OPERATOR_KEY, "/v1/replies/unmatched").await;
    assert_eq!(status, 200, "{unmatched:#}");
    assert_eq!(unmatched["items"], json!([]), "no answer kept as unmatched");
    hub.stop().await;
    wms.clean_up().await;
}
