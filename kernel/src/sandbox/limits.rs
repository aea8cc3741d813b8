//! Bounds on every plugin call, set in one place.
//!
//! A plugin is untrusted code; each call gets a CPU budget (epoch ticks while
//! the guest runs), a memory ceiling (store limiter), a wall-clock deadline
//! that also covers time spent in host calls, a cap on message sizes in
//! both directions and a budget of host calls. Hitting any of them fails that
//! one call with an error naming the limit; the instance is dropped.

use std::time::Duration;

use serde::Deserialize;

/// How often the engine's epoch advances: the CPU budget's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per-call limits; configurable per target (`[targets.X.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallLimits {
    /// CPU time the guest may spend running, in milliseconds.
    pub cpu_ms: u64,
    /// Linear memory the guest may grow to, in MiB.
    pub memory_mib: u64,
    /// Wall-clock time for the whole call, host calls included, in ms.
    pub wall_ms: u64,
    /// Largest message in either direction (HTTP bodies, file contents,
    /// AMQP bodies, the plugin's outcome), in KiB.
    pub max_message_kib: u64,
    /// Host calls a single call may make.
    pub host_calls: u32,
    /// Log lines a single call may write; more are counted and dropped.
    pub log_lines: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            cpu_ms: 500,
            memory_mib: 64,
            wall_ms: 30_000,
            max_message_kib: 4096,
            host_calls: 1000,
            log_lines: 100,
        }
    }
}

impl CallLimits {
    pub fn cpu_ticks(&self) -> u64 {
        (self.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1)
    }
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }
    pub fn max_message_bytes(&self) -> usize {
        usize::try_from(self.max_message_kib.saturating_mul(1024)).unwrap_or(usize::MAX)
    }

    /// Problems with these limits, for config checking.
    pub fn problems(&self, max_memory_mib: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.cpu_ms == 0 || self.wall_ms == 0 || self.host_calls == 0 || self.max_message_kib == 0 {
            problems.push("cpu_ms, wall_ms, host_calls and max_message_kib must be greater than 0".to_owned());
        }
        if self.memory_mib == 0 || self.memory_mib > max_memory_mib {
            problems.push(format!("memory_mib must be between 1 and {max_memory_mib}"));
        }
        problems
    }
}

/// Which limit ended a call (recorded by the store so the error can say so
/// rather than report a bare trap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Cpu,
    Memory { requested_bytes: usize },
    HostCalls,
}

/// The store's memory limiter: refuses growth past the limit and remembers
/// that it did, so an allocation failure reads as "memory limit", not as
/// the `unreachable` trap the guest's allocator turns it into.
#[derive(Debug)]
pub struct MemoryGuard {
    limit: usize,
    pub(crate) refused: Option<usize>,
}

impl MemoryGuard {
    pub fn new(limit: usize) -> Self {
        MemoryGuard { limit, refused: None }
    }
}

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
