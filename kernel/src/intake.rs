//! Intake: one submitted order, checked and stored durably.
//!
//! **Invariant:** an order the hub answered `202 Accepted` for is stored,
//! with its original submission, normalized form, timeline and (when it
//! continues) its outbox job, all in one transaction. An invalid order is
//! answered with its problems and not stored: nothing was accepted.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::Principal;
use crate::problem::Problem;
use crate::route::{self, Router};
use crate::schema::SchemaRegistry;
use crate::store::{Created, IdempotencyClaim, NewOrder, Store, StoreError};
use crate::telemetry::metrics::{self, Stage};
use crate::telemetry::trace::{self, TraceContext};
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};
use crate::validate::{self, Outcome, Verdict};

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("unknown business line '{0}'")]
    UnknownLine(String),
    #[error("the order has {} problem(s)", .0.problems.len())]
    Invalid(Verdict),
    #[error("idempotency key already used for a different request")]
    KeyReused { order_id: String },
    #[error("idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters")]
    BadKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the customer is told after a successful submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub order_id: String,
    pub status: OrderStatus,
    /// Reviewable problems staff will look at (empty when queued).
    pub problems: Vec<Problem>,
    /// True when an earlier submission with the same idempotency key is returned.
    pub replayed: bool,
    /// The order's trace context (for a replay: the first submission's).
    pub trace: Option<TraceContext>,
}

/// One order as a caller submitted it.
#[derive(Debug)]
pub struct Submission<'a> {
    pub caller: &'a Principal,
    pub line: &'a str,
    /// The request body exactly as received, kept as the original submission.
    pub body: &'a str,
    /// `body`, parsed.
    pub order: Value,
    pub idempotency_key: Option<&'a str>,
}

/// The intake stage.
#[derive(Debug, Clone)]
pub struct Intake {
    schemas: Arc<SchemaRegistry>,
    store: Store,
    router: Option<Arc<Router>>,
}

impl Intake {
    pub fn new(schemas: Arc<SchemaRegistry>, store: Store) -> Self {
        Intake {
            schemas,
            store,
            router: None,
        }
    }

