//! What a connector answered about a payment or a refund, in the domain's terms: a status the
//! status machine knows, the provider's ids, and the provider's error when it gave one.

use crate::domain::payment::{NextAction, PaymentError};
use crate::domain::status::{AttemptStatus, RefundStatus};

/// What a connector answered about a payment.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentOutcome {
    pub status: AttemptStatus,
    /// What the provider says is captured, when it says so (a sync after a partial capture).
    pub amount_captured: Option<i64>,
    pub connector_payment_id: Option<String>,
    pub connector_reference_id: Option<String>,
    pub next_action: Option<NextAction>,
    pub error: Option<PaymentError>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefundOutcome {
    pub status: RefundStatus,
    pub connector_refund_id: Option<String>,
    pub error: Option<PaymentError>,
}
