//! One delivery attempt's result → how its job ends.
//!
//! Pure: no I/O, so every rule (what is retried, what is parked, what the
//! customer reads) is tested without a database or a plugin.

use std::time::Duration;

use serde_json::json;

use super::backoff::RetryPolicy;
use crate::sandbox::{CallError, Outcome};
use crate::store::{AttemptRecord, JobFinish, LeasedJob, ReplyWait, later};
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};

/// What the breaker should learn from the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The OPS answered (whatever it said).
    Answered,
    /// The OPS looked unreachable or unwell.
    Failing,
}

/// Everything about the attempt besides its result.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub job: &'a LeasedJob,
    pub node: &'a str,
    pub started_at: String,
    pub plugin: String,
    pub plugin_version: String,
    pub retry: &'a RetryPolicy,
    pub reply_within: Option<Duration>,
}

impl Attempt<'_> {
    fn record(&self, outcome: &'static str, error: Option<(&str, String)>) -> AttemptRecord {
        AttemptRecord {
            started_at: self.started_at.clone(),
            node: self.node.to_owned(),
            plugin: self.plugin.clone(),
            plugin_version: self.plugin_version.clone(),
            outcome,
            error_kind: error.as_ref().map(|(kind, _)| (*kind).to_owned()),
            detail: error.map(|(_, detail)| detail),
        }
    }

    fn internal(&self) -> serde_json::Value {
        json!({
            "target": self.job.target,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "attempt": self.job.attempt,
            "round": self.job.round,
            "node": self.node,
        })
    }

    /// How the job ends given the plugin's result.
    pub fn conclude(&self, result: Result<Outcome, CallError>) -> (JobFinish, Health) {
        let target = Actor::Target(self.job.target.clone());
        let mut detail = self.internal();
        match result {
            Ok(Outcome::Accepted { ops_ref, message }) => {
                detail["ops_ref"] = json!(ops_ref);
                let text = match message {
                    Some(message) if !message.trim().is_empty() => format!("Booked as {ops_ref}: {message}"),
                    _ => format!("Booked by the operations system as {ops_ref}"),
                };
                let finish = JobFinish::Done {
                    status: OrderStatus::Accepted,
                    events: vec![
                        NewEvent::new(EventKind::Accepted, target, text)
                            .with_data(json!({ "ops_ref": ops_ref }))
                            .with_detail(detail),
                    ],
                    attempt: self.record("accepted", None),
                    reply: None,
                };
                (finish, Health::Answered)
            }
            Ok(Outcome::Pending { correlation_id }) => {
                detail["correlation_id"] = json!(correlation_id);
                let reply_due = self.reply_within.map(later).unwrap_or_default();
                detail["reply_due"] = json!(reply_due);
                let finish = JobFinish::Done {
                    status: OrderStatus::Submitted,
                    events: vec![
                        NewEvent::new(
                            EventKind::Submitted,
                            target,
                            "Sent to the operations system; waiting for its confirmation",
                        )
                        .with_detail(detail),
                    ],
                    attempt: self.record("pending", None),
                    reply: Some(ReplyWait {
                        correlation_id,
                        reply_due,
                    }),
                };
                (finish, Health::Answered)
            }
            Ok(Outcome::Rejected { reasons }) => {
                let listed: Vec<String> = reasons
                    .iter()
                    .map(|reason| match &reason.field {
                        Some(field) => format!("{field}: {}", reason.message),
                        None => reason.message.clone(),
                    })
                    .collect();
                detail["reasons"] = json!(reasons);
                let text = if listed.is_empty() {
                    "The operations system refused the order".to_owned()
                } else {
                    format!("The operations system refused the order: {}", listed.join("; "))
                };
                let finish = JobFinish::Done {
                    status: OrderStatus::Rejected,
                    events: vec![NewEvent::new(EventKind::Rejected, target, text).with_detail(detail)],
                    attempt: self.record("rejected", None),
                    reply: None,
                };
                (finish, Health::Answered)
            }
            Err(error) => self.failed(&error, detail),
        }
    }

    fn failed(&self, error: &CallError, mut detail: serde_json::Value) -> (JobFinish, Health) {
        let kind = error.kind();
        let health = if error.is_retryable() {
            Health::Failing
        } else {
            Health::Answered
        };
        detail["error_kind"] = json!(kind);
        detail["error"] = json!(error.to_string());
        if error.is_retryable() && self.retry.may_retry(self.job.attempt) {
            let delay = self.retry.delay(self.job.attempt, error.retry_after());
            let available_at = later(delay);
            // the event's own time is the commit's, which may lag behind
            detail["failed_at"] = json!(crate::store::now());
            detail["retry_at"] = json!(available_at);
            detail["retry_after_requested_ms"] = json!(error.retry_after().map(|d| d.as_millis() as u64));
            let finish = JobFinish::Retry {
                available_at,
                events: vec![
                    NewEvent::new(
                        EventKind::AttemptFailed,
                        Actor::System,
                        "Delivery to the operations system is delayed; we will try again automatically",
                    )
                    .with_detail(detail),
                ],
                attempt: self.record("retry", Some((kind, error.to_string()))),
            };
            return (finish, health);
        }
        detail["retries_exhausted"] = json!(error.is_retryable());
        let finish = JobFinish::Dead {
            events: vec![
                NewEvent::new(
                    EventKind::Failed,
                    Actor::System,
                    "We could not deliver the order to the operations system; our staff will look into it",
                )
                .with_detail(detail),
            ],
            attempt: self.record("dead", Some((kind, error.to_string()))),
        };
        (finish, health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{Failure, Reason};
    use crate::transports::TransportError;

    fn job(attempt: u32) -> LeasedJob {
        LeasedJob {
            id: "job-1".into(),
            order_id: "order-1".into(),
            target: "freight-ops".into(),
            line: "freight-forwarding".into(),
            attempt,
            round: 0,
            traceparent: None,
            queued_at: "2026-12-01T00:00:00.000000Z".into(),
            lease_token: "token".into(),
        }
    }

    fn attempt<'a>(job: &'a LeasedJob, retry: &'a RetryPolicy) -> Attempt<'a> {
        Attempt {
            job,
            node: "node-a",
            started_at: "2026-11-22T08:00:00.000000Z".into(),
            plugin: "rest-json".into(),
            plugin_version: "1.0.0".into(),
            retry,
            reply_within: Some(Duration::from_secs(60)),
        }
    }

    fn unavailable(retry_after_ms: Option<u64>) -> CallError {
        CallError::Failed(Failure {
            retryable: true,
            message: "FreightOps HTTP 503".into(),
            cause: Some(TransportError::Unavailable {
                message: "503".into(),
                retry_after_ms,
            }),
            retry_after_ms: None,
        })
    }

    #[test]
    fn accepted_books_the_order_with_the_ops_reference() {
        let (job, retry) = (job(1), RetryPolicy::default());
        let (finish, health) = attempt(&job, &retry).conclude(Ok(Outcome::Accepted {
            ops_ref: "FO-1".into(),
            message: None,
        }));
        assert_eq!(health, Health::Answered);
        let JobFinish::Done { status, events, .. } = finish else {
            panic!("expected done, got {finish:?}")
        };
        assert_eq!(status, OrderStatus::Accepted);
        assert_eq!(events[0].actor, Actor::Target("freight-ops".into()));
        assert!(events[0].message.contains("FO-1"));
        assert_eq!(
            events[0].data,
            Some(json!({"ops_ref": "FO-1"})),
            "the customer sees the reference as data"
        );
    }

    #[test]
    fn pending_waits_in_the_ledger_with_a_deadline() {
        let (job, retry) = (job(1), RetryPolicy::default());
        let (finish, _) = attempt(&job, &retry).conclude(Ok(Outcome::Pending {
            correlation_id: "TRK-1".into(),
        }));
        let JobFinish::Done {
            status,
            reply: Some(reply),
            ..
        } = finish
        else {
            panic!("expected a reply wait, got {finish:?}")
        };
        assert_eq!(status, OrderStatus::Submitted);
        assert_eq!(reply.correlation_id, "TRK-1");
        assert!(reply.reply_due > crate::store::now());
    }

    #[test]
    fn a_business_rejection_is_final_and_tells_the_customer_why() {
        let (job, retry) = (job(1), RetryPolicy::default());
        let (finish, health) = attempt(&job, &retry).conclude(Ok(Outcome::Rejected {
            reasons: vec![Reason {
                field: Some("/origin_port".into()),
                code: "unknown-port".into(),
                message: "port not served".into(),
            }],
        }));
        assert_eq!(health, Health::Answered, "a rejection proves the OPS is up");
        let JobFinish::Done { status, events, .. } = finish else {
            panic!("expected done")
        };
        assert_eq!(status, OrderStatus::Rejected);
        assert!(events[0].message.contains("/origin_port: port not served"));
    }

    #[test]
    fn retryable_failures_retry_until_the_budget_is_spent() {
        let retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff_ms: 1_000,
            ..RetryPolicy::default()
        };
        let second = job(2);
        let (finish, health) = attempt(&second, &retry).conclude(Err(unavailable(None)));
        assert_eq!(health, Health::Failing);
        let JobFinish::Retry {
            available_at,
            attempt: record,
            ..
        } = finish
        else {
            panic!("expected a retry")
        };
        assert_eq!(record.error_kind.as_deref(), Some("unavailable"));
        // second failure: base 2 s, equal jitter → at least 1 s from now
        assert!(available_at >= later(Duration::from_millis(900)));

        let third = job(3);
        let (finish, _) = attempt(&third, &retry).conclude(Err(unavailable(None)));
        let JobFinish::Dead {
            events,
            attempt: record,
        } = finish
        else {
            panic!("expected a dead letter")
        };
        assert_eq!(record.outcome, "dead");
        assert_eq!(
            events[0].detail.as_ref().map(|d| d["retries_exhausted"].clone()),
            Some(json!(true))
        );
    }

    #[test]
    fn retry_after_from_the_ops_sets_the_next_attempt() {
        let (job, retry) = (job(1), RetryPolicy::default());
        let (finish, _) = attempt(&job, &retry).conclude(Err(unavailable(Some(120_000))));
        let JobFinish::Retry { available_at, .. } = finish else {
            panic!("expected a retry")
        };
        assert!(available_at >= later(Duration::from_secs(119)));
    }

    #[test]
    fn permanent_failures_are_parked_at_once() {
        let (job, retry) = (job(1), RetryPolicy::default());
        let error = CallError::Trap {
            message: "unreachable".into(),
        };
        let (finish, health) = attempt(&job, &retry).conclude(Err(error));
        assert_eq!(health, Health::Answered);
        let JobFinish::Dead { attempt, .. } = finish else {
            panic!("expected a dead letter")
        };
        assert_eq!(attempt.error_kind.as_deref(), Some("trap"));
    }
}
