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
//! - An answer that overtakes its own submit is matched, not parked (below).
//!
//! **An answer faster than the hub's own record.** The dispatcher writes an
//! attempt's outcome — `submitted` and its ledger row — only after the
//! plugin's `submit` returned, and that returns only after the transport
//! handed the order over (the broker's confirm, the file's rename, the
//! HTTP answer). An OPS that answers at once (on the reply queue, with a
//! callback, with a response file) can therefore be heard before the row it
//! must match exists. So an answer (not a poll) that matches no row while
//! attempts of its target are in flight waits for *those* attempts — the
//! ones leased when it was looked up; later ones cannot be what the OPS
//! answers — to be recorded, and only then is it kept as unmatched:
//! - The store's timeline bell is subscribed to, and the in-flight
//!   attempts read, *before* the ledger is first read. An attempt that ends
//!   later is in that set and its commit rings the bell; one that ended
//!   earlier wrote its row before that first read. Nothing falls between.
//! - On each ring for one of their orders (and whenever the bell lagged)
//!   the attempts and the ledger are read again; the wait ends when the row
//!   is there (applied), or when none of those attempts is in flight any
//!   more (kept: they were recorded without this answer's row).
//! - It is bounded by [`overtake_wait`]: the target's wall-clock limit
//!   (no plugin call outlasts it) plus [`OVERTAKE_MARGIN`] for reading the
//!   order before and recording the outcome after, at most
//!   [`OVERTAKE_CAP`]. At the deadline the ledger is read once more, which
//!   is what finds a row written by another PostgreSQL node (the bell rings
//!   only on the node that recorded); there the store is also re-read
//!   every [`OVERTAKE_REREAD_SHARED`].
//! - A waiting answer holds only its own channel: one callback request,
//!   the target's reply consumer (its delivery is acked only after the
//!   answer is stored), the target's response folder (each folder is polled
//!   in a task of its own, apart from polls, sweeps and the poller lease).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::HubConfig;
use crate::plugins::PluginHost;
use crate::responses::ResponseFolder;
use crate::sandbox::{CallLimits, Feedback, FeedbackStatus, Inbound, InboundSource, Money, Waiting};
use crate::store::{Backend, InFlight, LedgerEntry, ReplyUpdate, Store, StoreError, UnmatchedReply, now};
use crate::telemetry::metrics;
use crate::telemetry::trace::{self, TraceContext};
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};
use crate::transports::{HandledAs, InboundHandler, Received};

/// The node lease that makes pollers run on one node.
pub const POLLER_LEASE: &str = "pollers";

/// What an attempt may take beyond its plugin call: reading the order
/// before it, recording the outcome after it, on a busy store.
pub const OVERTAKE_MARGIN: Duration = Duration::from_secs(5);
/// The longest an answer waits for the submit it may have overtaken,
/// whatever the target's wall-clock limit.
pub const OVERTAKE_CAP: Duration = Duration::from_secs(60);
/// How often a waiting answer re-reads the store on PostgreSQL, where an
/// attempt recorded by another node rings no bell on this one.
pub const OVERTAKE_REREAD_SHARED: Duration = Duration::from_millis(500);

/// How long an answer that matches no ledger row may wait for an attempt
/// of its target that is still in flight (see the module docs).
pub fn overtake_wait(limits: &CallLimits) -> Duration {
    limits.wall().saturating_add(OVERTAKE_MARGIN).min(OVERTAKE_CAP)
}

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
    /// Per target: how long an answer may wait for its submit ([`overtake_wait`]).
    overtake_waits: BTreeMap<String, Duration>,
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
            overtake_waits: config
                .targets
                .iter()
                .map(|(name, target)| (name.clone(), overtake_wait(&target.limits)))
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
        let wait = match raw.source {
            // A poll asks about orders already in the ledger, on the poller
            // loop: nothing to wait for, and no other target held up.
            InboundSource::Poll => Duration::ZERO,
            _ => self.overtake_waits.get(target).copied().unwrap_or_default(),
        };
        apply_feedback(&self.store, target, feedback, raw, wait, report).await
    }

    async fn keep(
        &self,
        target: &str,
        raw: &Inbound,
        feedback: Option<&Feedback>,
        reason: String,
    ) -> Result<(), StoreError> {
        keep(&self.store, target, raw, feedback, reason).await
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
    /// targets that ask for it, sweeps reply deadlines and starts the poll
    /// of each response folder — in a task of its own, so a file whose
    /// answer waits for its submit holds up neither the other folders nor
    /// the polls, the sweep and the lease. Gives the lease up on shutdown,
    /// once the folder polls under way are done.
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
        let mut folder_polls: Vec<Option<tokio::task::JoinHandle<()>>> = self.folders.iter().map(|_| None).collect();
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
                    self.start_folder_polls(&mut folder_polls);
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
        for poll in folder_polls.into_iter().flatten() {
            if let Err(error) = poll.await {
                tracing::warn!(%error, "a response folder poll ended abnormally");
            }
        }
        if held.is_some()
            && let Err(error) = self.store.release_node_lease(POLLER_LEASE, &self.node).await
        {
            tracing::warn!(%error, "cannot give the poller lease up; it will expire");
        }
    }
}

