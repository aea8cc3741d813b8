//! Constructors for the WIT result types, so plugin code reads as intent:
//! `Failure::retryable("OPS busy")`, `Outcome::accepted("BK-1")`.

use crate::{Accepted, Failure, FailureDetail, Order, Outcome, Reason, TransportError, TransportErrorExt};

/// Constructors and accessors for [`Failure`].
pub trait FailureExt: Sized {
    /// Worth trying again later.
    fn retryable(message: impl Into<String>) -> Self;
    /// Retrying cannot help.
    fn permanent(message: impl Into<String>) -> Self;
    /// Classify a transport error: timeouts, refusals and outages are
    /// retryable; bad credentials, missing resources, protocol errors and
    /// policy refusals are permanent (an operator fixes them and replays).
    fn from_transport(context: &str, error: TransportError) -> Self;
    fn is_retryable(&self) -> bool;
    fn detail(&self) -> &FailureDetail;
}

impl FailureExt for Failure {
    fn retryable(message: impl Into<String>) -> Self {
        Failure::Retryable(FailureDetail {
            message: message.into(),
            cause: None,
            retry_after_ms: None,
        })
    }

    fn permanent(message: impl Into<String>) -> Self {
        Failure::Permanent(FailureDetail {
            message: message.into(),
            cause: None,
            retry_after_ms: None,
        })
    }

    fn from_transport(context: &str, error: TransportError) -> Self {
        let detail = FailureDetail {
            message: format!("{context}: {}", error.describe()),
            retry_after_ms: error.retry_after_ms(),
            cause: Some(error.clone()),
        };
        if error.is_transient() {
            Failure::Retryable(detail)
        } else {
            Failure::Permanent(detail)
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, Failure::Retryable(_))
    }

    fn detail(&self) -> &FailureDetail {
        match self {
            Failure::Retryable(detail) | Failure::Permanent(detail) => detail,
        }
    }
}

/// Constructors for [`Outcome`].
pub trait OutcomeExt: Sized {
    fn accepted(ops_ref: impl Into<String>) -> Self;
    fn accepted_with(ops_ref: impl Into<String>, message: impl Into<String>) -> Self;
    fn pending(correlation_id: impl Into<String>) -> Self;
    fn rejected(reasons: Vec<Reason>) -> Self;
}

impl OutcomeExt for Outcome {
    fn accepted(ops_ref: impl Into<String>) -> Self {
        Outcome::Accepted(Accepted {
            ops_ref: ops_ref.into(),
            message: None,
        })
    }
    fn accepted_with(ops_ref: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome::Accepted(Accepted {
            ops_ref: ops_ref.into(),
            message: Some(message.into()),
        })
    }
    fn pending(correlation_id: impl Into<String>) -> Self {
        Outcome::Pending(correlation_id.into())
    }
    fn rejected(reasons: Vec<Reason>) -> Self {
        Outcome::Rejected(reasons)
    }
}

impl Reason {
    /// A reason tied to a field of the normalized order (a JSON Pointer).
    pub fn at(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Reason {
            field: Some(field.into()),
            code: code.into(),
            message: message.into(),
        }
    }
    /// A reason about the order as a whole.
    pub fn general(code: impl Into<String>, message: impl Into<String>) -> Self {
        Reason {
            field: None,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl Order {
    /// The normalized payload, deserialized. A payload that does not fit `T`
    /// is a permanent failure: the same order will never fit on a retry.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.payload)
            .map_err(|error| Failure::permanent(format!("order {} does not fit the plugin's model: {error}", self.id)))
    }

    /// The normalized payload as a JSON value.
    pub fn payload_value(&self) -> Result<serde_json::Value, Failure> {
        self.payload_as()
    }
}
