//! Durable dispatch: outbox jobs → plugin calls → recorded outcomes.
//!
//! The dispatcher of a node leases due jobs from the outbox
//! ([`crate::store`] holds the SQL and its invariants), runs each through
//! its target's plugin, and records how it ended — accepted, waiting for a
//! reply, rejected, to be retried, or parked as a dead letter.
//!
//! **Guarantees**
//! - *Nothing is lost*: a job leaves the outbox only in the transaction
//!   that records its outcome. A node that dies holding jobs stops renewing
//!   their leases; any node takes them again when the leases expire.
//! - *Nothing is booked twice*: delivery is at-least-once, and every
//!   attempt hands the plugin the same idempotency key (the order id), which
//!   the plugin passes to the OPS (header, message id, file name).
//! - *One broken OPS holds up no other*: each target has its own
//!   concurrency limit, retry policy and circuit breaker; a target whose
//!   breaker is open is simply not asked for jobs, so its orders wait
//!   without consuming attempts while other targets go on.
//! - *Shutdown is graceful*: on the shutdown signal no job is taken any
//!   more; jobs in flight get `shutdown_grace_ms` to finish, the rest are
//!   given back to the outbox (their attempt not counted).

mod attempt;
pub mod backoff;
pub mod breaker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use attempt::{Attempt, Health};
pub use backoff::RetryPolicy;
pub use breaker::{Admission, Breaker, BreakerPolicy, BreakerState};

use crate::config::{DispatchConfig, HubConfig};
use crate::plugins::PluginHost;
use crate::sandbox::{CallError, PluginOrder};
use crate::store::{ClaimRequest, JobFinish, LeasedJob, Store, now};
use crate::telemetry::metrics;
use crate::telemetry::trace::{self, TraceContext};

/// One target's lane on this node.
struct Lane {
    permits: Arc<Semaphore>,
    concurrency: u32,
    retry: RetryPolicy,
    breaker: Breaker,
    reply_within: Option<Duration>,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
}

/// A target as operators see it on this node.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    pub target: String,
    /// `closed`, `open` (degraded: its jobs wait) or `half-open` (probing).
    pub breaker: BreakerState,
    pub degraded: bool,
    pub breaker_opened: u64,
    pub in_flight: u32,
    pub concurrency: u32,
    /// Jobs this node finished as delivered (accepted, pending or rejected) since start.
    pub delivered: u64,
    pub failed_attempts: u64,
}

struct Inner {
    store: Store,
    plugins: Arc<PluginHost>,
    settings: DispatchConfig,
    node: String,
    lanes: BTreeMap<String, Lane>,
    /// Jobs this node holds, for lease renewal and release on shutdown.
    held: Mutex<HashMap<String, LeasedJob>>,
    /// Which target is asked first in the next claim round (fairness).
    turn: std::sync::atomic::AtomicUsize,
}

/// The dispatcher of one node; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

