//! Circuit breaker per target.
//!
//! Why: when an OPS is down, retrying every job at its own pace burns each
//! job's retry budget and hammers the OPS as it comes back. The breaker
//! opens after `failure_threshold` consecutive retryable failures; while it
//! is open the dispatcher takes **no** jobs of that target (they wait
//! without consuming attempts; other targets are unaffected). After
//! `open_ms` one probe job goes through (half-open): success closes the
//! breaker, failure opens it again.
//!
//! Only failures that say "the OPS is not reachable or not well" count
//! (retryable ones). A business rejection or a permanent failure is an
//! answer, so the OPS is up.
//!
//! The breaker lives in each node's memory: nodes learn an OPS is down
//! independently, each after a handful of failed attempts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `[targets.NAME.breaker]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    /// Consecutive retryable failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe.
    pub open_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 5,
            open_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// What the breaker lets through right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: as many jobs as the target's concurrency allows.
    Any,
    /// Half-open: exactly one probe.
    Probe,
    /// Open (or a probe is in flight): none.
    None,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One target's breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
    /// How often it opened since start (for operators and tests).
    opened: std::sync::atomic::AtomicU64,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            opened: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned breaker is still a valid state machine.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if until > Instant::now() => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub fn times_opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What may be taken now; an expired open breaker turns half-open.
    pub fn admission(&self) -> Admission {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Admission::Any,
            Inner::Open { until } if until > Instant::now() => Admission::None,
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen { probing: false };
                Admission::Probe
            }
            Inner::HalfOpen { probing: false } => Admission::Probe,
            Inner::HalfOpen { probing: true } => Admission::None,
        }
    }

    /// A probe job was taken; no other until it reports.
    pub fn probe_started(&self) {
        let mut inner = self.lock();
        if let Inner::HalfOpen { probing } = &mut *inner {
            *probing = true;
        }
    }

    /// The OPS answered (accepted, pending, rejected, or a permanent failure).
    pub fn record_answer(&self) {
        let mut inner = self.lock();
        if !matches!(*inner, Inner::Closed { failures: 0 }) {
            if !matches!(*inner, Inner::Closed { .. }) {
                tracing::info!("circuit breaker closed: the OPS answers again");
            }
            *inner = Inner::Closed { failures: 0 };
        }
    }

    /// A retryable failure: counts towards opening; reopens a half-open breaker.
    /// Returns true when this failure opened the breaker.
    pub fn record_failure(&self) -> bool {
        let mut inner = self.lock();
        let open = match &mut *inner {
            Inner::Closed { failures } => {
                *failures += 1;
                *failures >= self.policy.failure_threshold
            }
            Inner::HalfOpen { .. } => true,
            // a job taken before the breaker opened reports late
            Inner::Open { .. } => false,
        };
        if open {
            *inner = Inner::Open {
                until: Instant::now() + Duration::from_millis(self.policy.open_ms),
            };
            self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        open
    }

    /// A probe job was given back untried (shutdown): let another probe go.
    pub fn probe_abandoned(&self) {
        let mut inner = self.lock();
        if let Inner::HalfOpen { probing } = &mut *inner {
            *probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_ms: u64) -> Breaker {
        Breaker::new(BreakerPolicy {
            failure_threshold: 3,
            open_ms,
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker(60_000);
        assert!(!b.record_failure());
        assert!(!b.record_failure());
        b.record_answer(); // resets the count
        assert!(!b.record_failure());
        assert!(!b.record_failure());
        assert_eq!(b.admission(), Admission::Any);
        assert!(b.record_failure());
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admission(), Admission::None);
        assert_eq!(b.times_opened(), 1);
    }

    #[test]
    fn half_open_lets_one_probe_through_then_closes_or_reopens() {
        let b = breaker(0);
        for _ in 0..3 {
            b.record_failure();
        }
        // open_ms = 0: the next look finds it half-open
        assert_eq!(b.admission(), Admission::Probe);
        b.probe_started();
        assert_eq!(b.admission(), Admission::None, "only one probe at a time");
        assert!(b.record_failure(), "a failed probe reopens");
        assert_eq!(b.times_opened(), 2);
        assert_eq!(b.admission(), Admission::Probe);
        b.probe_started();
        b.record_answer();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admission(), Admission::Any);
    }

    #[test]
    fn an_abandoned_probe_frees_the_slot() {
        let b = breaker(0);
        for _ in 0..3 {
            b.record_failure();
        }
        assert_eq!(b.admission(), Admission::Probe);
        b.probe_started();
        b.probe_abandoned();
        assert_eq!(b.admission(), Admission::Probe);
    }
}
