//! Building [`Feedback`] without spelling every field: a constructor per
//! status, then `with_*` for what the OPS said.
//!
//! ```ignore
//! Feedback::milestone(Milestone::Departed)
//!     .with_correlation_id(order.correlation_id)
//!     .with_code(report.status)            // the OPS's own code: staff see it, customers don't
//!     .with_occurred_at(report.at);        // a String or an Option<String>
//! Feedback::completed().with_milestone(Milestone::Delivered);
//! Feedback::invoice_issued("INV-2026-0042").with_amount(Money::new("1250.00", "CNY"));
//! Feedback::unknown_status("HOLD_AT_GATE");  // in-progress, raw code kept, never dropped
//! ```
//!
//! Leave the message empty unless the OPS wrote text for the customer: the
//! hub then writes one for the status or milestone ("Departed from
//! origin"). Finance feedback (charge, invoice, payment) adds an event to
//! the order's timeline and never changes its status.

use crate::{Feedback, FeedbackStatus, Milestone, Money, Reason};

impl Feedback {
    /// Feedback of `status` and nothing else yet.
    pub fn new(status: FeedbackStatus) -> Self {
        Feedback {
            correlation_id: None,
            ops_ref: None,
            order_id: None,
            status,
            code: None,
            message: String::new(),
            occurred_at: None,
            reasons: Vec::new(),
            milestone: None,
            amount: None,
            document: None,
        }
    }

    /// Booked by the OPS under `ops_ref`.
    pub fn accepted(ops_ref: impl Into<String>) -> Self {
        Feedback::new(FeedbackStatus::Accepted).with_ops_ref(ops_ref.into())
    }

    /// Refused for business reasons (see [`Reason::at`], [`Reason::general`]).
    pub fn rejected(reasons: Vec<Reason>) -> Self {
        Feedback::new(FeedbackStatus::Rejected).with_reasons(reasons)
    }

    /// Progress without a milestone.
    pub fn in_progress() -> Self {
        Feedback::new(FeedbackStatus::InProgress)
    }

    /// Progress: the goods reached `milestone`.
    pub fn milestone(milestone: Milestone) -> Self {
        Feedback::in_progress().with_milestone(milestone)
    }

    /// An OPS status this plugin cannot map: kept as in-progress with the
    /// raw code (staff see it on the timeline), never dropped.
    pub fn unknown_status(code: impl Into<String>) -> Self {
        Feedback::in_progress().with_code(code.into())
    }

    pub fn completed() -> Self {
        Feedback::new(FeedbackStatus::Completed)
    }

    pub fn cancelled() -> Self {
        Feedback::new(FeedbackStatus::Cancelled)
    }

    /// The OPS gave up on the order.
    pub fn failed() -> Self {
        Feedback::new(FeedbackStatus::Failed)
    }

    /// Finance: a charge the OPS confirmed.
    pub fn charge_confirmed(amount: Money) -> Self {
        Feedback::new(FeedbackStatus::ChargeConfirmed).with_amount(amount)
    }

    /// Finance: invoice `document` was issued; add `with_amount` when known.
    pub fn invoice_issued(document: impl Into<String>) -> Self {
        Feedback::new(FeedbackStatus::InvoiceIssued).with_document(document.into())
    }

    /// Finance: the OPS received the customer's payment.
    pub fn payment_received(amount: Money) -> Self {
        Feedback::new(FeedbackStatus::PaymentReceived).with_amount(amount)
    }

    /// The correlation id `submit` answered with `pending` (or the one the
    /// OPS echoes). The `with_*` setters of optional text take a `String`
    /// or an `Option<String>`, so optional OPS fields pass straight through.
    pub fn with_correlation_id(mut self, id: impl Into<Option<String>>) -> Self {
        self.correlation_id = id.into();
        self
    }

    /// The OPS's reference for the order (also identifies the order).
    pub fn with_ops_ref(mut self, ops_ref: impl Into<Option<String>>) -> Self {
        self.ops_ref = ops_ref.into();
        self
    }

    /// The hub's order id, when the OPS echoes it.
    pub fn with_order_id(mut self, order_id: impl Into<Option<String>>) -> Self {
        self.order_id = order_id.into();
        self
    }