/// This node's name: configured, or host name + process id + a random suffix
/// (two processes on one host, or a restarted one, never share a name).
pub fn node_name(configured: Option<&str>) -> String {
    if let Some(name) = configured {
        return name.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".to_owned());
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

impl Dispatcher {
    pub fn new(store: Store, plugins: Arc<PluginHost>, config: &HubConfig, node: String) -> Self {
        let lanes = config
            .targets
            .iter()
            .map(|(name, target)| {
                let lane = Lane {
                    permits: Arc::new(Semaphore::new(target.concurrency as usize)),
                    concurrency: target.concurrency,
                    retry: target.retry.clone(),
                    breaker: Breaker::new(target.breaker.clone()),
                    reply_within: target.reply_within_ms.map(Duration::from_millis),
                    delivered: AtomicU64::new(0),
                    failed_attempts: AtomicU64::new(0),
                };
                (name.clone(), lane)
            })
            .collect();
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                plugins,
                settings: config.dispatch.clone(),
                node,
                lanes,
                held: Mutex::new(HashMap::new()),
                turn: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Every target's lane on this node.
    pub fn lanes(&self) -> Vec<LaneStatus> {
        self.inner
            .lanes
            .iter()
            .map(|(name, lane)| {
                let breaker = lane.breaker.state();
                LaneStatus {
                    target: name.clone(),
                    breaker,
                    degraded: breaker != BreakerState::Closed,
                    breaker_opened: lane.breaker.times_opened(),
                    in_flight: lane
                        .concurrency
                        .saturating_sub(u32::try_from(lane.permits.available_permits()).unwrap_or(u32::MAX)),
                    concurrency: lane.concurrency,
                    delivered: lane.delivered.load(Ordering::Relaxed),
                    failed_attempts: lane.failed_attempts.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, LeasedJob>> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes and runs jobs until `shutdown` is cancelled, then drains.
    pub async fn run(&self, shutdown: CancellationToken) {
        let settings = &self.inner.settings;
        let workers = settings.workers as usize;
        let idle = Duration::from_millis(settings.idle_poll_ms);
        let lease = Duration::from_millis(settings.lease_ms);
        let mut renew = tokio::time::interval(lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let bell = self.inner.store.outbox_bell();
        tracing::info!(node = %self.inner.node, targets = self.inner.lanes.len(), "dispatcher started");
        loop {
            while tasks.try_join_next().is_some() {}
            let free = workers.saturating_sub(tasks.len());
            let mut filled = false;
            if free > 0 {
                match self.claim(free).await {
                    Ok(jobs) => {
                        filled = jobs.len() >= free;
                        for (job, probe) in jobs {
                            let dispatcher = self.clone();
                            // One span per delivery attempt of an order; the
                            // plugin's log lines are events inside it.
                            let span = tracing::info_span!(
                                "deliver",
                                order_id = %job.order_id,
                                line = %job.line,
                                target = %job.target,
                                attempt = job.attempt,
                                plugin = tracing::field::Empty,
                                version = tracing::field::Empty,
                                trace_id = tracing::field::Empty,
                            );
                            // A span of the order's trace (a new trace for
                            // orders stored before traces were kept).
                            let trace = trace::join(&span, job.traceparent.as_deref().and_then(TraceContext::parse));
                            span.record("trace_id", trace.trace_id());
                            tasks.spawn(
                                async move {
                                    dispatcher.deliver(&job, probe, trace).await;
                                    // not reached when aborted at shutdown: then `drain` gives it back
                                    dispatcher.held().remove(&job.id);
                                }
                                .instrument(span),
                            );
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot take jobs from the outbox; trying again"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = renew.tick() => self.renew(lease).await,
                () = tokio::time::sleep(idle), if !filled => {}
                () = bell.notified(), if !filled => {}
            }
        }
        self.drain(tasks).await;
    }

    /// Leases jobs for every target that can take more: as many as its free
    /// slots when its breaker is closed, one probe when half-open, none
    /// when open — and never more than the node's free workers. Per target,
    /// so a slow target's backlog never fills the workers another target
    /// could use, and a job never waits here for a slot (another node could
    /// be running it). Targets take turns being asked first.
    async fn claim(&self, free: usize) -> Result<Vec<(LeasedJob, bool)>, crate::store::StoreError> {
        let mut candidates = Vec::new();
        for (name, lane) in &self.inner.lanes {
            let available = lane.permits.available_permits();
            if available == 0 {
                continue;
            }
            match lane.breaker.admission() {
                Admission::Any => candidates.push((name.clone(), available, false)),
                Admission::Probe => candidates.push((name.clone(), 1, true)),
                Admission::None => {}
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed) % candidates.len();
        candidates.rotate_left(turn);
        let names: Vec<String> = candidates.iter().map(|(name, _, _)| name.clone()).collect();
        let due = self.inner.store.due_targets(&names).await?;
        let lease = Duration::from_millis(self.inner.settings.lease_ms);
        let mut jobs = Vec::new();
        for (target, slots, probe) in candidates.into_iter().filter(|(name, _, _)| due.contains(name)) {
            let limit = slots.min(free.saturating_sub(jobs.len()));
            if limit == 0 {
                break;
            }
            let claimed = self
                .inner
                .store
                .claim_jobs(&ClaimRequest {
                    node: &self.inner.node,
                    targets: std::slice::from_ref(&target),
                    limit: u32::try_from(limit).unwrap_or(u32::MAX),
                    lease,
                })
                .await?;
            if probe
                && !claimed.is_empty()
                && let Some(lane) = self.inner.lanes.get(&target)
            {
                tracing::info!(target, "circuit breaker half-open: sending one probe");
                lane.breaker.probe_started();
            }
            jobs.extend(claimed.into_iter().map(|job| (job, probe)));
        }
        let mut held = self.held();
        for (job, _) in &jobs {
            held.insert(job.id.clone(), job.clone());
        }
        Ok(jobs)
    }

    async fn renew(&self, lease: Duration) {
        let jobs: Vec<(String, String)> = self
            .held()
            .values()
            .map(|job| (job.id.clone(), job.lease_token.clone()))
            .collect();
        if let Err(error) = self.inner.store.renew_leases(&jobs, lease).await {
            tracing::warn!(%error, jobs = jobs.len(), "cannot renew job leases");
        }
    }

    /// Runs one job to its recorded end (or leaves its lease to expire
    /// when it cannot even start).
    async fn deliver(&self, job: &LeasedJob, probe: bool, trace: TraceContext) {
        let Some(lane) = self.inner.lanes.get(&job.target) else {
            return;
        };
        let Ok(_permit) = lane.permits.clone().acquire_owned().await else {
            return;
        };
        // The breaker may have opened while this job waited for its slot:
        // give it back untried rather than call an OPS known to be down.
        if !probe && lane.breaker.state() == BreakerState::Open {
            if let Err(error) = self.inner.store.finish_job(job, JobFinish::Release).await {
                tracing::warn!(order_id = %job.order_id, %error, "cannot give a job back; its lease will expire");
            }
            return;
        }
        let started_at = now();
        let started = std::time::Instant::now();
        let (finish, health, plugin) = match self.call(job, trace).await {
            Ok((result, plugin, version)) => {
                let attempt = Attempt {
                    job,
                    node: &self.inner.node,
                    started_at,
                    plugin: plugin.clone(),
                    plugin_version: version.clone(),
                    retry: &lane.retry,
                    reply_within: lane.reply_within,
                };
                let (finish, health) = attempt.conclude(result);
                (finish, health, format!("{plugin}@{version}"))
            }
            Err(error) => {
                // The order could not even be handed to a plugin (store
                // unreachable, target unbound): keep the lease; it expires
                // and the job is taken again.
                tracing::warn!(order_id = %job.order_id, target = %job.target, %error, "cannot start delivery");
                return;
            }
        };
        match health {
            Health::Answered => lane.breaker.record_answer(),
            Health::Failing => {
                lane.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if lane.breaker.record_failure() {
                    metrics::breaker_opened(&job.target);
                    tracing::warn!(target = %job.target, "circuit breaker opened: the target is degraded, its jobs wait");
                }
            }
        }
        let delivered = matches!(finish, JobFinish::Done { .. });
        let outcome = match &finish {
            JobFinish::Done { status, .. } => status.as_str(),
            JobFinish::Retry { .. } => "retry",
            JobFinish::Dead { .. } => "dead-letter",
            JobFinish::Release => "released",
        };
        metrics::dispatch_attempt(&job.target, outcome, started.elapsed());
        if delivered && let Ok(queued) = chrono::DateTime::parse_from_rfc3339(&job.queued_at) {
            let waited = chrono::Utc::now().signed_duration_since(queued);
            metrics::queued_to_delivered(&job.target, waited.to_std().unwrap_or_default());
        }
        match self.inner.store.finish_job(job, finish).await {
            Ok(true) => {
                if delivered {
                    lane.delivered.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(order_id = %job.order_id, target = %job.target, plugin, attempt = job.attempt, outcome, "delivery attempt recorded");
            }
            Ok(false) => tracing::warn!(
                order_id = %job.order_id,
                target = %job.target,
                "the job's lease was lost meanwhile (another node holds it); this attempt's outcome is not recorded"
            ),
            Err(error) => {
                tracing::warn!(order_id = %job.order_id, %error, "cannot record the delivery outcome; the job will be taken again")
            }
        }
    }

    /// The plugin call for a job: `(result, plugin name, version)`.
    async fn call(
        &self,
        job: &LeasedJob,
        trace: TraceContext,
    ) -> Result<(Result<crate::sandbox::Outcome, CallError>, String, String), String> {
        let call = self
            .inner
            .plugins
            .call_for(&job.target)
            .ok_or_else(|| format!("target `{}` has no plugin bound on this node", job.target))?;
        let order = self
            .inner
            .store
            .order(&job.order_id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("order {} of job {} is missing", job.order_id, job.id))?;
        let plugin_order = PluginOrder {
            id: order.id.clone(),
            business_line: order.line.clone(),
            schema_version: order.schema_version,
            payload: order.normalized.to_string(),
            attempt: job.attempt,
            // stable across retries, replays and nodes
            idempotency_key: order.id.clone(),
            customer: order.tenant.clone(),
        };
        let plugin = call.plugin().name().to_owned();
        let version = call.plugin().version().to_string();
        let span = tracing::Span::current();
        span.record("plugin", plugin.as_str());
        span.record("version", version.as_str());
        Ok((call.with_trace(trace).submit(&plugin_order).await, plugin, version))
    }

    /// Shutdown: wait for in-flight jobs up to the grace period, then give
    /// the rest back to the outbox.
    async fn drain(&self, mut tasks: JoinSet<()>) {
        let grace = Duration::from_millis(self.inner.settings.shutdown_grace_ms);
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(
                in_flight,
                grace_ms = grace.as_millis() as u64,
                "dispatcher stopping: finishing jobs in flight"
            );
        }
        let finished = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let left: Vec<LeasedJob> = self.held().drain().map(|(_, job)| job).collect();
        for job in &left {
            if let Some(lane) = self.inner.lanes.get(&job.target) {
                lane.breaker.probe_abandoned();
            }
            match self.inner.store.finish_job(job, JobFinish::Release).await {
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(order_id = %job.order_id, %error, "cannot give a job back; its lease will expire")
                }
            }
        }
        tracing::info!(released = left.len(), "dispatcher stopped");
    }
}
