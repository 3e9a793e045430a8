//! Outgoing webhooks: the events a merchant is told of. Each change of a payment's or refund's
//! status that has an event type becomes an event in the outbox, written in the same transaction
//! as the change, with the exact body the merchant will get — the payment or refund as the API
//! shows it at that moment, in Hyperswitch's `OutgoingWebhook` envelope. `delivery` posts it.

pub mod delivery;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha512;

use crate::api::types::{PaymentsResponse, RefundResponse};
use crate::app::AppState;
use crate::payments::flow::PaymentView;
use crate::payments::model::{PaymentIntent, Refund};
use crate::payments::status::{IntentStatus, RefundStatus};

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

/// Whether a payment reaching `status` is something its merchant is told of: a status with an
/// event type, in a profile with a webhook URL.
pub fn wanted(state: &AppState, intent: &PaymentIntent, status: IntentStatus) -> bool {
    payment_event_type(status).is_some()
        && state.directory.profile(&intent.merchant_id, &intent.profile_id).is_some_and(|p| p.webhook.is_some())
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

/// What an event is about, and how its content is labelled.
struct Subject<'a> {
    merchant_id: &'a str,
    profile_id: &'a str,
    object_id: &'a str,
    class: &'static str,
    event_type: &'static str,
    content_type: &'static str,
}

impl NewEvent {
    /// The event for a payment now as `view` shows it, if its profile takes webhooks and its
    /// status is one merchants are told of.
    pub fn payment(state: &AppState, view: &PaymentView) -> Option<Self> {
        let intent = &view.intent;
        let subject = Subject {
            merchant_id: &intent.merchant_id,
            profile_id: &intent.profile_id,
            object_id: &intent.id,
            class: "payments",
            event_type: payment_event_type(intent.status)?,
            content_type: "payment_details",
        };
        Self::new(state, subject, PaymentsResponse::of(view))
    }

    pub fn refund(state: &AppState, refund: &Refund) -> Option<Self> {
        let subject = Subject {
            merchant_id: &refund.merchant_id,
            profile_id: &refund.profile_id,
            object_id: &refund.id,
            class: "refunds",
            event_type: refund_event_type(refund.status)?,
            content_type: "refund_details",
        };
        Self::new(state, subject, RefundResponse::of(refund))
    }

    fn new(state: &AppState, about: Subject<'_>, object: impl Serialize) -> Option<Self> {
        state.directory.profile(about.merchant_id, about.profile_id)?.webhook.as_ref()?;
        let id = state.ids.event();
        let created_at = Utc::now();
        let body = json!({
            "merchant_id": about.merchant_id,
            "event_id": id,
            "event_type": about.event_type,
            "content": { "type": about.content_type, "object": object },
            "timestamp": created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
        .to_string();
        Some(Self {
            id,
            merchant_id: about.merchant_id.to_string(),
            profile_id: about.profile_id.to_string(),
            object_id: about.object_id.to_string(),
            class: about.class,
            event_type: about.event_type,
            body,
            created_at,
        })
    }
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
