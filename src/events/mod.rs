//! Outgoing webhooks: which changes a merchant is told of, and the event that tells it — the
//! payment or refund as the API shows it at that moment, in Hyperswitch's `OutgoingWebhook`
//! envelope, written in the same transaction as the change. `delivery` posts it.
//!
//! The body is the API's rendering of the object; the API hands its renderers in
//! (`Renderers`), so this layer never knows the wire format.

pub mod delivery;

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::domain::event::{payment_event_type, refund_event_type, NewEvent};
use crate::domain::payment::{Payment, PaymentIntent, Refund};
use crate::domain::status::IntentStatus;
use crate::ids::IdMinter;
use crate::merchants::Directory;

/// How a payment and a refund look in an event's `content.object`.
#[derive(Clone, Copy)]
pub struct Renderers {
    pub payment: fn(&Payment) -> Value,
    pub refund: fn(&Refund) -> Value,
}

/// Makes the events of changes, and wakes delivery when one is written. Whether a profile
/// takes webhooks is read from the directory of the version the change was made on.
pub struct Outbox {
    ids: IdMinter,
    render: Renderers,
    due: Arc<Notify>,
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

impl Outbox {
    pub fn new(ids: IdMinter, render: Renderers, due: Arc<Notify>) -> Self {
        Self { ids, render, due }
    }

    /// Whether a payment reaching `status` is something its merchant is told of: a status with
    /// an event type, in a profile with a webhook URL.
    pub fn wanted(&self, directory: &Directory, intent: &PaymentIntent, status: IntentStatus) -> bool {
        payment_event_type(status).is_some()
            && directory.profile(&intent.merchant_id, &intent.profile_id).is_some_and(|p| p.webhook.is_some())
    }

    /// The event for a payment now as `view` shows it, if its profile takes webhooks and its
    /// status is one merchants are told of.
    pub fn payment(&self, directory: &Directory, view: &Payment) -> Option<NewEvent> {
        let intent = &view.intent;
        let subject = Subject {
            merchant_id: &intent.merchant_id,
            profile_id: &intent.profile_id,
            object_id: &intent.id,
            class: "payments",
            event_type: payment_event_type(intent.status)?,
            content_type: "payment_details",
        };
        self.event(directory, subject, || (self.render.payment)(view))
    }

    pub fn refund(&self, directory: &Directory, refund: &Refund) -> Option<NewEvent> {
        let subject = Subject {
            merchant_id: &refund.merchant_id,
            profile_id: &refund.profile_id,
            object_id: &refund.id,
            class: "refunds",
            event_type: refund_event_type(refund.status)?,
            content_type: "refund_details",
        };
        self.event(directory, subject, || (self.render.refund)(refund))
    }

    /// An event was written: delivery goes out at once rather than at its next round.
    pub fn written(&self) {
        self.due.notify_one();
    }

    fn event(&self, directory: &Directory, about: Subject<'_>, object: impl FnOnce() -> Value) -> Option<NewEvent> {
        directory.profile(about.merchant_id, about.profile_id)?.webhook.as_ref()?;
        let id = self.ids.event();
        let created_at = Utc::now();
        let body = json!({
            "merchant_id": about.merchant_id,
            "event_id": id,
            "event_type": about.event_type,
            "content": { "type": about.content_type, "object": object() },
            "timestamp": created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
        .to_string();
        Some(NewEvent {
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
