//! Event records: what a merchant is told of a payment or refund, as kept in the outbox, and each
//! try at delivering it. The body is written once, when the change happens, and signed when sent.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::domain::status::{IntentStatus, RefundStatus};

/// The header that carries the body's signature.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature-512";

/// An event about to be written with the change it reports.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub object_id: String,
    pub class: &'static str,
    pub event_type: &'static str,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// The event type of a payment that has reached `status`, as Hyperswitch names it; none for the
/// statuses a merchant is not told of.
pub fn payment_event_type(status: IntentStatus) -> Option<&'static str> {
    Some(match status {
        IntentStatus::Succeeded => "payment_succeeded",
        IntentStatus::Failed => "payment_failed",
        IntentStatus::Processing => "payment_processing",
        IntentStatus::Cancelled => "payment_cancelled",
        IntentStatus::RequiresCapture => "payment_authorized",
        IntentStatus::PartiallyCaptured => "payment_captured",
        IntentStatus::RequiresCustomerAction => "action_required",
        IntentStatus::Expired => "payment_expired",
        IntentStatus::RequiresPaymentMethod => return None,
    })
}

pub fn refund_event_type(status: RefundStatus) -> Option<&'static str> {
    match status {
        RefundStatus::Succeeded => Some("refund_succeeded"),
        RefundStatus::Failed => Some("refund_failed"),
        RefundStatus::Pending => None,
    }
}

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Not yet answered 2xx; tried again when due.
    Pending,
    Delivered,
    /// Given up on after the last try.
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Delivered => "delivered",
            EventStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for EventStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(EventStatus::Pending),
            "delivered" => Ok(EventStatus::Delivered),
            "failed" => Ok(EventStatus::Failed),
            other => Err(format!("unknown event status `{other}`")),
        }
    }
}

/// An event as kept in the outbox.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub object_id: String,
    pub class: String,
    pub event_type: String,
    pub body: String,
    pub status: EventStatus,
    pub attempts: i64,
    /// When it may next be tried; taking it on compares against this.
    pub next_attempt_at: i64,
    pub created_at: DateTime<Utc>,
}

/// One try at delivering an event, and what the merchant's endpoint answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    /// 1 for the first try.
    pub attempt: i64,
    pub request_headers: Vec<(String, String)>,
    pub status_code: Option<u16>,
    pub response_body: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The hex HMAC-SHA512 of `body` under `key`: what `x-webhook-signature-512` carries.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_sha512_of_the_body() {
        // RFC 4231, test case 2.
        let signed = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            signed,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn only_statuses_merchants_are_told_of_have_an_event_type() {
        assert_eq!(payment_event_type(IntentStatus::RequiresPaymentMethod), None);
        assert_eq!(payment_event_type(IntentStatus::RequiresCapture), Some("payment_authorized"));
        assert_eq!(refund_event_type(RefundStatus::Pending), None);
        assert_eq!(refund_event_type(RefundStatus::Failed), Some("refund_failed"));
    }
}
