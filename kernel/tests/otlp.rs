//! OTLP span export and JSON logs of the real `hub` binary: with
//! `[telemetry] otlp_endpoint` set, the intake and each delivery attempt are
//! exported as OpenTelemetry spans of the portal's trace, linked without
//! gaps (portal → intake → deliver → the OPS request's `traceparent`), to a
//! collector on loopback that decodes the protobuf like a real one; the
//! plugin's own log line is an event of the attempt's span, in the export
//! and in the JSON log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use support::hub_process::{CUSTOMER_KEY, HubProcess, PRINCIPALS, free_port, temp_dir};
use support::ops::{Mode, Ops};
use support::{eventually, repo};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    service: String,
    /// Names of the span's events (a `tracing` event's message).
    events: Vec<String>,
}

type Collected = Arc<Mutex<Vec<Span>>>;

async fn collect(State(spans): State<Collected>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut spans = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|value| match value {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Span {
                    name: span.name,
                    trace_id: hex::encode(span.trace_id),
                    span_id: hex::encode(span.span_id),
                    parent_span_id: hex::encode(span.parent_span_id),
                    service: service.clone(),
                    events: span.events.into_iter().map(|event| event.name).collect(),
                });
            }
        }
    }
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_one_order_are_exported_as_one_linked_trace() {
    let spans: Collected = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(collect))
        .with_state(spans.clone());
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_address = collector.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(collector, app).await });

    let ops = Ops::start().await;
    let dir = temp_dir("otlp");
    let config = dir.join("hub.toml");
    let token_file = dir.join("callback-token");
    std::fs::write(&token_file, "cb-otlp-token").unwrap();
    std::fs::write(
        &config,
        format!(
            r#"database_url = "sqlite:{db}"
schemas_dir = "{schemas}"
log_format = "json"
{PRINCIPALS}
[telemetry]
otlp_endpoint = "http://{collector_address}"
service_name = "order-hub-under-test"

[plugins]
dir = "{plugins}"
cache_dir = "{cache}"

[dispatch]
idle_poll_ms = 20

[targets.freight-ops]
plugin = "rest-json"
grants = ["http", "config", "log"]
settings = {{ bookings_path = "bookings" }}
http = {{ base_url = "{ops}", timeout_ms = 5000 }}
callback_token = {{ file = "{token}" }}

[[routes]]
name = "all freight"
line = "freight-booking"
target = "freight-ops"
"#,
            db = dir.join("hub.db").display(),
            schemas = repo().join("schemas").display(),
            plugins = repo().join("plugins/dist").display(),
            cache = dir.join("cache").display(),
            ops = ops.base_url(),
            token = token_file.display(),
        ),
    )
    .unwrap();
    let hub = HubProcess::start(&config, free_port()).await;
    let log = hub.log.clone();
    // The OPS already holds this booking (409): rest-json logs that it was
    // booked before, from inside the delivery attempt.
    ops.set_mode(Mode::Duplicate);

    let portal_trace = "7e1f5c0a9b8d4e3f8a2b1c0d9e8f7a6b";
    let portal_span = "1a2b3c4d5e6f7081";
    let (_, answered) = hub
        .submit_freight_traced("OTLP-1", &format!("00-{portal_trace}-{portal_span}-01"))
        .await;
    ops.wait_until("one booking", Duration::from_secs(30), |ledger| {
        ledger.bookings.len() == 1
    })
    .await;
    let ops_traceparent = ops.with(|ledger| ledger.traceparents.clone());
    assert_eq!(ops_traceparent.len(), 1, "{ops_traceparent:?}");

    // A second order the OPS answers later, by callback: the reply is a
    // span of that order's trace, however late it comes.
    ops.set_mode(Mode::Queue);
    let late_trace = "0c0ffee0000000000000000000000001";
    let (late_id, late_intake) = hub
        .submit_freight_traced("OTLP-2", &format!("00-{late_trace}-2b3c4d5e6f708192-01"))
        .await;
    eventually("the late order submitted", Duration::from_secs(30), || async {
        let (_, order) = hub.get(CUSTOMER_KEY, &format!("/v1/orders/{late_id}")).await;
        if order["status"] == "submitted" {
            Ok(())
        } else {
            Err(order.to_string())
        }
    })
    .await;
    let tracking = ops.with(|ledger| ledger.tracking.keys().next().cloned().unwrap());
    let answer = hub
        .client
        .post(hub.url("/v1/callbacks/freight-ops"))
        .bearer_auth("cb-otlp-token")
        .json(&serde_json::json!({ "trackingId": tracking, "bookingNo": "FO-LATE", "status": "CONFIRMED" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    // The outcome is committed after the OPS answered; SIGTERM drains the
    // dispatcher and flushes the exporter before the process exits.
    assert!(hub.terminate().await.success());

    let spans = spans.lock().unwrap().clone();
    let of_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == portal_trace).collect();
    let intake = of_trace
        .iter()
        .find(|s| s.name == "intake")
        .unwrap_or_else(|| panic!("no intake span in {spans:#?}"));
    let deliver = of_trace
        .iter()
        .find(|s| s.name == "deliver")
        .unwrap_or_else(|| panic!("no deliver span in {spans:#?}"));
    assert_eq!(intake.service, "order-hub-under-test");
    assert_eq!(
        intake.parent_span_id, portal_span,
        "intake is a child of the portal's span"
    );
    assert_eq!(
        answered,
        format!("00-{portal_trace}-{}-01", intake.span_id),
        "the hub answers with the exported intake span"
    );
    assert_eq!(
        deliver.parent_span_id, intake.span_id,
        "the attempt is a child of the intake"
    );
    assert_eq!(
        ops_traceparent[0],
        format!("00-{portal_trace}-{}-01", deliver.span_id),
        "the OPS request is a child of the exported attempt span"
    );
    assert!(
        deliver
            .events
            .iter()
            .any(|e| e.contains("was already booked as FO-EARLIER")),
        "the plugin's log line is an event of the attempt span: {deliver:#?}"
    );
    let reply = spans
        .iter()
        .find(|s| s.name == "reply" && s.trace_id == late_trace)
        .unwrap_or_else(|| panic!("no reply span in the late order's trace: {spans:#?}"));
    assert_eq!(
        format!("00-{late_trace}-{}-01", reply.parent_span_id),
        late_intake,
        "the reply is a child of the late order's intake"
    );

    // The JSON log: every line is JSON; the plugin's line carries the
    // attempt span's fields (order, line, target, plugin, version, trace).
    let log = log.lock().unwrap().clone();
    let lines: Vec<serde_json::Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let plugin_line = lines
        .iter()
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("was already booked"))
        })
        .unwrap_or_else(|| panic!("no plugin log line in {log:#?}"));
    let span = &plugin_line["span"];
    assert_eq!(span["name"], "deliver", "{plugin_line:#}");
    assert_eq!(span["trace_id"], portal_trace, "{plugin_line:#}");
    assert_eq!(span["line"], "freight-booking");
    assert_eq!(span["target"], "freight-ops");
    assert_eq!(span["plugin"], "rest-json");
    assert!(
        span["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{plugin_line:#}"
    );
    assert!(
        span["order_id"].as_str().is_some_and(|v| !v.is_empty()),
        "{plugin_line:#}"
    );
    assert_eq!(
        plugin_line["fields"]["plugin"], "rest-json",
        "set by the host, not the plugin"
    );
    let whole = log.join("\n");
    assert!(!whole.contains(CUSTOMER_KEY), "an API key was logged");
}
