//! The per-call store data: what one plugin call may see and has used.
//!
//! A fresh [`CallState`] is made for every call and dropped with its
//! instance, so nothing a plugin does outlives the call: no state leaks
//! from one order to the next, and an instance that trapped is never reused.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::grants::Capability;
use super::limits::{CallLimits, LimitHit, MemoryGuard};
use super::target::BoundTarget;
use crate::transports::TransportError;

/// The guest's stderr is kept (up to this size) so a panic message can be
/// part of the error; it goes nowhere else.
const STDERR_CAPTURE_BYTES: usize = 4096;

pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) memory: MemoryGuard,
    /// The target the plugin is bound to: grants, settings, transports.
    pub(crate) target: Arc<BoundTarget>,
    /// What the plugin declared and the target granted.
    pub(crate) grants: BTreeSet<Capability>,
    pub(crate) plugin: String,
    pub(crate) order_id: Option<String>,
    /// The W3C `traceparent` of this call's span: added by the host to
    /// every HTTP request and AMQP message the plugin sends.
    pub(crate) traceparent: Option<String>,
    pub(crate) limits: CallLimits,
    host_calls: u32,
    log_lines: u32,
    pub(crate) dropped_log_lines: u32,
    pub(crate) cpu_ticks: u64,
    pub(crate) hit: Option<LimitHit>,
}

impl CallState {
    pub(crate) fn new(
        target: Arc<BoundTarget>,
        grants: BTreeSet<Capability>,
        plugin: &str,
        order_id: Option<String>,
        traceparent: Option<String>,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        // Deny-all WASI: no preopened directories, no environment, no args,
        // no network, stdin empty, stdout discarded, stderr captured.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let limits = target.limits;
        CallState {
            wasi,
            table: ResourceTable::new(),
            stderr,
            memory: MemoryGuard::new(limits.memory_bytes()),
            target,
            grants,
            plugin: plugin.to_owned(),
            order_id,
            traceparent,
            limits,
            host_calls: 0,
            log_lines: 0,
            dropped_log_lines: 0,
            cpu_ticks: 0,
            hit: None,
        }
    }

    /// Counts a host call; past the budget the guest's call ends (a trap),
    /// because a guest that ignores errors would otherwise spin on them.
    pub(crate) fn charge(&mut self, function: &str) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            self.hit = Some(LimitHit::HostCalls);
            return Err(wasmtime::Error::msg(format!(
                "host call budget of {} exhausted (at `{function}`)",
                self.limits.host_calls
            )));
        }
        Ok(())
    }

    /// Counts a host call and checks the grant, for functions that can
    /// answer an error value: a missing grant becomes `denied`.
    pub(crate) fn gate(
        &mut self,
        capability: Capability,
        function: &str,
    ) -> wasmtime::Result<Result<(), TransportError>> {
        self.charge(function)?;
        if self.grants.contains(&capability) {
            Ok(Ok(()))
        } else {
            Ok(Err(TransportError::Denied(self.not_granted(capability))))
        }
    }

    /// For functions without an error channel (config, log, clock): a
    /// missing grant ends the call with a message naming it.
    pub(crate) fn gate_or_trap(&mut self, capability: Capability, function: &str) -> wasmtime::Result<()> {
        self.charge(function)?;
        if self.grants.contains(&capability) {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(self.not_granted(capability)))
        }
    }

    fn not_granted(&self, capability: Capability) -> String {
        format!(
            "capability `{capability}` is not granted to plugin `{}` on target `{}`",
            self.plugin, self.target.name
        )
    }

    /// Whether one more log line may be written in this call.
    pub(crate) fn take_log_line(&mut self) -> bool {
        if self.log_lines < self.limits.log_lines {
            self.log_lines += 1;
            true
        } else {
            self.dropped_log_lines += 1;
            false
        }
    }

    /// What the guest wrote to stderr (its panic message, typically).
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).trim().to_owned()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
