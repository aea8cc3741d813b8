//! Prometheus metrics: what the hub counts, under which names.
//!
//! Every metric the hub records is named here, with a function per fact
//! ("an order reached a stage", "a delivery attempt ended"), so call sites
//! read as sentences and the names, labels and units cannot drift apart
//! between stages. Recording goes through the `metrics` facade (cheap
//! atomic updates, no locks on the hot path); the Prometheus exporter
//! renders them at `GET /metrics`.
//!
//! Two kinds of figures:
//! - **events** (counters, histograms) are recorded where they happen;
//! - **levels** (queue depth, dead letters waiting, in-flight jobs, breaker
//!   state, review queue) are read from the store and the dispatcher at
//!   scrape time ([`crate::api`] calls [`Levels::record`]), so they are right
//!   even after a restart and across nodes sharing a store.
//!
//! The recorder is process-wide (the `metrics` facade has one): a process
//! running one hub — `hub serve` — exports exactly that hub. Label values
//! are bounded: business lines and targets come from configuration,
//! outcomes and stages from the fixed vocabularies below; order ids never
//! become labels.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::dispatch::{BreakerState, LaneStatus};
use crate::store::StoreLevels;

/// Latency buckets in seconds: 1 ms … 60 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];
/// Fuel buckets (≈ WebAssembly instructions) per plugin call.
const FUEL_BUCKETS: [f64; 8] = [1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its
/// handle; `None` when another recorder was installed first, in which case
/// `/metrics` says so rather than serving nothing.
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|builder| builder.set_buckets_for_metric(Matcher::Suffix("_fuel".into()), &FUEL_BUCKETS))
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot install the Prometheus recorder; /metrics will answer 503");
                    None
                }
            }
        })
        .clone()
}

/// The text exposition of every metric recorded so far.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "orderhub_orders_total",
        "Orders per business line reaching an intake or review stage: received, normalized, queued, needs_review, reviewed (released by staff), rejected (invalid at intake or by staff)"
    );
    describe_histogram!(
        "orderhub_intake_duration_seconds",
        Unit::Seconds,
        "Intake of one order: normalize, validate, route and commit"
    );
    describe_counter!(
        "orderhub_dispatch_attempts_total",
        "Delivery attempts per target and outcome (accepted, submitted, rejected, retry, dead-letter, released)"
    );
    describe_counter!(
        "orderhub_dispatch_retries_total",
        "Attempts that ended in a scheduled retry"
    );
    describe_counter!("orderhub_dead_letters_total", "Jobs parked as dead letters");
    describe_histogram!(
        "orderhub_dispatch_attempt_duration_seconds",
        Unit::Seconds,
        "One delivery attempt: plugin call including its transport calls"
    );
    describe_histogram!(
        "orderhub_queued_to_delivered_seconds",
        Unit::Seconds,
        "From the job's entry into the outbox to the OPS's answer to its delivering attempt (accepted, submitted or rejected)"
    );
    describe_counter!(
        "orderhub_breaker_opened_total",
        "Times a target's circuit breaker opened"
    );
    describe_gauge!(
        "orderhub_queue_depth",
        "Outbox jobs per target and state (pending, leased)"
    );
    describe_gauge!("orderhub_dead_letters", "Dead letters waiting per target");
    describe_gauge!("orderhub_review_queue_depth", "Orders waiting for staff review");
    describe_gauge!("orderhub_dispatch_in_flight", "Jobs this node is delivering per target");
    describe_gauge!(
        "orderhub_breaker_state",
        "Circuit breaker per target on this node: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(
        "orderhub_replies_total",
        "OPS answers after submit: applied or unmatched"
    );
    describe_counter!(
        "orderhub_reply_deadline_misses_total",
        "Orders whose OPS answer did not arrive in time"
    );
    describe_counter!("orderhub_polls_total", "Poll rounds through plugins");
    describe_counter!(
        "orderhub_plugin_calls_total",
        "Plugin calls per plugin, version, function and result (ok or the error kind)"
    );
    describe_histogram!(
        "orderhub_plugin_call_duration_seconds",
        Unit::Seconds,
        "One plugin call: instance from the pool, guest code and host calls"
    );
    describe_histogram!(
        "orderhub_plugin_call_fuel",
        "Fuel (≈ WebAssembly instructions) one plugin call consumed"
    );
    describe_counter!(
        "orderhub_webhook_deliveries_total",
        "Webhook delivery attempts per outcome (delivered, retrying, failed, disabled, held)"
    );
    describe_histogram!(
        "orderhub_webhook_delivery_duration_seconds",
        Unit::Seconds,
        "One webhook delivery attempt"
    );
    describe_counter!(
        "orderhub_http_requests_total",
        "API requests per method, route and status"
    );
    describe_histogram!(
        "orderhub_http_request_duration_seconds",
        Unit::Seconds,
        "API request handling time per method and route"
    );
    describe_gauge!("orderhub_plugins_loaded", "Plugin versions loaded on this node");
}

