//! One delivery attempt over HTTP, and when to try again.
//!
//! Why a schedule and not exponential backoff like dispatch: receivers know
//! Standard Webhooks' fixed schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 10 h) from other providers; it reaches about a day and a half. Jitter
//! (±20 % by default) keeps a recovered endpoint from getting every
//! backlogged delivery in the same second.
//!
//! Any 2xx is a success; anything else — another status (redirects
//! included: they are not followed), a timeout, a refused address, a
//! connection or TLS error — is a failure with a reason the customer can
//! read in the delivery list.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::WebhookError;
use super::payload::CONTENT_TYPE;
use super::signing::{SigningSecret, signature_header};
use super::ssrf::{GuardedResolver, TargetPolicy, check_literal};

/// Delays between attempts, with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays_ms: Vec<u64>,
    jitter_percent: u32,
}

impl RetrySchedule {
    pub fn new(delays_ms: Vec<u64>, jitter_percent: u32) -> Self {
        RetrySchedule {
            delays_ms,
            jitter_percent: jitter_percent.min(100),
        }
    }

    /// The un-jittered delay after failed attempt `attempt` (1-based);
    /// `None` when the schedule has no more retries.
    pub fn base_delay(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays_ms.get(index).copied().map(Duration::from_millis)
    }

    /// The delay after failed attempt `attempt`, moved randomly by up to
    /// `jitter_percent` either way.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let base = self.base_delay(attempt)?.as_millis() as f64;
        let share = f64::from(self.jitter_percent) / 100.0;
        let factor = 1.0 + share * (fastrand::f64() * 2.0 - 1.0);
        Some(Duration::from_millis((base * factor).max(0.0) as u64))
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> usize {
        self.delays_ms.len() + 1
    }
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

/// Sends signed deliveries through the guarded client.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: TargetPolicy,
    timeout: Duration,
}

impl Sender {
    /// A client with the SSRF-guarded resolver, no redirects, no proxy and
    /// `timeout` for the whole request.
    pub fn new(policy: TargetPolicy, timeout: Duration) -> Result<Self, WebhookError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private_targets: policy.allow_private_targets,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!policy.allow_insecure_http)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("order-hub-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Sender {
            client,
            policy,
            timeout,
        })
    }

    /// One attempt: `webhook-id` is the delivery id (the same on every
    /// attempt), `webhook-timestamp` this attempt's time, one signature per
    /// valid secret.
    /// Sends one signed delivery; `traceparent` (the order's trace) is
    /// added when the delivery has one.
    pub async fn send(
        &self,
        url: &str,
        webhook_id: &str,
        secrets: &[SigningSecret],
        body: &str,
        traceparent: Option<&str>,
    ) -> AttemptOutcome {
        let failed = |error: String| AttemptOutcome::Failed { status: None, error };
        let url = match Url::parse(url) {
            Ok(url) => url,
            Err(e) => return failed(format!("the endpoint URL does not parse: {e}")),
        };
        if let Err(refused) = check_literal(&url, self.policy) {
            return failed(refused.to_string());
        }
        let timestamp = chrono::Utc::now().timestamp();
        let secrets: Vec<&SigningSecret> = secrets.iter().collect();
        let signature = match signature_header(&secrets, webhook_id, timestamp, body.as_bytes()) {
            Ok(signature) => signature,
            Err(e) => return failed(format!("cannot sign: {e}")),
        };
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let sent = request.body(body.to_owned()).send().await;
        match sent {
            Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status();
                let mut error = format!("the endpoint answered HTTP {status}");
                if status.is_redirection() {
                    error.push_str(" (redirects are not followed; register the final URL)");
                }
                AttemptOutcome::Failed {
                    status: Some(status.as_u16()),
                    error,
                }
            }
            Err(e) if e.is_timeout() => failed(format!("no answer within {} ms (timeout)", self.timeout.as_millis())),
            Err(e) => failed(describe(&e.without_url())),
        }
    }
}

/// An error with its causes, `a: b: c` (the URL left out: it may carry a
/// customer's query token into logs).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_schedule_with_jitter() {
        let schedule = RetrySchedule::new(vec![5_000, 300_000, 1_800_000], 20);
        assert_eq!(schedule.base_delay(1), Some(Duration::from_secs(5)));
        assert_eq!(schedule.base_delay(3), Some(Duration::from_secs(1_800)));
        assert_eq!(schedule.base_delay(4), None, "used up after the last entry");
        assert_eq!(schedule.delay(4), None);
        assert_eq!(schedule.base_delay(0), None);
        assert_eq!(schedule.max_attempts(), 4);
        let mut low = u128::MAX;
        let mut high = 0;
        for _ in 0..500 {
            let delay = schedule.delay(2).unwrap().as_millis();
            assert!((240_000..=360_000).contains(&delay), "{delay} outside ±20 % of 300 s");
            low = low.min(delay);
            high = high.max(delay);
        }
        assert!(
            low < 270_000 && high > 330_000,
            "jitter spreads both ways: {low}..{high}"
        );
    }

    #[test]
    fn no_jitter_is_exact() {
        let schedule = RetrySchedule::new(vec![100], 0);
        assert_eq!(schedule.delay(1), Some(Duration::from_millis(100)));
    }

    #[tokio::test]
    async fn refused_addresses_fail_without_a_request() {
        let sender = Sender::new(TargetPolicy::default(), Duration::from_secs(1)).unwrap();
        let secret = SigningSecret::generate().unwrap();
        let outcome = sender
            .send("https://169.254.169.254/latest/meta-data", "d1", &[secret], "{}", None)
            .await;
        let AttemptOutcome::Failed { status: None, error } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(error.contains("link-local"), "{error}");
    }
}