/// Matches one piece of feedback to its order — waiting up to `wait` for
/// an attempt of `target` in flight whose record it may have overtaken —
/// and applies it, or keeps it as unmatched.
async fn apply_feedback(
    store: &Store,
    target: &str,
    feedback: Feedback,
    raw: &Inbound,
    wait: Duration,
    report: &mut InboundReport,
) -> Result<(), StoreError> {
    let keys = Keys::of(&feedback, raw);
    let entry = match find_entry(store, target, &keys, wait).await? {
        Ok(entry) => entry,
        Err(missing) => {
            let mut reason = match keys.correlation {
                Some(id) => format!("no order at target `{target}` waits for correlation id `{id}`"),
                None => format!("the answer names no correlation id, order or OPS reference known at `{target}`"),
            };
            if let Some(waited) = missing.waited {
                let ms = waited.as_millis();
                reason = match missing.in_flight {
                    0 => format!("{reason} (after waiting {ms} ms for the target's attempts in flight to be recorded)"),
                    n => format!("{reason} (after waiting {ms} ms; {n} attempt(s) of the target still in flight)"),
                };
            }
            keep(store, target, raw, Some(&feedback), reason).await?;
            report.unmatched += 1;
            return Ok(());
        }
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
    let order_trace = store.order_traceparent(&entry.order_id).await?;
    let trace = trace::join(&span, order_trace.as_deref().and_then(TraceContext::parse));
    span.record("trace_id", trace.trace_id());
    let plan = plan(target, &feedback, raw.source, &entry);
    let applied = store
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
    store: &Store,
    target: &str,
    raw: &Inbound,
    feedback: Option<&Feedback>,
    reason: String,
) -> Result<(), StoreError> {
    tracing::warn!(target, source = ?raw.source, reason, "reply kept as unmatched");
    metrics::reply("unmatched");
    store
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

/// What a piece of feedback is matched by: its correlation id (or the
/// message's), else the order id or OPS reference it names.
#[derive(Debug, Clone, Copy)]
struct Keys<'a> {
    correlation: Option<&'a str>,
    order_id: Option<&'a str>,
    ops_ref: Option<&'a str>,
}

impl<'a> Keys<'a> {
    fn of(feedback: &'a Feedback, raw: &'a Inbound) -> Self {
        Keys {
            correlation: feedback.correlation_id.as_deref().or(raw.correlation_id.as_deref()),
            order_id: feedback.order_id.as_deref(),
            ops_ref: feedback.ops_ref.as_deref(),
        }
    }
}

/// The ledger row `keys` name at `target`, as the store has it now.
async fn ledger_entry(store: &Store, target: &str, keys: &Keys<'_>) -> Result<Option<LedgerEntry>, StoreError> {
    let mut entry = match keys.correlation {
        Some(id) => store.ledger_entry(target, id).await?,
        None => None,
    };
    if entry.is_none() && (keys.order_id.is_some() || keys.ops_ref.is_some()) {
        entry = store.ledger_entry_by(target, keys.order_id, keys.ops_ref).await?;
    }
    Ok(entry)
}

/// No ledger row for an answer, once the wait (if any) is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Missing {
    /// How long it waited for attempts in flight; `None`: none were.
    waited: Option<Duration>,
    /// Attempts of those it waited for still in flight at the deadline.
    in_flight: usize,
}

/// The first look for an answer's ledger row.
enum Lookup {
    Found(LedgerEntry),
    /// No row, and no attempt in flight that could still write it.
    Missing,
    /// No row yet, but attempts of the target are in flight.
    Overtaken(Overtaken),
}

