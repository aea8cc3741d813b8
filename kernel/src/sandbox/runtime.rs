//! Calling a plugin: one fresh instance per call, every call bounded.
//!
//! Why a fresh instance each time: a plugin that trapped, leaked or was
//! interrupted must never serve the next order, and per-call instances make
//! that true by construction. With `InstancePre` and the pooling allocator
//! an instance costs tens of microseconds (see BENCHMARKS in the README).

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::Plugin;
use super::bindings::exports::hub::plugin::handler::{Failure as WitFailure, Feedback as WitFeedback};
use super::engine::{LoadedPlugin, SandboxEngine};
use super::grants::{Capability, MissingGrants, effective_grants};
use super::limits::LimitHit;
use super::state::CallState;
use super::target::BoundTarget;
use super::types::{Failure, Feedback, Inbound, Outcome, PluginOrder, Waiting};
use crate::telemetry::metrics;
use crate::telemetry::trace::TraceContext;

/// Why a call produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin answered with a failure of its own.
    #[error("{} failure: {}", if .0.retryable { "retryable" } else { "permanent" }, .0.message)]
    Failed(Failure),
    #[error("the plugin used up its CPU budget of {cpu_ms} ms")]
    CpuBudget { cpu_ms: u64 },
    #[error("the plugin tried to grow its memory to {requested_mib} MiB; the limit is {limit_mib} MiB")]
    MemoryLimit { requested_mib: u64, limit_mib: u64 },
    #[error("the plugin call did not finish within {wall_ms} ms (host calls included)")]
    Deadline { wall_ms: u64 },
    #[error("the plugin made more than {budget} host calls")]
    HostCallBudget { budget: u32 },
    #[error("the plugin's answer is {bytes} bytes; the limit is {limit} bytes")]
    OutputTooLarge { bytes: usize, limit: usize },
    #[error("the input is {bytes} bytes; the limit is {limit} bytes")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    #[error("cannot instantiate the plugin: {message}")]
    Instantiate { message: String },
}

impl CallError {
    /// Would the same call, later, plausibly succeed? A plugin's own
    /// failure says so itself; a deadline may be a slow OPS; everything else
    /// is the plugin's behaviour on this input and would repeat.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Failed(failure) => failure.retryable,
            CallError::Deadline { .. } | CallError::Instantiate { .. } => true,
            _ => false,
        }
    }

    /// A stable name for the attempt history and dead-letter filters: the
    /// transport error's kind when the plugin named one, otherwise what
    /// went wrong in the sandbox.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Failed(failure) => match &failure.cause {
                Some(cause) => cause.kind(),
                None if failure.retryable => "plugin-retryable",
                None => "plugin-permanent",
            },
            CallError::CpuBudget { .. } => "cpu-budget",
            CallError::MemoryLimit { .. } => "memory-limit",
            CallError::Deadline { .. } => "deadline",
            CallError::HostCallBudget { .. } => "host-call-budget",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::InputTooLarge { .. } => "input-too-large",
            CallError::Trap { .. } => "trap",
            CallError::Instantiate { .. } => "instantiate",
        }
    }

    /// How long the OPS asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        let CallError::Failed(failure) = self else {
            return None;
        };
        let from_cause = match &failure.cause {
            Some(crate::transports::TransportError::Unavailable { retry_after_ms, .. }) => *retry_after_ms,
            _ => None,
        };
        failure
            .retry_after_ms
            .or(from_cause)
            .map(std::time::Duration::from_millis)
    }
}

/// A plugin bound to a target: the unit the dispatcher calls.
#[derive(Clone)]
pub struct PluginCall {
    engine: Arc<SandboxEngine>,
    plugin: Arc<LoadedPlugin>,
    target: Arc<BoundTarget>,
    grants: BTreeSet<Capability>,
    /// The span this call belongs to; lent to the plugin's transports.
    trace: Option<TraceContext>,
}

impl std::fmt::Debug for PluginCall {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PluginCall")
            .field("plugin", &self.plugin.name())
            .field("version", &self.plugin.version().to_string())
            .field("target", &self.target.name)
            .finish()
    }
}

