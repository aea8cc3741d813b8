//! Answers that arrive after `submit` returned: reply correlation, OPS
//! polling and reply deadlines.
//!
//! An order whose plugin answered `pending(correlation-id)` waits in the
//! correlation ledger (see [`crate::store`]). Its answer comes back one of
//! three ways — a callback (`POST /v1/callbacks/{target}`), a message the
//! transport received (AMQP reply queue, response file; issue 5 wires
//! those), or the plugin's `poll` — and always through the plugin's
//! `on-inbound`/`poll`, which turns the OPS's words into normalized
//! [`Feedback`]. Here that feedback is matched to its order (by correlation
//! id, else order id, else OPS reference) and applied.
//!
//! **Invariants**
//! - An answer that matches no order, or that the plugin cannot read, is
//!   kept (`GET /v1/replies/unmatched`), never dropped.
//! - Polling and the reply-deadline sweep run on exactly one node at a
//!   time: the holder of the `pollers` node lease. The lease is renewed
//!   every third of its length; when its holder dies another node takes it
//!   after it expires (its token changes, fencing the old holder off).
//! - A poll that sees the same status again adds nothing to the timeline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::HubConfig;
use crate::plugins::PluginHost;
use crate::responses::ResponseFolder;
use crate::sandbox::{Feedback, FeedbackStatus, Inbound, InboundSource, Money, Waiting};
use crate::store::{LedgerEntry, ReplyUpdate, Store, StoreError, UnmatchedReply, now};
use crate::telemetry::metrics;
use crate::telemetry::trace::{self, TraceContext};
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};
use crate::transports::{HandledAs, InboundHandler, Received};

