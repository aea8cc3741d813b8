//! Retry policy: exponential backoff with jitter and a cap, per target.
//!
//! Why jitter: after an OPS outage every waiting job would otherwise retry
//! in the same instant and knock it over again. "Equal jitter" keeps half
//! of the computed delay and randomises the other half, so the delays still
//! grow visibly (operators read them in the attempt history) but spread out.

use std::time::Duration;

use serde::Deserialize;

/// `[targets.NAME.retry]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the job is a dead letter.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff_ms: u64,
    /// No delay is longer (an OPS's `Retry-After` may ask for up to `max_retry_after_ms`).
    pub max_backoff_ms: u64,
    pub multiplier: f64,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            multiplier: 2.0,
            max_retry_after_ms: 3_600_000,
        }
    }
}

impl RetryPolicy {
    pub fn check(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err("retry.multiplier must be a number ≥ 1".into());
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err("retry.initial_backoff_ms must not exceed retry.max_backoff_ms".into());
        }
        Ok(())
    }

    /// Whether a failed attempt number `attempt` (1-based) leaves budget for another.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The un-jittered delay after failed attempt `attempt` (1-based).
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64);
        let factor = self.multiplier.powi(i32::try_from(exponent).unwrap_or(i32::MAX));
        let millis = (self.initial_backoff_ms as f64 * factor).min(self.max_backoff_ms as f64);
        Duration::from_millis(millis as u64)
    }

    /// The delay before the next attempt: half the base delay plus a random
    /// share of the other half, and never less than the OPS asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.base_delay(attempt);
        let half = base / 2;
        let jitter = Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64));
        let backoff = half + jitter;
        match retry_after {
            Some(asked) => backoff.max(asked.min(Duration::from_millis(self.max_retry_after_ms))),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let policy = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..RetryPolicy::default()
        };
        let bases: Vec<u128> = (1..=6).map(|n| policy.base_delay(n).as_millis()).collect();
        assert_eq!(bases, [100, 200, 400, 800, 1_000, 1_000]);
        for attempt in 1..=6 {
            let base = policy.base_delay(attempt);
            for _ in 0..50 {
                let delay = policy.delay(attempt, None);
                assert!(
                    delay >= base / 2 && delay <= base,
                    "{delay:?} outside [{:?}, {base:?}]",
                    base / 2
                );
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let policy = RetryPolicy {
            initial_backoff_ms: 100,
            max_retry_after_ms: 5_000,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(5));
        // a Retry-After shorter than the backoff does not shorten it
        assert!(policy.delay(1, Some(Duration::from_millis(1))) >= Duration::from_millis(50));
    }

    #[test]
    fn budget_counts_the_first_attempt() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.may_retry(1));
        assert!(policy.may_retry(2));
        assert!(!policy.may_retry(3));
        assert!(
            RetryPolicy {
                max_attempts: 0,
                ..RetryPolicy::default()
            }
            .check()
            .is_err()
        );
        assert!(
            RetryPolicy {
                multiplier: 0.5,
                ..RetryPolicy::default()
            }
            .check()
            .is_err()
        );
    }
}
