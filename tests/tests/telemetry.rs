//! Telemetry of a whole hub (`server::run`) against the REST freight OPS:
//! `/metrics` after a small run shows what happened (orders per stage,
//! attempts, retries, plugin calls and fuel, API requests, levels), and one
//! trace id runs from the portal's request to the OPS's request header.
//!
//! Metrics are process-wide (one recorder per process, as in `hub serve`);
//! nextest runs each test in its own process, and the assertions compare a
//! scrape after the run with one before it all the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::collections::BTreeMap;
use std::time::Duration;

use hub_e2e::hub::{CUSTOMER_KEY, OPERATOR_KEY, REVIEWER_KEY, TestHub, example_order};
use hub_e2e::servers::freight_rest::FreightRestOps;
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(30);
const LINE: &str = "freight-booking";

async fn freight_hub(ops: &FreightRestOps) -> TestHub {
    TestHub::start(&ops.target_config("retry = { max_attempts = 20, initial_backoff_ms = 100, max_backoff_ms = 300 }"))
        .await
}

/// One scrape, parsed: every sample as (name, labels) → value.
#[derive(Debug)]
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    async fn take(hub: &TestHub) -> Scrape {
        let response = hub
            .client
            .get(format!("{}/metrics", hub.base_url))
            .bearer_auth(OPERATOR_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        Scrape::parse(&response.text().await.unwrap())
    }

    fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("bad label in {line:?}"));
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            samples.push((name.to_owned(), labels, value));
        }
        Scrape(samples)
    }

    /// The sum of every series of `name` carrying all of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, _, value)| value)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.0
            .iter()
            .any(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_small_run_show_what_happened() {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let hub = freight_hub(&ops).await;
    let before = Scrape::take(&hub).await;

    // Two clean orders, one that needs review (released by staff), one
    // hopeless (422), and one that meets the OPS down once (a retry).
    let mut delivered = Vec::new();
    for _ in 0..2 {
        delivered.push(hub.submit(LINE, &example_order(LINE, "messy-fcl")).await);
    }
    let review = hub.submit(LINE, &example_order(LINE, "unknown-port-bare-weight")).await;
    let (status, body) = hub
        .post(
            REVIEWER_KEY,
            &format!("/v1/review/{review}/release"),
            &json!({"corrections": {
                "origin_port": "CNNGB",
                "cargo_lines": [{"description": "冷冻虾仁", "packages": 40, "gross_weight_kg": 1200}]
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body:#}");
    delivered.push(review);
    let (status, _) = hub
        .post(
            CUSTOMER_KEY,
            &format!("/v1/orders/{LINE}"),
            &example_order(LINE, "invalid-many-problems"),
        )
        .await;
    assert_eq!(status, 422);
    for id in &delivered {
        hub.wait_for_status(id, &["accepted"], WITHIN).await;
    }
    ops.set_down(true);
    let retried = hub.submit(LINE, &example_order(LINE, "messy-fcl")).await;
    hub.wait_for_event(&retried, "attempt-failed", WITHIN).await;
    ops.set_down(false);
    hub.wait_for_status(&retried, &["accepted"], WITHIN).await;

    let after = Scrape::take(&hub).await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    let line = ("line", LINE);
    for (stage, expected) in [
        ("received", 5.0),
        ("normalized", 5.0),
        ("needs_review", 1.0),
        ("reviewed", 1.0),
        ("queued", 4.0),
        ("rejected", 1.0),
    ] {
        assert_eq!(
            delta("orderhub_orders_total", &[line, ("stage", stage)]),
            expected,
            "orders at stage {stage}"
        );
    }
    assert_eq!(delta("orderhub_intake_duration_seconds_count", &[line]), 5.0);
    let target = ("target", "freight-ops");
    assert_eq!(
        delta("orderhub_dispatch_attempts_total", &[target, ("outcome", "accepted")]),
        4.0
    );
    assert_eq!(
        delta("orderhub_dispatch_attempts_total", &[target, ("outcome", "retry")]),
        1.0
    );
    assert_eq!(delta("orderhub_dispatch_retries_total", &[target]), 1.0);
    assert_eq!(delta("orderhub_dead_letters_total", &[target]), 0.0);
    assert_eq!(
        delta("orderhub_dispatch_attempt_duration_seconds_count", &[target]),
        5.0
    );
    assert_eq!(delta("orderhub_queued_to_delivered_seconds_count", &[target]), 4.0);

    // Plugin calls: five submits (one answered "unavailable"), each timed and metered.
    let submit = [("plugin", "rest-json"), ("function", "submit")];
    assert_eq!(delta("orderhub_plugin_calls_total", &submit), 5.0);
    assert_eq!(
        delta("orderhub_plugin_calls_total", &[submit[0], submit[1], ("result", "ok")]),
        4.0,
        "the 503 is counted by its error kind, not as ok"
    );
    assert_eq!(delta("orderhub_plugin_call_duration_seconds_count", &submit), 5.0);
    assert_eq!(delta("orderhub_plugin_call_fuel_count", &submit), 5.0);
    let fuel = delta("orderhub_plugin_call_fuel_sum", &submit);
    assert!(fuel > 10_000.0, "a rest-json submit burns real fuel: {fuel}");

    // The API, by route template (never by order id).
    let intake = [("method", "POST"), ("route", "/v1/orders/{line_or_id}")];
    assert_eq!(
        delta(
            "orderhub_http_requests_total",
            &[intake[0], intake[1], ("status", "202")]
        ),
        4.0
    );
    assert_eq!(
        delta(
            "orderhub_http_requests_total",
            &[intake[0], intake[1], ("status", "422")]
        ),
        1.0
    );
    assert!(
        !after
            .0
            .iter()
            .any(|(_, labels, _)| labels.values().any(|v| delivered.contains(v))),
        "no order id ever becomes a label"
    );

    // Levels, read at scrape time: nothing waits, nothing in flight, breaker closed.
    for (name, labels) in [
        ("orderhub_queue_depth", vec![target, ("state", "pending")]),
        ("orderhub_queue_depth", vec![target, ("state", "leased")]),
        ("orderhub_dead_letters", vec![target]),
        ("orderhub_dispatch_in_flight", vec![target]),
        ("orderhub_breaker_state", vec![target]),
        ("orderhub_review_queue_depth", vec![]),
    ] {
        assert!(after.has(name, &labels), "{name} {labels:?} is exported");
        assert_eq!(after.sum(name, &labels), 0.0, "{name} {labels:?}");
    }
    assert!(after.sum("orderhub_plugins_loaded", &[]) >= 1.0);

    // Only operators and admins read metrics.
    let anonymous = hub
        .client
        .get(format!("{}/metrics", hub.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _) = hub.get(CUSTOMER_KEY, "/metrics").await;
    assert_eq!(status, 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_each_check() {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let hub = freight_hub(&ops).await;
    let response = hub.client.get(format!("{}/readyz", hub.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body:#}");
    let checks: Vec<(&str, bool)> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(checks, [("store", true), ("plugins", true), ("targets", true)]);
    hub.stop().await;
}

/// Parses a `traceparent` into (trace id, span id).
fn trace_and_span(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert_eq!(parts[2].len(), 16, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_id_from_the_portal_to_the_ops_request() {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let hub = freight_hub(&ops).await;
    let portal_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let portal_span = "00f067aa0ba902b7";
    let (id, answered) = hub
        .submit_traced(
            LINE,
            &example_order(LINE, "messy-fcl"),
            &format!("00-{portal_trace}-{portal_span}-01"),
        )
        .await;
    let (trace, intake_span) = trace_and_span(&answered);
    assert_eq!(trace, portal_trace, "the intake continues the portal's trace");
    assert_ne!(intake_span, portal_span, "the intake is a span of its own");

    hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let requests = ops.requests();
    assert_eq!(requests.len(), 1);
    let header = requests[0]
        .headers
        .iter()
        .find(|(name, _)| name == "traceparent")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("no traceparent in the OPS request: {:?}", requests[0].headers));
    let (ops_trace, ops_span) = trace_and_span(&header);
    assert_eq!(ops_trace, portal_trace, "the OPS request is in the portal's trace");
    assert_ne!(ops_span, intake_span, "the delivery attempt is a span of its own");
    assert_ne!(ops_span, portal_span);

    // Without a (valid) traceparent the hub starts a trace and still carries it.
    let (id, answered) = hub
        .submit_traced(LINE, &example_order(LINE, "messy-fcl"), "00-not-a-trace-01")
        .await;
    let (fresh, _) = trace_and_span(&answered);
    assert_ne!(fresh, portal_trace);
    hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let requests = ops.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1]
            .headers
            .iter()
            .any(|(name, value)| name == "traceparent" && trace_and_span(value).0 == fresh),
        "{:?}",
        requests[1].headers
    );
    hub.stop().await;
}