/// The node lease that makes pollers run on one node.
pub const POLLER_LEASE: &str = "pollers";

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("no target `{0}` is configured")]
    UnknownTarget(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one inbound message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InboundReport {
    /// Feedback applied to an order.
    pub applied: u32,
    /// Feedback identical to what the order already had.
    pub duplicates: u32,
    /// Kept in the unmatched list (no order, or unreadable).
    pub unmatched: u32,
    /// Why the plugin could not read the message, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

impl InboundReport {
    /// What a transport needs to know: forget the message, or also file it
    /// as unreadable.
    pub fn handled_as(&self) -> HandledAs {
        match &self.unreadable {
            Some(reason) => HandledAs::Unreadable(reason.clone()),
            None if self.applied + self.duplicates > 0 => HandledAs::Applied,
            None => HandledAs::Unmatched,
        }
    }
}

/// Reply handling of one node.
pub struct Replies {
    store: Store,
    plugins: Arc<PluginHost>,
    node: String,
    lease: Duration,
    poll_intervals: BTreeMap<String, Duration>,
    /// The OPS response folders this node polls while it holds the lease.
    folders: Vec<ResponseFolder>,
}

impl std::fmt::Debug for Replies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replies")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Replies {
    pub fn new(store: Store, plugins: Arc<PluginHost>, config: &HubConfig, node: String) -> Self {
        Replies {
            store,
            node,
            lease: Duration::from_millis(config.dispatch.poller_lease_ms),
            poll_intervals: config
                .targets
                .iter()
                .filter_map(|(name, target)| {
                    target
                        .poll_interval_ms
                        .map(|ms| (name.clone(), Duration::from_millis(ms)))
                })
                .collect(),
            folders: plugins
                .response_folders()
                .into_iter()
                .map(|(target, folder, files, max_bytes)| ResponseFolder::new(target, folder, files, max_bytes))
                .collect(),
            plugins,
        }
    }

    /// Hands an inbound message to the target's plugin and applies what it says.
    pub async fn inbound(&self, target: &str, message: Inbound) -> Result<InboundReport, ReplyError> {
        let call = self
            .plugins
            .call_for(target)
            .ok_or_else(|| ReplyError::UnknownTarget(target.to_owned()))?;
        let mut report = InboundReport::default();
        match call.on_inbound(&message).await {
            Err(error) => {
                let reason = format!("the plugin could not read it: {error}");
                self.keep(target, &message, None, reason.clone()).await?;
                report.unmatched += 1;
                report.unreadable = Some(reason);
            }
            Ok(feedback) if feedback.is_empty() => {
                let reason = "the plugin found no feedback in it".to_owned();
                self.keep(target, &message, None, reason.clone()).await?;
                report.unmatched += 1;
                report.unreadable = Some(reason);
            }
            Ok(feedback) => {
                for item in feedback {
                    self.apply(target, item, &message, &mut report).await?;
                }
            }
        }
        Ok(report)
    }

    /// Matches one piece of feedback to its order and applies it.
    async fn apply(
        &self,
        target: &str,
        feedback: Feedback,
        raw: &Inbound,
        report: &mut InboundReport,
    ) -> Result<(), StoreError> {
        let correlation = feedback.correlation_id.as_deref().or(raw.correlation_id.as_deref());
        let mut entry = match correlation {
            Some(id) => self.store.ledger_entry(target, id).await?,
            None => None,
        };
        if entry.is_none() && (feedback.order_id.is_some() || feedback.ops_ref.is_some()) {
            entry = self
                .store
                .ledger_entry_by(target, feedback.order_id.as_deref(), feedback.ops_ref.as_deref())
                .await?;
        }
        let Some(entry) = entry else {
            let reason = match correlation {
                Some(id) => format!("no order at target `{target}` waits for correlation id `{id}`"),
                None => format!("the answer names no correlation id, order or OPS reference known at `{target}`"),
            };
            self.keep(target, raw, Some(&feedback), reason).await?;
            report.unmatched += 1;
            return Ok(());
        };
        // The OPS's answer is a span of the order's trace too: portal →
        // intake → attempt → reply, one trace however late the answer comes.
        let span = tracing::info_span!(
            "reply",
            order_id = %entry.order_id,
            target,
            source = source_name(raw.source),
            trace_id = tracing::field::Empty,
        );
        let order_trace = self.store.order_traceparent(&entry.order_id).await?;
        let trace = trace::join(&span, order_trace.as_deref().and_then(TraceContext::parse));
        span.record("trace_id", trace.trace_id());
        let plan = plan(target, &feedback, raw.source, &entry);
        let applied = self
            .store
            .apply_reply(
                &entry,
                &ReplyUpdate {
                    report_key: &plan.report_key,
                    status: plan.status,
                    ledger_state: plan.ledger_state,
                    ops_ref: feedback.ops_ref.as_deref(),
                    events: std::slice::from_ref(&plan.event),
                },
            )
            .instrument(span.clone())
            .await?;
        let _in_reply = span.enter();
        if applied {
            metrics::reply("applied");
            report.applied += 1;
            tracing::info!(order_id = %entry.order_id, target, kind = plan.event.kind.as_str(), "reply applied");
        } else {
            report.duplicates += 1;
        }
        Ok(())
    }

    async fn keep(
        &self,
        target: &str,
        raw: &Inbound,
        feedback: Option<&Feedback>,
        reason: String,
    ) -> Result<(), StoreError> {
        tracing::warn!(target, source = ?raw.source, reason, "reply kept as unmatched");
        metrics::reply("unmatched");
        self.store
            .keep_unmatched(&UnmatchedReply {
                id: uuid::Uuid::now_v7().to_string(),
                target: target.to_owned(),
                source: source_name(raw.source).to_owned(),
                correlation_id: feedback
                    .and_then(|f| f.correlation_id.clone())
                    .or_else(|| raw.correlation_id.clone()),
                received_at: now(),
                reason,
                feedback: feedback.and_then(|f| serde_json::to_value(f).ok()),
                body: base64::engine::general_purpose::STANDARD.encode(&raw.body),
                content_type: raw.content_type.clone(),
            })
            .await
    }

    /// Marks every reply whose deadline passed since the last sweep.
    pub async fn sweep_overdue(&self) -> Result<u32, StoreError> {
        let mut marked = 0;
        for entry in self.store.newly_overdue(500).await? {
            let events = [NewEvent::new(
                EventKind::ReplyOverdue,
                Actor::System,
                "The operations system has not confirmed the order yet; our staff are following up",
            )
            .with_detail(json!({
                "target": entry.target,
                "correlation_id": entry.correlation_id,
                "reply_due": entry.reply_due,
            }))];
            if self.store.mark_overdue(&entry, &events).await? {
                marked += 1;
                metrics::reply_deadline_missed(&entry.target);
                tracing::warn!(order_id = %entry.order_id, target = %entry.target, due = %entry.reply_due, "reply deadline missed");
            }
        }
        Ok(marked)
    }

    /// Asks `target`'s plugin about its orders still waiting for news.
    pub async fn poll_target(&self, target: &str) -> Result<InboundReport, ReplyError> {
        let call = self
            .plugins
            .call_for(target)
            .ok_or_else(|| ReplyError::UnknownTarget(target.to_owned()))?;
        let open: Vec<LedgerEntry> = self.store.open_replies(target, 100).await?;
        let mut report = InboundReport::default();
        if open.is_empty() {
            return Ok(report);
        }
        metrics::poll_round(target);
        let waiting: Vec<Waiting> = open
            .iter()
            .map(|entry| Waiting {
                order_id: entry.order_id.clone(),
                correlation_id: entry.correlation_id.clone(),
                ops_ref: entry.ops_ref.clone(),
                submitted_at: entry.submitted_at.clone(),
            })
            .collect();
        match call.poll(&waiting).await {
            Ok(feedback) => {
                for item in feedback {
                    let raw = Inbound {
                        source: InboundSource::Poll,
                        correlation_id: item.correlation_id.clone(),
                        name: None,
                        content_type: Some("application/json".into()),
                        headers: Vec::new(),
                        body: serde_json::to_vec(&item).unwrap_or_default(),
                    };
                    self.apply(target, item, &raw, &mut report).await?;
                }
            }
            // A failed poll is retried at the next interval; nothing is lost.
            Err(error) => tracing::warn!(target, %error, "polling the OPS failed"),
        }
        Ok(report)
    }

    /// Holds the poller lease when it can and, while holding it, polls the
    /// targets that ask for it and sweeps reply deadlines. Gives the lease
    /// up on shutdown.
    pub async fn run_pollers(self: Arc<Self>, shutdown: CancellationToken) {
        let tick = (self.lease / 3)
            .min(self.poll_intervals.values().min().copied().unwrap_or(Duration::MAX))
            .min(
                self.folders
                    .iter()
                    .map(ResponseFolder::interval)
                    .min()
                    .unwrap_or(Duration::MAX),
            )
            .max(Duration::from_millis(100));
        let mut held: Option<i64> = None;
        let mut last_poll: BTreeMap<&str, Instant> = BTreeMap::new();
        loop {
            match self
                .store
                .acquire_node_lease(POLLER_LEASE, &self.node, self.lease)
                .await
            {
                Ok(Some(token)) => {
                    if held != Some(token) {
                        tracing::info!(node = %self.node, token, "this node now runs the pollers");
                    }
                    held = Some(token);
                    if let Err(error) = self.sweep_overdue().await {
                        tracing::warn!(%error, "reply deadline sweep failed");
                    }
                    for (target, interval) in &self.poll_intervals {
                        let due = last_poll
                            .get(target.as_str())
                            .is_none_or(|at| at.elapsed() >= *interval);
                        if due {
                            last_poll.insert(target, Instant::now());
                            if let Err(error) = self.poll_target(target).await {
                                tracing::warn!(target, %error, "poll round failed");
                            }
                        }
                    }
                    self.poll_folders().await;
                }
                Ok(None) => {
                    if held.take().is_some() {
                        tracing::warn!(node = %self.node, "another node took the poller lease");
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot renew the poller lease"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
        }
        if held.is_some()
            && let Err(error) = self.store.release_node_lease(POLLER_LEASE, &self.node).await
        {
            tracing::warn!(%error, "cannot give the poller lease up; it will expire");
        }
    }
}

/// The kernel's side of a transport's inbound channel for one target:
/// what the transport received goes to the target's plugin and the store.
pub struct ReplyInbox {
    pub replies: Arc<Replies>,
    pub target: String,
    pub source: InboundSource,
}

#[async_trait::async_trait]
impl InboundHandler for ReplyInbox {
    async fn handle(&self, message: Received) -> Result<HandledAs, String> {
        let inbound = Inbound {
            source: self.source,
            correlation_id: message.correlation_id,
            name: message.name,
            content_type: message.content_type,
            headers: message.headers,
            body: message.body,
        };
        match self.replies.inbound(&self.target, inbound).await {
            Ok(report) => Ok(report.handled_as()),
            Err(error) => Err(error.to_string()),
        }
    }
}

impl Replies {
    /// Polls every response folder whose interval has passed.
    pub async fn poll_folders(self: &Arc<Self>) {
        for folder in &self.folders {
            if !folder.due().await {
                continue;
            }
            let inbox = ReplyInbox {
                replies: self.clone(),
                target: folder.target().to_owned(),
                source: InboundSource::ResponseFile,
            };
            let result = folder.poll(&inbox).await;
            // An OPS that is down would otherwise log the same warning every
            // poll: warn when it starts failing, say when it is back.
            let was_failing = folder.mark_failing(result.is_err());
            match result {
                Ok(report) => {
                    if was_failing {
                        tracing::info!(target = folder.target(), "response folder reachable again");
                    }
                    if report.taken + report.unreadable + report.failed > 0 {
                        tracing::debug!(target = folder.target(), ?report, "response folder polled");
                    }
                }
                Err(error) if was_failing => tracing::debug!(%error, "response folder still unreachable"),
                Err(error) => tracing::warn!(%error, "response folder poll failed; retrying every poll interval"),
            }
        }
    }
}

/// What a feedback status does: the order's next status and the ledger
/// row's next state (`None`: unchanged), and the event kind it records.
/// Finance reports change neither: they only add their event.
fn effect(status: FeedbackStatus) -> (Option<OrderStatus>, EventKind, Option<&'static str>) {
    match status {
        FeedbackStatus::Accepted => (Some(OrderStatus::Accepted), EventKind::Accepted, Some("answered")),
        FeedbackStatus::InProgress => (Some(OrderStatus::InProgress), EventKind::InProgress, Some("answered")),
        FeedbackStatus::Rejected => (Some(OrderStatus::Rejected), EventKind::Rejected, Some("closed")),
        FeedbackStatus::Completed => (Some(OrderStatus::Completed), EventKind::Completed, Some("closed")),
        FeedbackStatus::Cancelled => (Some(OrderStatus::Cancelled), EventKind::Cancelled, Some("closed")),
        FeedbackStatus::Failed => (Some(OrderStatus::Failed), EventKind::Failed, Some("closed")),
        FeedbackStatus::ChargeConfirmed => (None, EventKind::ChargeConfirmed, None),
        FeedbackStatus::InvoiceIssued => (None, EventKind::InvoiceIssued, None),
        FeedbackStatus::PaymentReceived => (None, EventKind::PaymentReceived, None),
    }
}

/// What one matched piece of feedback changes.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    status: Option<OrderStatus>,
    ledger_state: Option<&'static str>,
    /// Equal to the last applied report's key → nothing to do (a poll that
    /// saw nothing new). Status and OPS code, plus the milestone and, for
    /// finance, document and amount: a new milestone under the same OPS
    /// code is news, the same report again is not.
    report_key: String,
    event: NewEvent,
}

/// Turns feedback into the order's timeline event: the customer reads
/// `message` and `data`; the OPS's raw code, the transport and the
/// correlation stay in the staff-only `detail`.
fn plan(target: &str, feedback: &Feedback, source: InboundSource, entry: &LedgerEntry) -> Plan {
    let (status, kind, ledger_state) = effect(feedback.status);
    let amount = feedback.amount.as_ref().filter(|money| money.is_well_formed());

    let mut report_key = format!("{}:{}", kind.as_str(), feedback.code.as_deref().unwrap_or_default());
    if let Some(milestone) = feedback.milestone {
        report_key = format!("{report_key}:{milestone}");
    }
    if kind.is_finance() {
        let (value, currency) = amount.map_or(("", ""), |m| (m.amount.as_str(), m.currency.as_str()));
        report_key = format!(
            "{report_key}:{}:{value} {currency}",
            feedback.document.as_deref().unwrap_or_default()
        );
    }

    let mut message = feedback.message.trim().to_owned();
    if message.is_empty() {
        message = default_message(kind, feedback, amount);
    }
    if !feedback.reasons.is_empty() {
        let reasons: Vec<String> = feedback
            .reasons
            .iter()
            .map(|r| match &r.field {
                Some(field) => format!("{field}: {}", r.message),
                None => r.message.clone(),
            })
            .collect();
        message = format!("{message} ({})", reasons.join("; "));
    }

    let mut data = serde_json::Map::new();
    if let Some(milestone) = feedback.milestone {
        data.insert("milestone".into(), json!(milestone));
    }
    match kind {
        EventKind::Accepted => {
            if let Some(ops_ref) = &feedback.ops_ref {
                data.insert("ops_ref".into(), json!(ops_ref));
            }
        }
        EventKind::Rejected if !feedback.reasons.is_empty() => {
            let reasons: Vec<serde_json::Value> = feedback
                .reasons
                .iter()
                .map(|r| json!({ "field": r.field, "message": r.message }))
                .collect();
            data.insert("reasons".into(), json!(reasons));
        }
        kind if kind.is_finance() => {
            if let Some(money) = amount {
                data.insert("amount".into(), json!(money.amount));
                data.insert("currency".into(), json!(money.currency));
            }
            if let Some(document) = &feedback.document {
                data.insert("document".into(), json!(document));
            }
        }
        _ => {}
    }
    if let Some(at) = feedback
        .occurred_at
        .as_deref()
        .filter(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok())
    {
        data.insert("occurred_at".into(), json!(at));
    }

    let mut detail = json!({
        "source": source,
        "correlation_id": entry.correlation_id,
        "ops_ref": feedback.ops_ref,
        "code": feedback.code,
        "occurred_at": feedback.occurred_at,
        "reasons": feedback.reasons,
        "overdue": entry.overdue_at.is_some(),
    });
    if let (Some(money), None) = (&feedback.amount, amount)
        && let Some(map) = detail.as_object_mut()
    {
        // Not shown to the customer: an amount we cannot vouch for.
        map.insert("unreadable_amount".into(), json!(money));
    }
    let mut event = NewEvent::new(kind, Actor::Target(target.to_owned()), message).with_detail(detail);
    if !data.is_empty() {
        event = event.with_data(serde_json::Value::Object(data));
    }
    Plan {
        status,
        ledger_state,
        report_key,
        event,
    }
}

/// The customer's text when the plugin gave none: the milestone's, else
/// the event's, with the OPS reference or the amount when known.
fn default_message(kind: EventKind, feedback: &Feedback, amount: Option<&Money>) -> String {
    if let Some(milestone) = feedback.milestone {
        return milestone.customer_message().to_owned();
    }
    let money = amount.map(|m| format!("{} {}", m.amount, m.currency));
    match kind {
        EventKind::Accepted => match &feedback.ops_ref {
            Some(ops_ref) => format!("Booked by the operations system as {ops_ref}"),
            None => "Accepted by the operations system".to_owned(),
        },
        EventKind::Rejected => "Refused by the operations system".to_owned(),
        EventKind::Completed => "Completed".to_owned(),
        EventKind::Cancelled => "Cancelled by the operations system".to_owned(),
        EventKind::Failed => "The operations system could not carry out the order".to_owned(),
        EventKind::ChargeConfirmed => match money {
            Some(money) => format!("Charge of {money} confirmed"),
            None => "Charge confirmed".to_owned(),
        },
        EventKind::InvoiceIssued => {
            let mut text = match &feedback.document {
                Some(document) => format!("Invoice {document} issued"),
                None => "Invoice issued".to_owned(),
            };
            if let Some(money) = money {
                text = format!("{text}: {money}");
            }
            text
        }
        EventKind::PaymentReceived => match money {
            Some(money) => format!("Payment of {money} received"),
            None => "Payment received".to_owned(),
        },
        _ => "The operations system reported progress".to_owned(),
    }
}

fn source_name(source: InboundSource) -> &'static str {
    match source {
        InboundSource::AmqpReply => "amqp-reply",
        InboundSource::ResponseFile => "response-file",
        InboundSource::HttpCallback => "http-callback",
        InboundSource::Poll => "poll",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sandbox::Reason;
    use crate::timeline::Milestone;

    fn entry() -> LedgerEntry {
        LedgerEntry {
            target: "freight-ops".into(),
            correlation_id: "TRK-1".into(),
            order_id: "order-1".into(),
            submitted_at: "2026-11-03T00:00:00Z".into(),
            reply_due: String::new(),
            state: "answered".into(),
            overdue_at: None,
            ops_ref: None,
            last_report: None,
        }
    }

    fn feedback(status: FeedbackStatus, code: &str) -> Feedback {
        Feedback {
            correlation_id: Some("TRK-1".into()),
            ops_ref: Some("FO-1".into()),
            order_id: None,
            status,
            code: Some(code.into()),
            message: String::new(),
            occurred_at: None,
            reasons: Vec::new(),
            milestone: None,
            amount: None,
            document: None,
        }
    }

    fn plan_of(feedback: &Feedback) -> Plan {
        plan("freight-ops", feedback, InboundSource::Poll, &entry())
    }

    #[test]
    fn a_milestone_is_customer_data_with_a_default_message() {
        let departed = Feedback {
            milestone: Some(Milestone::Departed),
            occurred_at: Some("2026-11-09T22:15:00+08:00".into()),
            ..feedback(FeedbackStatus::InProgress, "IN_TRANSIT")
        };
        let plan = plan_of(&departed);
        assert_eq!(plan.status, Some(OrderStatus::InProgress));
        assert_eq!(plan.event.kind, EventKind::InProgress);
        assert_eq!(plan.event.message, "Departed from origin");
        assert_eq!(
            plan.event.data,
            Some(json!({"milestone": "departed", "occurred_at": "2026-11-09T22:15:00+08:00"}))
        );
        // The OPS's code is staff-only detail.
        assert!(!plan.event.data.iter().any(|d| d.to_string().contains("IN_TRANSIT")));
        assert_eq!(
            plan.event.detail.as_ref().map(|d| &d["code"]),
            Some(&json!("IN_TRANSIT"))
        );

        // The OPS's own text wins over the default.
        let with_text = Feedback {
            message: "  Vessel MSC Aurora left Ningbo ".into(),
            ..departed.clone()
        };
        assert_eq!(plan_of(&with_text).event.message, "Vessel MSC Aurora left Ningbo");
    }

    #[test]
    fn the_report_key_changes_with_the_milestone_not_with_repetition() {
        let departed = Feedback {
            milestone: Some(Milestone::Departed),
            ..feedback(FeedbackStatus::InProgress, "IN_TRANSIT")
        };
        let arrived = Feedback {
            milestone: Some(Milestone::Arrived),
            ..departed.clone()
        };
        assert_eq!(plan_of(&departed).report_key, plan_of(&departed.clone()).report_key);
        assert_ne!(plan_of(&departed).report_key, plan_of(&arrived).report_key);
        // Without a milestone the key is what it was before milestones existed.
        assert_eq!(
            plan_of(&feedback(FeedbackStatus::InProgress, "LOADED")).report_key,
            "in-progress:LOADED"
        );
        let invoice = |document: &str| Feedback {
            document: Some(document.into()),
            amount: Some(Money {
                amount: "18650.00".into(),
                currency: "CNY".into(),
            }),
            ..feedback(FeedbackStatus::InvoiceIssued, "INVOICED")
        };
        assert_eq!(
            plan_of(&invoice("INV-1")).report_key,
            plan_of(&invoice("INV-1")).report_key
        );
        assert_ne!(
            plan_of(&invoice("INV-1")).report_key,
            plan_of(&invoice("INV-2")).report_key
        );
    }

    #[test]
    fn finance_adds_an_event_and_leaves_status_and_ledger_alone() {
        let invoice = Feedback {
            document: Some("INV-2026-0042".into()),
            amount: Some(Money {
                amount: "18650.00".into(),
                currency: "CNY".into(),
            }),
            ..feedback(FeedbackStatus::InvoiceIssued, "INVOICED")
        };
        let plan = plan_of(&invoice);
        assert_eq!((plan.status, plan.ledger_state), (None, None));
        assert_eq!(plan.event.kind, EventKind::InvoiceIssued);
        assert_eq!(plan.event.message, "Invoice INV-2026-0042 issued: 18650.00 CNY");
        assert_eq!(
            plan.event.data,
            Some(json!({"amount": "18650.00", "currency": "CNY", "document": "INV-2026-0042"}))
        );
        for (status, kind) in [
            (FeedbackStatus::ChargeConfirmed, EventKind::ChargeConfirmed),
            (FeedbackStatus::PaymentReceived, EventKind::PaymentReceived),
        ] {
            let plan = plan_of(&feedback(status, "X"));
            assert_eq!((plan.status, plan.ledger_state, plan.event.kind), (None, None, kind));
        }

        // An amount we cannot vouch for is not shown to the customer.
        let garbled = Feedback {
            amount: Some(Money {
                amount: "1,250.00".into(),
                currency: "yuan".into(),
            }),
            ..feedback(FeedbackStatus::ChargeConfirmed, "CHARGED")
        };
        let plan = plan_of(&garbled);
        assert_eq!(plan.event.data, None);
        assert_eq!(plan.event.message, "Charge confirmed");
        assert_eq!(
            plan.event.detail.as_ref().map(|d| &d["unreadable_amount"]["amount"]),
            Some(&json!("1,250.00"))
        );
    }

    #[test]
    fn accepted_and_rejected_carry_the_reference_and_the_reasons() {
        let accepted = plan_of(&feedback(FeedbackStatus::Accepted, "CONFIRMED"));
        assert_eq!(accepted.event.data, Some(json!({"ops_ref": "FO-1"})));
        assert_eq!(accepted.event.message, "Booked by the operations system as FO-1");

        let rejected = plan_of(&Feedback {
            reasons: vec![Reason {
                field: Some("/destination_port".into()),
                code: "POD_CLOSED".into(),
                message: "port closed".into(),
            }],
            ..feedback(FeedbackStatus::Rejected, "REJECTED")
        });
        assert_eq!(rejected.ledger_state, Some("closed"));
        assert_eq!(
            rejected.event.data,
            Some(json!({"reasons": [{"field": "/destination_port", "message": "port closed"}]}))
        );
        // The internal code stays in the detail.
        assert!(!rejected.event.data.iter().any(|d| d.to_string().contains("POD_CLOSED")));
        assert_eq!(
            rejected.event.message,
            "Refused by the operations system (/destination_port: port closed)"
        );
    }

    #[test]
    fn an_unmapped_ops_status_is_progress_with_its_code_for_staff() {
        let plan = plan_of(&feedback(FeedbackStatus::InProgress, "VGM_PENDING"));
        assert_eq!(plan.status, Some(OrderStatus::InProgress));
        assert_eq!(plan.event.data, None);
        assert_eq!(plan.event.message, "The operations system reported progress");
        assert_eq!(
            plan.event.detail.as_ref().map(|d| &d["code"]),
            Some(&json!("VGM_PENDING"))
        );
    }

    #[test]
    fn money_must_be_a_plain_decimal_with_an_iso_code() {
        let money = |amount: &str, currency: &str| Money {
            amount: amount.into(),
            currency: currency.into(),
        };
        for (amount, currency) in [("1250.00", "CNY"), ("-30.5", "USD"), ("0", "EUR")] {
            assert!(money(amount, currency).is_well_formed(), "{amount} {currency}");
        }
        for (amount, currency) in [
            ("1,250.00", "CNY"),
            ("1e3", "USD"),
            ("", "USD"),
            (".5", "USD"),
            ("5.", "USD"),
            ("12", "usd"),
            ("12", "US"),
        ] {
            assert!(!money(amount, currency).is_well_formed(), "{amount} {currency}");
        }
    }
}
