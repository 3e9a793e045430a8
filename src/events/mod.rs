//! Outgoing webhooks: which changes a merchant is told of, and the event that tells it — the
//! payment or refund as the API shows it at that moment, in Hyperswitch's `OutgoingWebhook`
//! envelope, written in the same transaction as the change. `delivery` posts it.

pub mod delivery;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use crate::api::types::{PaymentsResponse, RefundResponse};
use crate::app::AppState;
use crate::domain::event::{payment_event_type, refund_event_type, NewEvent};
use crate::domain::payment::{Payment, PaymentIntent, Refund};
use crate::domain::status::IntentStatus;

/// Whether a payment reaching `status` is something its merchant is told of: a status with an
/// event type, in a profile with a webhook URL.
pub fn wanted(state: &AppState, intent: &PaymentIntent, status: IntentStatus) -> bool {
    payment_event_type(status).is_some()
        && state.directory.profile(&intent.merchant_id, &intent.profile_id).is_some_and(|p| p.webhook.is_some())
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
    pub fn payment(state: &AppState, view: &Payment) -> Option<Self> {
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