/// The ledger row of an answer: at once, or once the attempts of `target`
/// in flight when it was looked up are recorded (bounded by `wait`).
async fn find_entry(
    store: &Store,
    target: &str,
    keys: &Keys<'_>,
    wait: Duration,
) -> Result<Result<LedgerEntry, Missing>, StoreError> {
    match look(store, target, keys, wait).await? {
        Lookup::Found(entry) => Ok(Ok(entry)),
        Lookup::Missing => Ok(Err(Missing {
            waited: None,
            in_flight: 0,
        })),
        Lookup::Overtaken(overtaken) => overtaken.settle(store, target, keys).await,
    }
}

/// Looks for the row once. With a `wait`, the bell is subscribed to and
/// the attempts in flight are read *before* the ledger, so an attempt that
/// records its row after this look is among them and rings the bell.
async fn look(store: &Store, target: &str, keys: &Keys<'_>, wait: Duration) -> Result<Lookup, StoreError> {
    if wait.is_zero() {
        return Ok(match ledger_entry(store, target, keys).await? {
            Some(entry) => Lookup::Found(entry),
            None => Lookup::Missing,
        });
    }
    let bell = store.timeline_bell();
    let in_flight: HashSet<InFlight> = store.attempts_in_flight(target).await?.into_iter().collect();
    if let Some(entry) = ledger_entry(store, target, keys).await? {
        return Ok(Lookup::Found(entry));
    }
    if in_flight.is_empty() {
        return Ok(Lookup::Missing);
    }
    Ok(Lookup::Overtaken(Overtaken {
        bell,
        in_flight,
        started: Instant::now(),
        deadline: tokio::time::Instant::now() + wait,
    }))
}

/// An answer that matched no row while attempts of its target were in
/// flight: it may have overtaken one of them.
struct Overtaken {
    /// Subscribed before the first look.
    bell: broadcast::Receiver<Arc<str>>,
    /// The attempts it waits for: in flight at the first look (a later
    /// attempt, or the same job's next one, cannot be what the OPS answered).
    in_flight: HashSet<InFlight>,
    started: Instant,
    deadline: tokio::time::Instant,
}

impl Overtaken {
    /// Waits until the row is there, none of the attempts is in flight any
    /// more, or the deadline passed — then reads the ledger a last time.
    async fn settle(
        mut self,
        store: &Store,
        target: &str,
        keys: &Keys<'_>,
    ) -> Result<Result<LedgerEntry, Missing>, StoreError> {
        let reread = match store.backend() {
            Backend::Postgres => Some(OVERTAKE_REREAD_SHARED),
            Backend::Sqlite => None,
        };
        tracing::debug!(
            target,
            in_flight = self.in_flight.len(),
            "an answer matches no order yet; waiting for the target's attempts in flight"
        );
        loop {
            let orders: HashSet<String> = self.in_flight.iter().map(|a| a.order_id.clone()).collect();
            let deadline_passed = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => true,
                () = rung_for_any(&mut self.bell, &orders) => false,
                () = sleep_or_never(reread) => false,
            };
            if !deadline_passed {
                let now_in_flight: HashSet<InFlight> = store.attempts_in_flight(target).await?.into_iter().collect();
                self.in_flight.retain(|attempt| now_in_flight.contains(attempt));
            }
            let waited = self.started.elapsed();
            if let Some(entry) = ledger_entry(store, target, keys).await? {
                tracing::info!(target, order_id = %entry.order_id, waited_ms = waited.as_millis() as u64,
                    "an answer that overtook its submit matched once the attempt was recorded");
                return Ok(Ok(entry));
            }
            if deadline_passed || self.in_flight.is_empty() {
                return Ok(Err(Missing {
                    waited: Some(waited),
                    in_flight: self.in_flight.len(),
                }));
            }
        }
    }
}