/// Fuel given to each call: metered, never the limit in practice (the
/// epoch-based CPU budget ends a busy guest long before).
const FUEL_METER: u64 = u64::MAX / 2;

type CallFuture<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

impl PluginCall {
    /// Binds `plugin` to `target`; refused when the target does not grant
    /// everything the plugin declared.
    pub fn bind(
        engine: Arc<SandboxEngine>,
        plugin: Arc<LoadedPlugin>,
        target: Arc<BoundTarget>,
    ) -> Result<Self, MissingGrants> {
        let grants = effective_grants(
            plugin.name(),
            &target.name,
            &plugin.package.manifest.capabilities,
            &target.granted,
        )?;
        Ok(PluginCall {
            engine,
            plugin,
            target,
            grants,
            trace: None,
        })
    }

    /// The same call as a span of `trace`: every HTTP request and AMQP
    /// message the plugin sends carries it as `traceparent`.
    #[must_use]
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    pub fn target(&self) -> &Arc<BoundTarget> {
        &self.target
    }

    pub async fn submit(&self, order: &PluginOrder) -> Result<Outcome, CallError> {
        self.check_input(order.payload.len())?;
        let wit_order = order.into();
        self.call(
            "submit",
            Some(order.id.clone()),
            move |plugin, store| {
                Box::pin(async move { plugin.hub_plugin_handler().call_submit(store, &wit_order).await })
            },
            Outcome::from,
        )
        .await
    }

    pub async fn on_inbound(&self, message: &Inbound) -> Result<Vec<Feedback>, CallError> {
        self.check_input(message.body.len())?;
        let wit_message = message.into();
        self.call(
            "on-inbound",
            None,
            move |plugin, store| {
                Box::pin(async move { plugin.hub_plugin_handler().call_on_inbound(store, &wit_message).await })
            },
            feedback_list,
        )
        .await
    }

    pub async fn poll(&self, waiting: &[Waiting]) -> Result<Vec<Feedback>, CallError> {
        let wit_waiting: Vec<_> = waiting.iter().map(Into::into).collect();
        self.call(
            "poll",
            None,
            move |plugin, store| {
                Box::pin(async move { plugin.hub_plugin_handler().call_poll(store, &wit_waiting).await })
            },
            feedback_list,
        )
        .await
    }

    /// The guest's answer as the kernel sees it: its own failure becomes
    /// [`CallError::Failed`], and a success must fit the output size cap.
    fn answer<T: Serialize>(&self, result: Result<T, WitFailure>) -> Result<T, CallError> {
        let value = result.map_err(|failure| CallError::Failed(failure.into()))?;
        self.check_output(&value)?;
        Ok(value)
    }

    fn check_input(&self, bytes: usize) -> Result<(), CallError> {
        let limit = self.target.limits.max_message_bytes();
        if bytes > limit {
            Err(CallError::InputTooLarge { bytes, limit })
        } else {
            Ok(())
        }
    }

    fn check_output<T: Serialize>(&self, value: &T) -> Result<(), CallError> {
        let limit = self.target.limits.max_message_bytes();
        let bytes = serde_json::to_vec(value)
            .map(|encoded| encoded.len())
            .unwrap_or(usize::MAX);
        if bytes > limit {
            Err(CallError::OutputTooLarge { bytes, limit })
        } else {
            Ok(())
        }
    }

    /// Instantiates a fresh instance under every limit, runs `work` on it
    /// and drops it. The wall-clock deadline covers the wait for a pool
    /// slot, instantiation, guest code and host calls alike. The guest's
    /// answer becomes the kernel's type through `convert`, and every call is
    /// measured (time, fuel, how it ended — the plugin's own failures
    /// included) in [`metrics::plugin_call`].
    async fn call<W, T, F, M>(
        &self,
        function: &'static str,
        order_id: Option<String>,
        work: F,
        convert: M,
    ) -> Result<T, CallError>
    where
        F: for<'a> FnOnce(&'a Plugin, &'a mut Store<CallState>) -> CallFuture<'a, Result<W, WitFailure>>,
        M: FnOnce(W) -> T,
        T: Serialize,
    {
        let started = Instant::now();
        let fuel = AtomicU64::new(0);
        let result = self
            .call_bounded(order_id, &fuel, work)
            .await
            .and_then(|answer| self.answer(answer.map(convert)));
        let version = self.plugin.version().to_string();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        metrics::plugin_call(
            self.plugin.name(),
            &version,
            function,
            outcome,
            started.elapsed(),
            fuel.load(Ordering::Relaxed),
        );
        result
    }