/// A stage an order passed in intake or review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Received,
    Normalized,
    Queued,
    NeedsReview,
    Reviewed,
    Rejected,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Normalized => "normalized",
            Stage::Queued => "queued",
            Stage::NeedsReview => "needs_review",
            Stage::Reviewed => "reviewed",
            Stage::Rejected => "rejected",
        }
    }
}

pub fn order_stage(line: &str, stage: Stage) {
    counter!("orderhub_orders_total", "line" => line.to_owned(), "stage" => stage.as_str()).increment(1);
}

pub fn intake_took(line: &str, took: Duration) {
    histogram!("orderhub_intake_duration_seconds", "line" => line.to_owned()).record(took.as_secs_f64());
}

/// One delivery attempt ended with `outcome` after `took`.
pub fn dispatch_attempt(target: &str, outcome: &'static str, took: Duration) {
    counter!("orderhub_dispatch_attempts_total", "target" => target.to_owned(), "outcome" => outcome).increment(1);
    histogram!("orderhub_dispatch_attempt_duration_seconds", "target" => target.to_owned()).record(took.as_secs_f64());
    match outcome {
        "retry" => counter!("orderhub_dispatch_retries_total", "target" => target.to_owned()).increment(1),
        "dead-letter" => counter!("orderhub_dead_letters_total", "target" => target.to_owned()).increment(1),
        _ => {}
    }
}

/// The OPS first answered a job of `target` `waited` after it was queued.
pub fn queued_to_delivered(target: &str, waited: Duration) {
    histogram!("orderhub_queued_to_delivered_seconds", "target" => target.to_owned()).record(waited.as_secs_f64());
}

pub fn breaker_opened(target: &str) {
    counter!("orderhub_breaker_opened_total", "target" => target.to_owned()).increment(1);
}

/// What happened to an answer that came after `submit`.
pub fn reply(kind: &'static str) {
    counter!("orderhub_replies_total", "kind" => kind).increment(1);
}

pub fn reply_deadline_missed(target: &str) {
    counter!("orderhub_reply_deadline_misses_total", "target" => target.to_owned()).increment(1);
}

pub fn poll_round(target: &str) {
    counter!("orderhub_polls_total", "target" => target.to_owned()).increment(1);
}

/// One plugin call: which, how it ended (`ok` or the error kind), how long, how much fuel.
pub fn plugin_call(
    plugin: &str,
    version: &str,
    function: &'static str,
    result: &'static str,
    took: Duration,
    fuel: u64,
) {
    let labels = [
        ("plugin", plugin.to_owned()),
        ("version", version.to_owned()),
        ("function", function.to_owned()),
    ];
    let mut with_result = labels.to_vec();
    with_result.push(("result", result.to_owned()));
    counter!("orderhub_plugin_calls_total", &with_result).increment(1);
    histogram!("orderhub_plugin_call_duration_seconds", &labels).record(took.as_secs_f64());
    // u64 → f64 loses precision only above 2^53 instructions
    #[allow(clippy::cast_precision_loss)]
    histogram!("orderhub_plugin_call_fuel", &labels).record(fuel as f64);
}

pub fn webhook_delivery(outcome: &'static str, took: Duration) {
    counter!("orderhub_webhook_deliveries_total", "outcome" => outcome).increment(1);
    histogram!("orderhub_webhook_delivery_duration_seconds").record(took.as_secs_f64());
}

pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    counter!(
        "orderhub_http_requests_total",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(
        "orderhub_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(took.as_secs_f64());
}

/// Levels read at scrape time: the store's backlog and this node's lanes.
#[derive(Debug)]
pub struct Levels<'a> {
    pub store: &'a StoreLevels,
    pub lanes: &'a [LaneStatus],
    /// Every configured target, so that an empty one reads 0 rather than
    /// vanishing (an alert on `orderhub_queue_depth > N` sees it).
    pub targets: &'a [String],
    pub plugins_loaded: usize,
}

impl Levels<'_> {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^53
    pub fn record(&self) {
        let jobs = |target: &str, state: &str| {
            self.store
                .jobs
                .iter()
                .find(|(t, s, _)| t == target && s == state)
                .map_or(0, |(_, _, n)| *n) as f64
        };
        for target in self.targets {
            for state in ["pending", "leased"] {
                gauge!("orderhub_queue_depth", "target" => target.clone(), "state" => state).set(jobs(target, state));
            }
            gauge!("orderhub_dead_letters", "target" => target.clone()).set(jobs(target, "dead"));
        }
        gauge!("orderhub_review_queue_depth").set(self.store.review_queue as f64);
        for lane in self.lanes {
            let breaker = match lane.breaker {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
            };
            gauge!("orderhub_dispatch_in_flight", "target" => lane.target.clone()).set(f64::from(lane.in_flight));
            gauge!("orderhub_breaker_state", "target" => lane.target.clone()).set(breaker);
        }
        gauge!("orderhub_plugins_loaded").set(self.plugins_loaded as f64);
    }
}
