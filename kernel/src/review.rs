//! The review queue: staff fix what the schema calls fixable.
//!
//! Corrections are a JSON Merge Patch (RFC 7396) on the normalized order and
//! are re-checked with the very rules intake used (normalization is
//! idempotent), so a release can never smuggle in an invalid order.
//!
//! **Invariant:** every staff action is on the order's timeline with the
//! staff member as actor, in the same transaction as the status change.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::Principal;
use crate::route::{self, NO_ROUTE, Router};
use crate::schema::SchemaRegistry;
use crate::store::{OrderRecord, ReviewDecision, Store, StoreError};
use crate::telemetry::metrics::{self, Stage};
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};
use crate::validate::{self, Outcome, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("order {0} not found")]
    NotFound(String),
    #[error("order {id} is {status}, not waiting for review", status = .status.as_str())]
    NotInReview { id: String, status: OrderStatus },
    #[error("the corrected order still has {} problem(s)", .0.problems.len())]
    StillInvalid(Verdict),
    #[error("a rejection needs a reason the customer can act on")]
    MissingReason,
    #[error("the schema version {version} of line '{line}' is no longer loaded")]
    SchemaGone { line: String, version: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a JSON Merge Patch sets (or replaces a parent of) `pointer`.
fn patch_touches(patch: &Value, pointer: &str) -> bool {
    let mut node = patch;
    for token in crate::problem::pointer_tokens(pointer) {
        match node {
            Value::Object(map) => match map.get(&token) {
                Some(child) => node = child,
                None => return false,
            },
            // A non-object replaces everything below it.
            _ => return true,
        }
    }
    true
}

#[derive(Debug, Clone)]
pub struct Review {
    schemas: Arc<SchemaRegistry>,
    store: Store,
    router: Option<Arc<Router>>,
}

impl Review {
    pub fn new(schemas: Arc<SchemaRegistry>, store: Store) -> Self {
        Review {
            schemas,
            store,
            router: None,
        }
    }

    /// Released orders are routed afresh; one no rule takes stays in review.
    pub fn with_router(mut self, router: Arc<Router>) -> Self {
        self.router = Some(router);
        self
    }

    pub async fn queue(
        &self,
        line: Option<&str>,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, ReviewError> {
        Ok(self.store.review_queue(line, after, limit).await?)
    }

    async fn in_review(&self, order_id: &str) -> Result<OrderRecord, ReviewError> {
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or_else(|| ReviewError::NotFound(order_id.to_owned()))?;
        if order.status != OrderStatus::NeedsReview {
            return Err(ReviewError::NotInReview {
                id: order.id,
                status: order.status,
            });
        }
        Ok(order)
    }

    /// Applies `corrections` and releases the order if it is now valid.
    pub async fn release(
        &self,
        staff: &Principal,
        order_id: &str,
        corrections: Option<&Value>,
        note: Option<&str>,
    ) -> Result<OrderRecord, ReviewError> {
        let order = self.in_review(order_id).await?;
        let schema =
            self.schemas
                .version(&order.line, order.schema_version)
                .ok_or_else(|| ReviewError::SchemaGone {
                    line: order.line.clone(),
                    version: order.schema_version,
                })?;
        let mut corrected = order.normalized.clone();
        if let Some(patch) = corrections {
            json_patch::merge(&mut corrected, patch);
        }
        let mut verdict = validate::check(&schema, corrected);
        // A problem staff did not touch stays open, even when re-normalizing
        // the stored form would no longer see it (a bare weight moved under
        // its canonical name reads as kg): releasing means *fixing*.
        let untouched: Vec<_> = order
            .problems
            .iter()
            // routing is decided afresh below
            .filter(|p| p.code != NO_ROUTE)
            .filter(|p| !corrections.is_some_and(|patch| patch_touches(patch, &p.pointer)))
            .filter(|p| {
                !verdict
                    .problems
                    .iter()
                    .any(|v| v.pointer == p.pointer && v.code == p.code)
            })
            .cloned()
            .collect();
        if !untouched.is_empty() {
            verdict.problems.extend(untouched);
            verdict.outcome = Outcome::NeedsReview;
        }
        if verdict.outcome != Outcome::Valid {
            return Err(ReviewError::StillInvalid(verdict));
        }
        let target = match route::assign(self.router.as_deref(), &order.line, &verdict.normalized) {
            Ok(target) => target,
            Err(problem) => {
                verdict.problems.push(problem);
                verdict.outcome = Outcome::NeedsReview;
                return Err(ReviewError::StillInvalid(verdict));
            }
        };
        let decision = ReviewDecision {
            order_id: order.id.clone(),
            expected_revision: order.revision,
            status: OrderStatus::Queued,
            normalized: verdict.normalized,
            problems: Vec::new(),
            events: vec![
                NewEvent::new(
                    EventKind::Reviewed,
                    staff.actor(),
                    "Details checked and completed by our staff",
                )
                .with_detail(json!({ "corrections": corrections, "note": note, "resolved": order.problems })),
                NewEvent::new(
                    EventKind::Queued,
                    Actor::System,
                    "Order accepted and queued for processing",
                )
                .with_detail(json!({ "target": target })),
            ],
            target,
        };
        self.store.decide_review(&decision).await?;
        tracing::info!(order_id, reviewer = staff.id, "order released from review");
        metrics::order_stage(&order.line, Stage::Reviewed);
        metrics::order_stage(&order.line, Stage::Queued);
        self.store
            .order(order_id)
            .await?
            .ok_or_else(|| ReviewError::NotFound(order_id.to_owned()))
    }

    /// Rejects the order; `reason` is shown to the customer.
    pub async fn reject(
        &self,
        staff: &Principal,
        order_id: &str,
        reason: &str,
        note: Option<&str>,
    ) -> Result<OrderRecord, ReviewError> {
        if reason.trim().is_empty() {
            return Err(ReviewError::MissingReason);
        }
        let order = self.in_review(order_id).await?;
        let decision = ReviewDecision {
            order_id: order.id.clone(),
            expected_revision: order.revision,
            status: OrderStatus::Rejected,
            normalized: order.normalized.clone(),
            problems: order.problems.clone(),
            events: vec![
                NewEvent::new(EventKind::Rejected, staff.actor(), reason.trim()).with_detail(json!({ "note": note })),
            ],
            target: String::new(),
        };
        self.store.decide_review(&decision).await?;
        tracing::info!(order_id, reviewer = staff.id, "order rejected in review");
        metrics::order_stage(&order.line, Stage::Rejected);
        self.store
            .order(order_id)
            .await?
            .ok_or_else(|| ReviewError::NotFound(order_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::patch_touches;
    use serde_json::json;

    #[test]
    fn merge_patch_coverage() {
        let patch = json!({"origin_port": "CNSHA", "cargo_lines": [{"gross_weight_kg": 10}], "shipper": {"name": "x"}});
        assert!(patch_touches(&patch, "/origin_port"));
        assert!(
            patch_touches(&patch, "/cargo_lines/0/gross_weight_kg"),
            "arrays are replaced whole"
        );
        assert!(patch_touches(&patch, "/shipper/name"));
        assert!(!patch_touches(&patch, "/shipper/address"));
        assert!(!patch_touches(&patch, "/destination_port"));
    }
}