    async fn call_bounded<T, F>(&self, order_id: Option<String>, fuel_used: &AtomicU64, work: F) -> Result<T, CallError>
    where
        F: for<'a> FnOnce(&'a Plugin, &'a mut Store<CallState>) -> CallFuture<'a, T>,
    {
        let limits = self.target.limits;
        let run = async {
            let _slot = self.engine.slots.acquire().await.map_err(|_| CallError::Instantiate {
                message: "the plugin engine is shutting down".into(),
            })?;
            let state = CallState::new(
                self.target.clone(),
                self.grants.clone(),
                self.plugin.name(),
                order_id,
                self.trace.map(|trace| trace.traceparent()),
            );
            let mut store = Store::new(self.engine.engine(), state);
            store.set_fuel(FUEL_METER).map_err(|error| CallError::Instantiate {
                message: format!("cannot meter fuel: {error:#}"),
            })?;
            store.limiter(|state| &mut state.memory);
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|mut context| {
                let state = context.data_mut();
                state.cpu_ticks += 1;
                if state.cpu_ticks >= state.limits.cpu_ticks() {
                    state.hit = Some(LimitHit::Cpu);
                    return Err(wasmtime::Error::msg("CPU budget exhausted"));
                }
                // Yield so that a busy guest lets other calls (and the
                // wall-clock deadline) run on this worker thread.
                Ok(UpdateDeadline::Yield(1))
            });
            let plugin = match self.plugin.pre.instantiate_async(&mut store).await {
                Ok(plugin) => plugin,
                Err(error) => return Err(self.classify(&store, &error, true)),
            };
            let result = work(&plugin, &mut store).await;
            fuel_used.store(
                FUEL_METER.saturating_sub(store.get_fuel().unwrap_or(FUEL_METER)),
                Ordering::Relaxed,
            );
            let dropped = store.data().dropped_log_lines;
            if dropped > 0 {
                tracing::warn!(plugin = self.plugin.name(), target = %self.target.name, dropped, "plugin log lines over the per-call cap were dropped");
            }
            result.map_err(|error| self.classify(&store, &error, false))
        };
        match tokio::time::timeout(limits.wall(), run).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Deadline {
                wall_ms: limits.wall_ms,
            }),
        }
    }

    /// Names the limit behind a trap, or gives the trap and the guest's
    /// last words (its stderr, where Rust panics are printed).
    fn classify(&self, store: &Store<CallState>, error: &wasmtime::Error, instantiating: bool) -> CallError {
        let state = store.data();
        let limits = state.limits;
        if let Some(requested) = state.memory.refused {
            return CallError::MemoryLimit {
                requested_mib: (requested as u64).div_ceil(1024 * 1024),
                limit_mib: limits.memory_mib,
            };
        }
        match state.hit {
            Some(LimitHit::Cpu) => return CallError::CpuBudget { cpu_ms: limits.cpu_ms },
            Some(LimitHit::HostCalls) => {
                return CallError::HostCallBudget {
                    budget: limits.host_calls,
                };
            }
            Some(LimitHit::Memory { requested_bytes }) => {
                return CallError::MemoryLimit {
                    requested_mib: (requested_bytes as u64).div_ceil(1024 * 1024),
                    limit_mib: limits.memory_mib,
                };
            }
            None => {}
        }
        let mut message = format!("{error:#}");
        if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            message = trap.to_string();
        }
        let stderr = state.stderr_text();
        if !stderr.is_empty() {
            message = format!("{message}; the plugin wrote: {stderr}");
        }
        if instantiating {
            CallError::Instantiate { message }
        } else {
            CallError::Trap { message }
        }
    }
}

fn feedback_list(list: Vec<WitFeedback>) -> Vec<Feedback> {
    list.into_iter().map(Feedback::from).collect()
}
