//! The kernel's side of the plugin boundary: owned, serializable mirrors of
//! the WIT types, so the dispatcher, the store and `hub plugin test` never
//! depend on generated code (which changes shape with each WIT version).

use serde::{Deserialize, Serialize};

use super::bindings::exports::hub::plugin::handler as wit;
use super::bindings::hub::plugin::types as wit_types;
use crate::timeline::Milestone;
use crate::transports::TransportError;

/// An order as the plugin receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginOrder {
    pub id: String,
    pub business_line: String,
    pub schema_version: u32,
    /// The normalized order as JSON text.
    pub payload: String,
    pub attempt: u32,
    pub idempotency_key: String,
    pub customer: String,
}

/// What `submit` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Outcome {
    Accepted {
        ops_ref: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Pending {
        correlation_id: String,
    },
    Rejected {
        reasons: Vec<Reason>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// The plugin's own account of why it produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub retryable: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<TransportError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboundSource {
    AmqpReply,
    ResponseFile,
    HttpCallback,
    Poll,
}

/// An answer that arrived after `submit` returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    pub source: InboundSource,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackStatus {
    Accepted,
    Rejected,
    InProgress,
    Completed,
    Failed,
    Cancelled,
    /// Finance: adds an event, never changes the order's status.
    ChargeConfirmed,
    /// Finance: adds an event, never changes the order's status.
    InvoiceIssued,
    /// Finance: adds an event, never changes the order's status.
    PaymentReceived,
}

/// An amount of money as the OPS stated it: decimal text and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

impl Money {
    /// `amount` is a plain decimal (`1250.00`, `-30.5`; no exponent, no
    /// thousands separators) and `currency` three capital letters.
    pub fn is_well_formed(&self) -> bool {
        let digits = self.amount.strip_prefix('-').unwrap_or(&self.amount);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        all_digits(whole)
            && all_digits(fraction)
            && self.currency.len() == 3
            && self.currency.bytes().all(|b| b.is_ascii_uppercase())
    }
}

/// One normalized fact about one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub status: FeedbackStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<Milestone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

/// An order still waiting for its answer, for `poll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub order_id: String,
    pub correlation_id: String,
    #[serde(default)]
    pub ops_ref: Option<String>,
    pub submitted_at: String,
}

// ---- conversions across the boundary ----

impl From<&PluginOrder> for wit::Order {
    fn from(order: &PluginOrder) -> Self {
        wit::Order {
            id: order.id.clone(),
            business_line: order.business_line.clone(),
            schema_version: order.schema_version,
            payload: order.payload.clone(),
            attempt: order.attempt,
            idempotency_key: order.idempotency_key.clone(),
            customer: order.customer.clone(),
        }
    }
}

impl From<wit::Reason> for Reason {
    fn from(reason: wit::Reason) -> Self {
        Reason {
            field: reason.field,
            code: reason.code,
            message: reason.message,
        }
    }
}

impl From<wit::Outcome> for Outcome {
    fn from(outcome: wit::Outcome) -> Self {
        match outcome {
            wit::Outcome::Accepted(accepted) => Outcome::Accepted {
                ops_ref: accepted.ops_ref,
                message: accepted.message,
            },
            wit::Outcome::Pending(correlation_id) => Outcome::Pending { correlation_id },
            wit::Outcome::Rejected(reasons) => Outcome::Rejected {
                reasons: reasons.into_iter().map(Reason::from).collect(),
            },
        }
    }
}

impl From<wit::Failure> for Failure {
    fn from(failure: wit::Failure) -> Self {
        let (retryable, detail) = match failure {
            wit::Failure::Retryable(detail) => (true, detail),
            wit::Failure::Permanent(detail) => (false, detail),
        };
        Failure {
            retryable,
            message: detail.message,
            cause: detail.cause.map(TransportError::from),
            retry_after_ms: detail.retry_after_ms,
        }
    }
}

impl From<wit_types::TransportError> for TransportError {
    fn from(error: wit_types::TransportError) -> Self {
        use wit_types::TransportError as W;
        match error {
            W::Timeout(detail) => TransportError::Timeout(detail),
            W::Refused(detail) => TransportError::Refused(detail),
            W::Unauthorized(detail) => TransportError::Unauthorized(detail),
            W::NotFound(detail) => TransportError::NotFound(detail),
            W::Unavailable(detail) => TransportError::Unavailable {
                message: detail.message,
                retry_after_ms: detail.retry_after_ms,
            },
            W::ProtocolError(detail) => TransportError::ProtocolError(detail),
            W::TooLarge(limit) => TransportError::TooLarge(limit),
            W::Denied(detail) => TransportError::Denied(detail),
        }
    }
}