/// Returns when the bell rings for one of `orders`, or rang too often to
/// tell (lagged: look again).
async fn rung_for_any(bell: &mut broadcast::Receiver<Arc<str>>, orders: &HashSet<String>) {
    loop {
        match bell.recv().await {
            Ok(order) if orders.contains(&*order) => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            // The store is going away with the hub: the deadline decides.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

async fn sleep_or_never(period: Option<Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending::<()>().await,
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
    /// Starts a poll of every response folder whose last one is done.
    fn start_folder_polls(self: &Arc<Self>, running: &mut [Option<tokio::task::JoinHandle<()>>]) {
        for (index, slot) in running.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|poll| !poll.is_finished()) {
                continue;
            }
            let replies = self.clone();
            *slot = Some(tokio::spawn(async move { replies.poll_folder(index).await }));
        }
    }

    /// Polls the response folder `index` if its interval has passed.
    async fn poll_folder(self: Arc<Self>, index: usize) {
        let Some(folder) = self.folders.get(index) else {
            return;
        };
        if !folder.due().await {
            return;
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

/// Answers that overtake their own submit, against a real SQLite store: a
/// job is leased as the dispatcher leases it, the answer is matched before
/// the attempt is recorded, and the record is written by the same store
/// call the dispatcher makes (`finish_job`, which rings the bell).
#[cfg(test)]
mod overtaking {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::store::{AttemptRecord, ClaimRequest, JobFinish, LeasedJob, NewOrder, ReplyWait};
    use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus};

    const TARGET: &str = "wms";
    /// Longer than any test may take: a test that passes did not wait for it.
    const FOREVER: Duration = Duration::from_secs(3600);
    /// How long a test gives what must happen without waiting for a deadline.
    const PROMPTLY: Duration = Duration::from_secs(30);

    /// A fresh SQLite file, beside the other tests' ones.
    fn sqlite_url() -> String {
        let dir = std::env::temp_dir().join("order-hub-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("hub_overtake_{}.db", uuid::Uuid::now_v7().simple());
        format!("sqlite:{}", dir.join(name).display())
    }

    /// A fresh PostgreSQL database (`HUB_TEST_POSTGRES_URL` is the admin
    /// connection, as for the other tests).
    async fn postgres_url() -> String {
        let admin =
            std::env::var("HUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!("hub_overtake_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap();
        format!("{base}/{name}")
    }

    async fn store() -> Store {
        Store::connect(&sqlite_url()).await.unwrap()
    }

    /// A queued order with its outbox job for [`TARGET`].
    async fn queue(store: &Store) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        store
            .create_order(
                &NewOrder {
                    id: id.clone(),
                    tenant: "acme".into(),
                    line: "warehouse-order".into(),
                    schema_version: 1,
                    status: OrderStatus::Queued,
                    submission: "{}".into(),
                    normalized: json!({}),
                    problems: Vec::new(),
                    customer_reference: None,
                    events: vec![NewEvent::new(EventKind::Queued, Actor::System, "Queued")],
                    target: TARGET.into(),
                    traceparent: None,
                },
                None,
            )
            .await
            .unwrap();
        id
    }

    /// Leases every due job of [`TARGET`], as the dispatcher does.
    async fn lease(store: &Store, limit: u32) -> Vec<LeasedJob> {
        store
            .claim_jobs(&ClaimRequest {
                node: "node-1",
                targets: &[TARGET.to_owned()],
                limit,
                lease: Duration::from_secs(60),
            })
            .await
            .unwrap()
    }

    fn attempt(outcome: &'static str) -> AttemptRecord {
        AttemptRecord {
            started_at: now(),
            node: "node-1".into(),
            plugin: "warehouse-amqp".into(),
            plugin_version: "1.0.0".into(),
            outcome,
            error_kind: None,
            detail: None,
        }
    }

    /// Records the attempt as the dispatcher records `pending`: the order
    /// `submitted`, its ledger row under `correlation_id`.
    async fn record_submitted(store: &Store, job: &LeasedJob, correlation_id: &str) {
        let recorded = store
            .finish_job(
                job,
                JobFinish::Done {
                    status: OrderStatus::Submitted,
                    events: vec![NewEvent::new(
                        EventKind::Submitted,
                        Actor::Target(TARGET.into()),
                        "Handed to the warehouse",
                    )],
                    attempt: attempt("pending"),
                    reply: Some(ReplyWait {
                        correlation_id: correlation_id.to_owned(),
                        reply_due: String::new(),
                    }),
                },
            )
            .await
            .unwrap();
        assert!(recorded);
    }

    fn accepted(correlation_id: &str) -> (Feedback, Inbound) {
        let feedback = Feedback {
            correlation_id: Some(correlation_id.to_owned()),
            ops_ref: Some("WMS-000042".into()),
            order_id: None,
            status: FeedbackStatus::Accepted,
            code: Some("ACCEPTED".into()),
            message: "入库单已创建".into(),
            occurred_at: None,
            reasons: Vec::new(),
            milestone: None,
            amount: None,
            document: None,
        };
        let raw = Inbound {
            source: InboundSource::AmqpReply,
            correlation_id: Some(correlation_id.to_owned()),
            name: None,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body: serde_json::to_vec(&feedback).unwrap(),
        };
        (feedback, raw)
    }

    fn keys(correlation_id: &str) -> Keys<'_> {
        Keys {
            correlation: Some(correlation_id),
            order_id: None,
            ops_ref: None,
        }
    }

    async fn unmatched(store: &Store) -> Vec<UnmatchedReply> {
        store.unmatched_replies(None, 100).await.unwrap()
    }

    #[tokio::test]
    async fn an_answer_that_overtakes_its_submit_waits_for_the_record_and_matches_it() {
        let store = store().await;
        let order = queue(&store).await;
        let [job] = lease(&store, 1).await.try_into().unwrap();

        // The answer is looked up before the attempt is recorded: no row
        // yet, but the attempt is in flight — it waits instead of giving up.
        let Lookup::Overtaken(overtaken) = look(&store, TARGET, &keys(&order), FOREVER).await.unwrap() else {
            panic!("an answer with no row while its target has an attempt in flight must wait");
        };
        assert_eq!(overtaken.in_flight.len(), 1);
        // The dispatcher records the attempt (and rings the bell) …
        record_submitted(&store, &job, &order).await;
        // … and the waiting answer finds the row: woken by the bell, not
        // by its (hour-long) deadline.
        let entry = tokio::time::timeout(PROMPTLY, overtaken.settle(&store, TARGET, &keys(&order)))
            .await
            .expect("woken by the bell")
            .unwrap()
            .expect("matched once the attempt was recorded");
        assert_eq!(entry.order_id, order);
        assert_eq!(entry.correlation_id, order);
    }

    #[tokio::test]
    async fn an_answer_handed_over_before_the_submit_is_recorded_is_applied_to_the_order() {
        let store = store().await;
        let order = queue(&store).await;
        let [job] = lease(&store, 1).await.try_into().unwrap();

        let (feedback, raw) = accepted(&order);
        let answer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut report = InboundReport::default();
                apply_feedback(&store, TARGET, feedback, &raw, FOREVER, &mut report)
                    .await
                    .map(|()| report)
            })
        };
        record_submitted(&store, &job, &order).await;
        let report = tokio::time::timeout(PROMPTLY, answer).await.unwrap().unwrap().unwrap();

        assert_eq!(report.applied, 1, "{report:?}");
        assert_eq!(report.unmatched, 0, "{report:?}");
        assert_eq!(report.handled_as(), HandledAs::Applied);
        let stored = store.order(&order).await.unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Accepted);
        let kinds: Vec<EventKind> = store.timeline(&order).await.unwrap().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Queued, EventKind::Submitted, EventKind::Accepted]);
        assert!(unmatched(&store).await.is_empty());
    }

    #[tokio::test]
    async fn an_answer_with_no_attempt_in_flight_is_kept_at_once() {
        let store = store().await;
        // Queued but not leased: no attempt of the target is in flight.
        queue(&store).await;
        assert!(store.attempts_in_flight(TARGET).await.unwrap().is_empty());

        let (feedback, raw) = accepted("nobody");
        assert!(matches!(
            look(&store, TARGET, &keys("nobody"), FOREVER).await.unwrap(),
            Lookup::Missing
        ));
        let mut report = InboundReport::default();
        tokio::time::timeout(
            PROMPTLY,
            apply_feedback(&store, TARGET, feedback, &raw, FOREVER, &mut report),
        )
        .await
        .expect("kept without waiting")
        .unwrap();
        assert_eq!(report.unmatched, 1, "{report:?}");
        let kept = unmatched(&store).await;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].correlation_id.as_deref(), Some("nobody"));
        assert_eq!(
            kept[0].reason,
            "no order at target `wms` waits for correlation id `nobody`"
        );
    }

    #[tokio::test]
    async fn an_answer_still_unmatched_at_the_deadline_is_kept() {
        let store = store().await;
        queue(&store).await;
        // In flight, and never recorded while the answer waits.
        let _job = lease(&store, 1).await;

        let (feedback, raw) = accepted("nobody");
        let wait = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let mut report = InboundReport::default();
        apply_feedback(&store, TARGET, feedback, &raw, wait, &mut report)
            .await
            .unwrap();
        assert!(started.elapsed() >= wait, "kept before its deadline");
        assert_eq!(report.unmatched, 1, "{report:?}");
        let kept = unmatched(&store).await;
        assert_eq!(kept.len(), 1, "kept once");
        assert!(
            kept[0]
                .reason
                .starts_with("no order at target `wms` waits for correlation id `nobody` (after waiting ")
                && kept[0]
                    .reason
                    .ends_with("ms; 1 attempt(s) of the target still in flight)"),
            "{}",
            kept[0].reason
        );
    }

    #[tokio::test]
    async fn attempts_that_start_after_the_answer_do_not_hold_it() {
        let store = store().await;
        let first = queue(&store).await;
        let [job] = lease(&store, 1).await.try_into().unwrap();
        let Lookup::Overtaken(overtaken) = look(&store, TARGET, &keys("nobody"), FOREVER).await.unwrap() else {
            panic!("an attempt is in flight");
        };

        // The attempt it may have overtaken ends without a ledger row (a
        // retry); the same job's next attempt and another order's first
        // one start — a busy target always has some in flight.
        let retried = store
            .finish_job(
                &job,
                JobFinish::Retry {
                    available_at: now(),
                    events: Vec::new(),
                    attempt: attempt("retry"),
                },
            )
            .await
            .unwrap();
        assert!(retried);
        queue(&store).await;
        let next = lease(&store, 2).await;
        assert_eq!(next.len(), 2);
        assert!(next.iter().any(|job| job.order_id == first));

        let missing = tokio::time::timeout(PROMPTLY, overtaken.settle(&store, TARGET, &keys("nobody")))
            .await
            .expect("no wait for attempts that started after the answer")
            .unwrap()
            .expect_err("nothing to match");
        assert_eq!(missing.in_flight, 0);
        assert!(missing.waited.is_some());
    }

    /// Two nodes on one store: the attempt is recorded by the other node,
    /// so this node's bell stays silent. The wait's last read finds it.
    #[tokio::test]
    async fn a_row_another_node_recorded_is_found_by_the_read_at_the_deadline() {
        let url = sqlite_url();
        let (here, there) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
        let order = queue(&there).await;
        let [job] = lease(&there, 1).await.try_into().unwrap();
        let Lookup::Overtaken(overtaken) = look(&here, TARGET, &keys(&order), Duration::from_millis(200))
            .await
            .unwrap()
        else {
            panic!("an attempt is in flight (on the other node)");
        };
        record_submitted(&there, &job, &order).await;
        let entry = overtaken
            .settle(&here, TARGET, &keys(&order))
            .await
            .unwrap()
            .expect("the read at the deadline finds the other node's row");
        assert_eq!(entry.order_id, order);
    }

    /// On PostgreSQL the waiting node also re-reads the store meanwhile, so
    /// another node's record is found long before the deadline.
    #[tokio::test]
    async fn on_postgresql_a_row_another_node_recorded_is_found_before_the_deadline() {
        let url = postgres_url().await;
        let (here, there) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
        let order = queue(&there).await;
        let [job] = lease(&there, 1).await.try_into().unwrap();
        assert_eq!(here.attempts_in_flight(TARGET).await.unwrap().len(), 1);
        let Lookup::Overtaken(overtaken) = look(&here, TARGET, &keys(&order), FOREVER).await.unwrap() else {
            panic!("an attempt is in flight (on the other node)");
        };
        record_submitted(&there, &job, &order).await;
        let entry = tokio::time::timeout(PROMPTLY, overtaken.settle(&here, TARGET, &keys(&order)))
            .await
            .expect("found by a re-read, not at the hour-long deadline")
            .unwrap()
            .expect("matched");
        assert_eq!(entry.order_id, order);

        // And the whole answer is applied on this node.
        let (feedback, raw) = accepted(&order);
        let mut report = InboundReport::default();
        apply_feedback(&here, TARGET, feedback, &raw, FOREVER, &mut report)
            .await
            .unwrap();
        assert_eq!(report.applied, 1, "{report:?}");
        let stored = here.order(&order).await.unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Accepted);
        assert!(unmatched(&here).await.is_empty());
    }

    #[test]
    fn the_wait_is_the_wall_clock_limit_plus_a_margin_capped() {
        assert_eq!(overtake_wait(&CallLimits::default()), Duration::from_secs(35));
        let quick = CallLimits {
            wall_ms: 2_000,
            ..CallLimits::default()
        };
        assert_eq!(overtake_wait(&quick), Duration::from_secs(7));
        let slow = CallLimits {
            wall_ms: 600_000,
            ..CallLimits::default()
        };
        assert_eq!(overtake_wait(&slow), OVERTAKE_CAP);
    }
}