    /// Routes valid orders to OPS targets; one no rule matches goes to review.
    pub fn with_router(mut self, router: Arc<Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Dry run: the verdict without storing anything.
    pub fn dry_run(&self, line: &str, order: Value) -> Result<Verdict, IntakeError> {
        let schema = self
            .schemas
            .latest(line)
            .ok_or_else(|| IntakeError::UnknownLine(line.to_owned()))?;
        Ok(validate::check(&schema, order))
    }

    /// Checks and stores one submission. `portal_trace` is the
    /// `traceparent` the portal sent (`None`: a new trace). The intake's
    /// span is stored with the order so that every later step continues
    /// the trace, and returned in [`Accepted`].
    pub async fn submit(
        &self,
        submission: Submission<'_>,
        portal_trace: Option<TraceContext>,
    ) -> Result<Accepted, IntakeError> {
        let line = submission.line;
        let span = tracing::info_span!(
            "intake",
            line,
            order_id = tracing::field::Empty,
            trace_id = tracing::field::Empty
        );
        let trace = trace::join(&span, portal_trace);
        span.record("trace_id", trace.trace_id());
        let started = Instant::now();
        let result = self.accept(submission, trace).instrument(span).await;
        // only known lines become label values
        if !matches!(result, Err(IntakeError::UnknownLine(_))) {
            metrics::intake_took(line, started.elapsed());
        }
        result
    }

    async fn accept(&self, submission: Submission<'_>, trace: TraceContext) -> Result<Accepted, IntakeError> {
        let Submission {
            caller,
            line,
            body,
            order,
            idempotency_key,
        } = submission;
        let claim = idempotency_key
            .map(|key| {
                let valid = !key.is_empty()
                    && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
                    && key.bytes().all(|b| b.is_ascii_graphic());
                valid.then(|| IdempotencyClaim {
                    key: key.to_owned(),
                    request_hash: request_hash(line, body),
                })
            })
            .map(|claim| claim.ok_or(IntakeError::BadKey))
            .transpose()?;
        let schema = self
            .schemas
            .latest(line)
            .ok_or_else(|| IntakeError::UnknownLine(line.to_owned()))?;
        metrics::order_stage(line, Stage::Received);
        let mut verdict = validate::check(&schema, order);
        metrics::order_stage(line, Stage::Normalized);
        let mut target = String::new();
        if verdict.outcome == Outcome::Valid {
            match route::assign(self.router.as_deref(), line, &verdict.normalized) {
                Ok(chosen) => target = chosen,
                Err(problem) => {
                    verdict.problems.push(problem);
                    verdict.outcome = Outcome::NeedsReview;
                }
            }
        }
        let (status, outcome_event) = match verdict.outcome {
            Outcome::Invalid => {
                // Refused, not stored: log the fact and the codes, never the customer's data.
                let codes: Vec<&str> = verdict.problems.iter().map(|p| p.code.as_str()).collect();
                tracing::info!(line, tenant = caller.owning_tenant(), problems = ?codes, "order refused as invalid");
                metrics::order_stage(line, Stage::Rejected);
                return Err(IntakeError::Invalid(verdict));
            }
            Outcome::Valid => (
                OrderStatus::Queued,
                NewEvent::new(
                    EventKind::Queued,
                    Actor::System,
                    "Order accepted and queued for processing",
                )
                .with_detail(json!({ "target": target })),
            ),
            Outcome::NeedsReview => (
                OrderStatus::NeedsReview,
                NewEvent::new(
                    EventKind::NeedsReview,
                    Actor::System,
                    "Some details are being checked by our staff",
                )
                .with_detail(json!({ "problems": verdict.problems })),
            ),
        };
        let order_id = uuid::Uuid::now_v7().to_string();
        tracing::Span::current().record("order_id", order_id.as_str());
        tracing::info!(order_id, line, status = status.as_str(), "order accepted");
        let new_order = NewOrder {
            id: order_id,
            tenant: caller.owning_tenant().to_owned(),
            line: line.to_owned(),
            schema_version: schema.version,
            status,
            submission: body.to_owned(),
            customer_reference: verdict
                .normalized
                .get("customer_reference")
                .and_then(Value::as_str)
                .map(str::to_owned),
            normalized: verdict.normalized,
            problems: verdict.problems.clone(),
            events: vec![
                NewEvent::new(EventKind::Received, caller.actor(), "Order received"),
                NewEvent::new(EventKind::Normalized, Actor::System, "Order details checked")
                    .with_detail(json!({ "schema_version": schema.version, "problems": verdict.problems.len() })),
                outcome_event,
            ],
            target,
            traceparent: Some(trace.traceparent()),
        };
        match self.store.create_order(&new_order, claim.as_ref()).await? {
            Created::New(order_id) => {
                metrics::order_stage(
                    line,
                    if status == OrderStatus::Queued {
                        Stage::Queued
                    } else {
                        Stage::NeedsReview
                    },
                );
                Ok(Accepted {
                    order_id,
                    status,
                    problems: verdict.problems,
                    replayed: false,
                    trace: Some(trace),
                })
            }
            Created::Replayed {
                order_id,
                same_request: true,
            } => {
                let stored = self.store.order(&order_id).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("idempotency key points at missing order {order_id}"))
                })?;
                Ok(Accepted {
                    order_id,
                    status: stored.status,
                    problems: stored.problems,
                    replayed: true,
                    trace: stored.traceparent.as_deref().and_then(TraceContext::parse),
                })
            }
            Created::Replayed {
                order_id,
                same_request: false,
            } => Err(IntakeError::KeyReused { order_id }),
        }
    }
}

fn request_hash(line: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(line.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}