impl From<TransportError> for wit_types::TransportError {
    fn from(error: TransportError) -> Self {
        use wit_types::TransportError as W;
        match error {
            TransportError::Timeout(detail) => W::Timeout(detail),
            TransportError::Refused(detail) => W::Refused(detail),
            TransportError::Unauthorized(detail) => W::Unauthorized(detail),
            TransportError::NotFound(detail) => W::NotFound(detail),
            TransportError::Unavailable {
                message,
                retry_after_ms,
            } => W::Unavailable(wit_types::Unavailable {
                message,
                retry_after_ms,
            }),
            TransportError::ProtocolError(detail) => W::ProtocolError(detail),
            TransportError::TooLarge(limit) => W::TooLarge(limit),
            TransportError::Denied(detail) => W::Denied(detail),
        }
    }
}

impl From<wit::FeedbackStatus> for FeedbackStatus {
    fn from(status: wit::FeedbackStatus) -> Self {
        match status {
            wit::FeedbackStatus::Accepted => FeedbackStatus::Accepted,
            wit::FeedbackStatus::Rejected => FeedbackStatus::Rejected,
            wit::FeedbackStatus::InProgress => FeedbackStatus::InProgress,
            wit::FeedbackStatus::Completed => FeedbackStatus::Completed,
            wit::FeedbackStatus::Failed => FeedbackStatus::Failed,
            wit::FeedbackStatus::Cancelled => FeedbackStatus::Cancelled,
            wit::FeedbackStatus::ChargeConfirmed => FeedbackStatus::ChargeConfirmed,
            wit::FeedbackStatus::InvoiceIssued => FeedbackStatus::InvoiceIssued,
            wit::FeedbackStatus::PaymentReceived => FeedbackStatus::PaymentReceived,
        }
    }
}

impl From<wit::Milestone> for Milestone {
    fn from(milestone: wit::Milestone) -> Self {
        use wit::Milestone as W;
        match milestone {
            W::PickedUp => Milestone::PickedUp,
            W::ReceivedAtWarehouse => Milestone::ReceivedAtWarehouse,
            W::Stored => Milestone::Stored,
            W::Packed => Milestone::Packed,
            W::Shipped => Milestone::Shipped,
            W::Loaded => Milestone::Loaded,
            W::Departed => Milestone::Departed,
            W::Arrived => Milestone::Arrived,
            W::CustomsCleared => Milestone::CustomsCleared,
            W::Held => Milestone::Held,
            W::OutForDelivery => Milestone::OutForDelivery,
            W::Delivered => Milestone::Delivered,
        }
    }
}

impl From<wit::Feedback> for Feedback {
    fn from(feedback: wit::Feedback) -> Self {
        Feedback {
            correlation_id: feedback.correlation_id,
            ops_ref: feedback.ops_ref,
            order_id: feedback.order_id,
            status: feedback.status.into(),
            code: feedback.code,
            message: feedback.message,
            occurred_at: feedback.occurred_at,
            reasons: feedback.reasons.into_iter().map(Reason::from).collect(),
            milestone: feedback.milestone.map(Milestone::from),
            amount: feedback.amount.map(|money| Money {
                amount: money.amount,
                currency: money.currency,
            }),
            document: feedback.document,
        }
    }
}

impl From<&Inbound> for wit::Inbound {
    fn from(inbound: &Inbound) -> Self {
        wit::Inbound {
            source: match inbound.source {
                InboundSource::AmqpReply => wit::InboundSource::AmqpReply,
                InboundSource::ResponseFile => wit::InboundSource::ResponseFile,
                InboundSource::HttpCallback => wit::InboundSource::HttpCallback,
                InboundSource::Poll => wit::InboundSource::Poll,
            },
            correlation_id: inbound.correlation_id.clone(),
            name: inbound.name.clone(),
            content_type: inbound.content_type.clone(),
            headers: inbound.headers.clone(),
            body: inbound.body.clone(),
        }
    }
}

impl From<&Waiting> for wit::Waiting {
    fn from(waiting: &Waiting) -> Self {
        wit::Waiting {
            order_id: waiting.order_id.clone(),
            correlation_id: waiting.correlation_id.clone(),
            ops_ref: waiting.ops_ref.clone(),
            submitted_at: waiting.submitted_at.clone(),
        }
    }
}