    /// The OPS's own status code: kept for staff, never shown to customers.
    pub fn with_code(mut self, code: impl Into<Option<String>>) -> Self {
        self.code = code.into();
        self
    }

    /// Text the OPS wrote for the customer; `None` or empty: the hub's default.
    pub fn with_message(mut self, message: impl Into<Option<String>>) -> Self {
        self.message = message.into().unwrap_or_default();
        self
    }

    /// RFC 3339 time the OPS gave for the event.
    pub fn with_occurred_at(mut self, at: impl Into<Option<String>>) -> Self {
        self.occurred_at = at.into();
        self
    }

    pub fn with_reasons(mut self, reasons: Vec<Reason>) -> Self {
        self.reasons = reasons;
        self
    }

    /// A milestone with any status, e.g. `completed` + `delivered`.
    pub fn with_milestone(mut self, milestone: impl Into<Option<Milestone>>) -> Self {
        self.milestone = milestone.into();
        self
    }

    pub fn with_amount(mut self, amount: impl Into<Option<Money>>) -> Self {
        self.amount = amount.into();
        self
    }

    /// Finance: the OPS's document number (invoice, receipt, charge note).
    pub fn with_document(mut self, document: impl Into<Option<String>>) -> Self {
        self.document = document.into();
        self
    }

    /// Charge, invoice or payment: adds an event, never changes the status.
    pub fn is_finance(&self) -> bool {
        matches!(
            self.status,
            FeedbackStatus::ChargeConfirmed | FeedbackStatus::InvoiceIssued | FeedbackStatus::PaymentReceived
        )
    }
}

impl Money {
    /// `amount` as decimal text (`"1250.00"`; never a float: money must
    /// stay exact), `currency` an ISO 4217 code (`"CNY"`).
    pub fn new(amount: impl Into<String>, currency: impl Into<String>) -> Self {
        Money {
            amount: amount.into(),
            currency: currency.into(),
        }
    }
}

impl Milestone {
    /// The hub's name for it, as on the timeline (`"out-for-delivery"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::PickedUp => "picked-up",
            Milestone::ReceivedAtWarehouse => "received-at-warehouse",
            Milestone::Stored => "stored",
            Milestone::Packed => "packed",
            Milestone::Shipped => "shipped",
            Milestone::Loaded => "loaded",
            Milestone::Departed => "departed",
            Milestone::Arrived => "arrived",
            Milestone::CustomsCleared => "customs-cleared",
            Milestone::Held => "held",
            Milestone::OutForDelivery => "out-for-delivery",
            Milestone::Delivered => "delivered",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_status_and_leave_the_rest_empty() {
        let departed = Feedback::milestone(Milestone::Departed)
            .with_correlation_id("TRK-1".to_owned())
            .with_code(Some("IN_TRANSIT".to_owned()))
            .with_occurred_at(None);
        assert_eq!(departed.status, FeedbackStatus::InProgress);
        assert_eq!(departed.milestone, Some(Milestone::Departed));
        assert_eq!(departed.correlation_id.as_deref(), Some("TRK-1"));
        assert_eq!(departed.code.as_deref(), Some("IN_TRANSIT"));
        assert!(departed.message.is_empty() && departed.occurred_at.is_none() && !departed.is_finance());

        let unknown = Feedback::unknown_status("GATE_HOLD");
        assert_eq!(
            (unknown.status, unknown.code.as_deref()),
            (FeedbackStatus::InProgress, Some("GATE_HOLD"))
        );

        let invoice = Feedback::invoice_issued("INV-1").with_amount(Money::new("1250.00", "CNY"));
        assert!(invoice.is_finance());
        assert_eq!(invoice.document.as_deref(), Some("INV-1"));
        assert_eq!(
            invoice.amount.map(|m| (m.amount, m.currency)),
            Some(("1250.00".into(), "CNY".into()))
        );

        assert_eq!(Feedback::accepted("FO-1").ops_ref.as_deref(), Some("FO-1"));
        assert_eq!(Feedback::completed().with_message(None).message, "");
        assert_eq!(Milestone::OutForDelivery.as_str(), "out-for-delivery");
    }
}
