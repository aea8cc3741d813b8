//! Per-caller rate limit on intake (`POST /v1/orders/{line}`,
//! `POST /v1/validate/{line}`): a token bucket per principal id, in memory
//! on each node (`[rate_limits]` in `hub.toml`). One customer firing past
//! its burst gets 429 with `Retry-After`; every other caller keeps its own
//! bucket, so it cannot be starved.
//!
//! **Invariants**
//! - A bucket holds at most `burst` tokens and refills at `per_second`;
//!   each request takes one token or is refused with the time until the
//!   next one.
//! - The map is keyed by principal id, which only authenticated callers
//!   reach (configured principals and stored keys), so it is bounded by
//!   those; besides, past [`MAX_IDLE_BUCKETS`] entries the full (idle)
//!   buckets are dropped — a full bucket is the same as a missing one.
//! - `per_second = 0` turns the limit off (the default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Above this many buckets, idle (full) ones are pruned on insert.
pub const MAX_IDLE_BUCKETS: usize = 10_000;

/// `[rate_limits]` of `hub.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Intake requests per second per principal, sustained; 0: no limit.
    pub intake_per_second: f64,
    /// Requests a principal may send at once above that rate (the bucket's
    /// size); at least 1 when the limit is on.
    pub intake_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            intake_per_second: 0.0,
            intake_burst: 100,
        }
    }
}

impl RateLimitConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.intake_per_second.is_finite() || self.intake_per_second < 0.0 {
            problems.push("intake_per_second must be 0 (off) or a positive number".to_owned());
        }
        if self.intake_per_second > 0.0 && self.intake_burst == 0 {
            problems.push("intake_burst must be at least 1".to_owned());
        }
        problems
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per principal.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A refused request: the limit, and how long until a token is back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    pub per_second: f64,
    pub burst: u32,
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds: rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs_f64().ceil();
        if secs < 1.0 { 1 } else { secs as u64 }
    }
}

impl RateLimiter {
    /// `None` when the limit is off.
    pub fn new(config: &RateLimitConfig) -> Option<Self> {
        (config.intake_per_second > 0.0 && config.intake_burst > 0).then(|| RateLimiter {
            per_second: config.intake_per_second,
            burst: f64::from(config.intake_burst),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token of `principal`'s bucket at `now`.
    pub fn check(&self, principal: &str, now: Instant) -> Result<(), Limited> {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(principal) && buckets.len() >= MAX_IDLE_BUCKETS {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| refilled(b, now, per_second, burst) < burst);
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, self.per_second, self.burst);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Limited {
            per_second: self.per_second,
            burst: self.burst as u32,
            retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second),
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or_default()
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(&RateLimitConfig {
            intake_per_second: per_second,
            intake_burst: burst,
        })
        .unwrap()
    }

    #[test]
    fn off_by_default() {
        assert!(RateLimiter::new(&RateLimitConfig::default()).is_none());
        assert!(RateLimitConfig::default().problems().is_empty());
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        let limiter = limiter(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check("acme", t0).unwrap();
        }
        let refused = limiter.check("acme", t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.retry_after_secs(), 1);
        // Another caller has its own bucket.
        limiter.check("globex", t0).unwrap();
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        limiter.check("acme", t1).unwrap();
        assert!(limiter.check("acme", t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            limiter.check("acme", t2).unwrap();
        }
        assert!(limiter.check("acme", t2).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        let limiter = limiter(0.1, 1);
        let t0 = Instant::now();
        limiter.check("acme", t0).unwrap();
        let refused = limiter.check("acme", t0).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 10);
        let refused = limiter.check("acme", t0 + Duration::from_millis(9_500)).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let limiter = limiter(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..MAX_IDLE_BUCKETS {
            limiter.check(&format!("p{i}"), t0).unwrap();
        }
        assert_eq!(limiter.len(), MAX_IDLE_BUCKETS);
        // A second later every bucket is full again: all are dropped but the new one.
        limiter.check("late", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = RateLimitConfig {
            intake_per_second: -1.0,
            intake_burst: 0,
        };
        assert_eq!(bad.problems().len(), 1);
        let bad = RateLimitConfig {
            intake_per_second: 5.0,
            intake_burst: 0,
        };
        assert_eq!(bad.problems().len(), 1);
    }
}
