//! The node's webhook delivery loop.
//!
//! Like the dispatcher: lease due deliveries (as many as there are free
//! slots of `concurrency`), send each on its own task, record the outcome
//! fenced by the lease. It wakes when this node commits timeline events
//! (the store's timeline bell) or the API queues work (enable, test), and
//! polls every `poll_interval_ms` for other nodes' events and retries
//! coming due.
//!
//! A lease lasts twice the request timeout plus 5 s: an attempt cannot
//! outlive it, so leases need no renewal. On shutdown no delivery is taken
//! any more and the ones in flight finish (each is bounded by the timeout).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::delivery::{AttemptOutcome, RetrySchedule, Sender};
use super::signing::SigningSecret;
use super::{WebhookError, WebhookSettings};
use crate::config::WebhooksConfig;
use crate::store::{DeliveryFinish, Finished, LeasedDelivery, Store, later};
use crate::telemetry::metrics;

/// How often previous secrets past their overlap are erased.
const SECRET_SWEEP: Duration = Duration::from_secs(60);

struct Inner {
    store: Store,
    sender: Sender,
    schedule: RetrySchedule,
    settings: WebhookSettings,
    node: String,
    concurrency: u32,
    poll: Duration,
    lease: Duration,
    disable_after: Duration,
}

/// The delivery worker of one node; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        store: Store,
        config: &WebhooksConfig,
        settings: WebhookSettings,
        node: String,
    ) -> Result<Self, WebhookError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        Ok(Worker {
            inner: Arc::new(Inner {
                store,
                sender: Sender::new(settings.policy, timeout)?,
                schedule: RetrySchedule::new(config.retry_schedule_ms.clone(), config.jitter_percent),
                settings,
                node,
                concurrency: config.concurrency,
                poll: Duration::from_millis(config.poll_interval_ms),
                lease: timeout * 2 + Duration::from_secs(5),
                disable_after: Duration::from_millis(config.disable_after_ms),
            }),
        })
    }

    /// Delivers until `shutdown` is cancelled, then lets the attempts in
    /// flight finish.
    pub async fn run(&self, shutdown: CancellationToken) {
        let inner = &self.inner;
        let slots = Arc::new(Semaphore::new(inner.concurrency as usize));
        let bell = inner.settings.bell();
        let mut timeline = Some(inner.store.timeline_bell());
        let mut sweep = tokio::time::interval(SECRET_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks: JoinSet<()> = JoinSet::new();
        tracing::info!(node = %inner.node, concurrency = inner.concurrency, "webhook worker started");
        loop {
            while tasks.try_join_next().is_some() {}
            let free = slots.available_permits();
            let mut filled = false;
            if free > 0 {
                let limit = u32::try_from(free).unwrap_or(u32::MAX);
                match inner.store.claim_deliveries(&inner.node, limit, inner.lease).await {
                    Ok(deliveries) => {
                        filled = deliveries.len() >= free;
                        for delivery in deliveries {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                // cannot happen (no more than `free` were taken); the lease expires
                                break;
                            };
                            let worker = self.clone();
                            let span = tracing::info_span!(
                                "webhook",
                                delivery = %delivery.id,
                                subscription = %delivery.subscription_id,
                                attempt = delivery.attempt
                            );
                            tasks.spawn(
                                async move {
                                    worker.deliver(delivery).await;
                                    drop(permit);
                                }
                                .instrument(span),
                            );
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot take webhook deliveries; trying again"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(inner.poll), if !filled => {}
                () = bell.notified(), if !filled => {}
                woke = recv(&mut timeline), if !filled && timeline.is_some() => {
                    if woke.is_err() {
                        timeline = None;
                    }
                }
                _ = sweep.tick() => {
                    if let Err(error) = inner.store.drop_expired_secrets().await {
                        tracing::warn!(%error, "cannot erase expired webhook secrets");
                    }
                }
            }
        }
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "webhook worker stopping: letting attempts in flight finish");
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!(node = %inner.node, "webhook worker stopped");
    }

    /// One attempt of one delivery, recorded.
    async fn deliver(&self, delivery: LeasedDelivery) {
        let inner = &self.inner;
        let started = std::time::Instant::now();
        let target = match inner.store.delivery_target(&delivery.subscription_id).await {
            Ok(Some(target)) => target,
            // deleted meanwhile: its deliveries went with it
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the subscription; the lease will expire and it is tried again");
                return;
            }
        };
        let finish = if !target.enabled {
            DeliveryFinish::Hold
        } else {
            let outcome = match target
                .secrets
                .iter()
                .map(|s| SigningSecret::parse(s))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(secrets) => {
                    inner
                        .sender
                        .send(
                            &target.url,
                            &delivery.id,
                            &secrets,
                            &delivery.payload,
                            delivery.traceparent.as_deref(),
                        )
                        .await
                }
                Err(error) => AttemptOutcome::Failed {
                    status: None,
                    error: format!("the subscription's stored secret is unusable ({error}); rotate it"),
                },
            };
            match outcome {
                AttemptOutcome::Delivered { status } => DeliveryFinish::Delivered { status },
                AttemptOutcome::Failed { status, error } => DeliveryFinish::Failed {
                    status,
                    error,
                    retry_at: inner.schedule.delay(delivery.attempt).map(later),
                    disable_after: inner.disable_after,
                },
            }
        };
        let failure = match &finish {
            DeliveryFinish::Failed { status, error, .. } => Some((*status, error.clone())),
            _ => None,
        };
        let recorded = inner.store.finish_delivery(&delivery, finish).await;
        if let Ok(finished) = &recorded {
            let outcome = match finished {
                Finished::Delivered => "delivered",
                Finished::Retrying => "retrying",
                Finished::Failed => "failed",
                Finished::Held => "held",
                Finished::Disabled => "disabled",
                Finished::LeaseLost => "lease-lost",
            };
            metrics::webhook_delivery(outcome, started.elapsed());
        }
        match recorded {
            Ok(Finished::Delivered) => tracing::debug!("webhook delivered"),
            Ok(Finished::Disabled) => tracing::warn!(
                error = failure.map(|f| f.1).unwrap_or_default(),
                "webhook endpoint disabled: failing for longer than disable_after_ms; its deliveries are held"
            ),
            Ok(outcome @ (Finished::Retrying | Finished::Failed)) => {
                let (status, error) = failure.unwrap_or_default();
                tracing::info!(?status, error, ?outcome, "webhook attempt failed");
            }
            Ok(outcome) => tracing::debug!(?outcome, "webhook delivery recorded"),
            Err(error) => {
                tracing::warn!(%error, "cannot record the webhook attempt; the lease will expire and it is sent again");
            }
        }
    }
}

/// The next announcement of the timeline bell; `Err` once it is closed.
async fn recv(timeline: &mut Option<tokio::sync::broadcast::Receiver<Arc<str>>>) -> Result<(), ()> {
    match timeline {
        Some(receiver) => match receiver.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => Ok(()),
            Err(RecvError::Closed) => Err(()),
        },
        None => std::future::pending().await,
    }
}
