//! The payment flows on their own, without HTTP: a `Context` over a store on a temporary SQLite
//! file and a configuration version with the sandbox connector, called as the API and the reconciler call them.

use std::sync::Arc;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::refunds::{self, NewRefund};
use super::settle::NOT_TAKEN;
use super::*;
use crate::card::{CardNumber, Cvc, Expiry};
use crate::config::Config;
use crate::connectors::Registry;
use crate::domain::outcome::PaymentOutcome;
use crate::domain::payment::{Payment, Refund};
use crate::domain::payment_method::{CardDetails, PaymentMethod};
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, IntentStatus, RefundStatus};
use crate::events::{Outbox, Renderers};
use crate::ids::IdMinter;
use crate::limits::Limits;
use crate::lua::Budget;
use crate::merchants::Directory;
use crate::money::Amount;
use crate::routing::Decider;
use crate::snapshot::{Live, Snapshot, Version};
use crate::store::{EventFilter, Store};
use crate::vault::Vault;

/// One profile whose first account is down (it takes no call) and whose second takes payments.
const PROFILE: &str = r#"
[merchants.acme.profiles.web]
fallback = ["down", "up"]
webhook_url = "http://127.0.0.1:9/events"
payment_response_hash_key = "a key to sign events with"

[[merchants.acme.profiles.web.connector_accounts]]
name = "down"
connector = "sandbox"
metadata = { simulate = "unavailable" }

[[merchants.acme.profiles.web.connector_accounts]]
name = "up"
connector = "sandbox"

[merchants.acme.profiles.other]
[[merchants.acme.profiles.other.connector_accounts]]
name = "up"
connector = "sandbox"
"#;

/// Events show an object by its id and status: enough to see what the merchant is told.
const BODIES: Renderers = Renderers {
    payment: |p| json!({ "id": p.intent.id, "status": p.intent.status.as_str() }),
    refund: |r| json!({ "id": r.id, "status": r.status.as_str() }),
};

struct Fixture {
    cx: Context,
    _folder: tempfile::TempDir,
}

async fn core() -> Fixture {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config: Config =
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(PROFILE)).extract().expect("config");
    let url = format!("sqlite://{}", folder.path().join("payments.db").display());
    let store = Store::connect(&url, 1).await.expect("a store");
    let snapshot = Snapshot {
        version: Version::new("test"),
        directory: Directory::from_config(&config, None, None),
        registry: Registry::builtin("http://127.0.0.1:8080", reqwest::Client::new()),
        scripts: Default::default(),
        limits: Limits::new(&config, None, None),
        unready: Vec::new(),
    };
    let ids = IdMinter::new("sy");
    let core = Arc::new(Core {
        store,
        live: Live::new(snapshot),
        decider: Decider::new(Budget::of(&config.lua)),
        ids: ids.clone(),
        vault: Vault::new(None, config.vault.cvc_ttl_secs, None),
        events: Outbox::new(ids, BODIES, Arc::new(Notify::new())),
        settings: config.payments.clone(),
        call_timeout_ms: config.http.request_timeout_ms,
    });
    Fixture { cx: core.now(), _folder: folder }
}

fn web() -> Scope {
    Scope::new("acme", "web")
}

fn new_intent(amount: i64, capture_method: CaptureMethod) -> NewIntent {
    NewIntent {
        amount: serde_json::from_value(json!({ "order_amount": amount, "currency": "USD" })).expect("amount"),
        merchant_reference_id: None,
        capture_method,
        authentication_type: AuthenticationType::NoThreeDs,
        customer_id: None,
        session_expiry_secs: None,
        details: Default::default(),
    }
}

fn card(number: &str) -> Confirmation {
    Confirmation {
        payment_method: PaymentMethod::Card(CardDetails {
            number: CardNumber::parse(number).expect("a card number"),
            cvc: Some(serde_json::from_value::<Cvc>(json!("123")).expect("a security code")),
            expiry: Expiry {
                month: serde_json::from_value(json!("10")).expect("a month"),
                year: serde_json::from_value(json!("35")).expect("a year"),
            },
            holder_name: None,
            issuing_country: None,
            connector_tokens: Default::default(),
        }),
        payment_method_type: "card".into(),
        payment_method_subtype: Some("credit".into()),
        billing: None,
        return_url: None,
        kept_code: None,
    }
}

async fn pay(core: &Fixture, amount: i64, capture_method: CaptureMethod) -> Payment {
    create_and_confirm(&core.cx, &web(), new_intent(amount, capture_method), card("4242424242424242"))
        .await
        .expect("a payment")
}

/// What the merchant is told of an object, oldest first.
async fn told(core: &Fixture, object_id: &str) -> Vec<(String, Value)> {
    let filter = EventFilter { object_id: Some(object_id.into()), limit: 20, offset: 0 };
    let mut events = core.cx.store.events("acme", Some("web"), &filter).await.expect("events");
    events.reverse();
    events
        .into_iter()
        .map(|e| {
            let body: Value = serde_json::from_str(&e.body).expect("a JSON body");
            (e.event_type, body["content"]["object"].clone())
        })
        .collect()
}

/// What a payment's record says of its money (times aside: the store keeps milliseconds).
fn kept(payment: &Payment) -> Value {
    let intent = &payment.intent;
    let attempts: Vec<Value> = payment
        .attempts
        .iter()
        .map(|a| json!([a.id, a.connector_account, a.status.as_str(), a.connector_payment_id, a.net_amount]))
        .collect();
    json!([intent.status.as_str(), intent.amount_captured, intent.amount_refunded, intent.active_attempt_id, attempts])
}

fn statuses(payment: &Payment) -> Vec<(&str, AttemptStatus)> {
    payment.attempts.iter().map(|a| (a.connector_account.as_str(), a.status)).collect()
}

#[tokio::test]
async fn a_payment_fails_over_past_an_account_that_takes_no_call() {
    let core = core().await;
    let payment = pay(&core, 1000, CaptureMethod::Automatic).await;
    assert_eq!(payment.intent.status, IntentStatus::Succeeded);
    assert_eq!(payment.intent.amount_captured, 1000);
    assert_eq!(statuses(&payment), [("down", AttemptStatus::Failure), ("up", AttemptStatus::Charged)]);
    let not_taken = payment.attempts[0].error.as_ref().expect("why the first account failed");
    assert_eq!(not_taken.code, NOT_TAKEN);
    assert_eq!(payment.intent.active_attempt_id.as_deref(), Some(payment.attempts[1].id.as_str()));

    // What the flow answered is what is stored, and the merchant is told once, of the outcome.
    let stored = retrieve(&core.cx, &web(), &payment.intent.id).await.expect("stored");
    assert_eq!(kept(&stored), kept(&payment));
    let events = told(&core, &payment.intent.id).await;
    assert_eq!(events, [("payment_succeeded".to_string(), json!({ "id": payment.intent.id, "status": "succeeded" }))]);

    // A payment is its profile's: another profile of the same merchant does not see it.
    let elsewhere = retrieve(&core.cx, &Scope::new("acme", "other"), &payment.intent.id).await;
    assert!(matches!(elsewhere, Err(Error::NotFound(_))), "{elsewhere:?}");
}

#[tokio::test]
async fn a_decline_is_final_and_no_other_account_is_tried() {
    let core = core().await;
    let new = new_intent(1000, CaptureMethod::Automatic);
    let payment = create_and_confirm(&core.cx, &web(), new, card("4000000000000002")).await.expect("answered");
    assert_eq!(payment.intent.status, IntentStatus::Failed);
    // The account down was passed over; the one that answered declined, and that is the end.
    assert_eq!(statuses(&payment), [("down", AttemptStatus::Failure), ("up", AttemptStatus::Failure)]);
    assert_eq!(payment.attempts[1].error.as_ref().map(|e| e.code.as_str()), Some("card_declined"));
}

#[tokio::test]
async fn a_capture_takes_part_of_what_was_authorized_once() {
    let core = core().await;
    let authorized = pay(&core, 1000, CaptureMethod::Manual).await;
    assert_eq!(authorized.intent.status, IntentStatus::RequiresCapture);
    let id = &authorized.intent.id;

    let over = capture(&core.cx, &web(), id, Some(Amount::new(1001).expect("an amount"))).await;
    assert!(matches!(over, Err(Error::InvalidRequest(_))), "{over:?}");
    let captured = capture(&core.cx, &web(), id, Some(Amount::new(600).expect("an amount"))).await.expect("captured");
    assert_eq!(captured.intent.status, IntentStatus::PartiallyCaptured);
    assert_eq!(captured.intent.amount_captured, 600);
    assert_eq!(captured.active_attempt().map(|a| a.status), Some(AttemptStatus::PartialCharged));

    let again = capture(&core.cx, &web(), id, None).await;
    assert!(matches!(again, Err(Error::InvalidState(_))), "{again:?}");
    let stored = retrieve(&core.cx, &web(), id).await.expect("stored");
    assert_eq!(stored.intent.amount_captured, 600);
    let told: Vec<String> = told(&core, id).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(told, ["payment_authorized", "payment_captured"]);
}

#[tokio::test]
async fn a_cancel_voids_an_authorization_and_keeps_its_reason() {
    let core = core().await;
    let authorized = pay(&core, 1000, CaptureMethod::Manual).await;
    let id = &authorized.intent.id;
    let cancelled = cancel(&core.cx, &web(), id, Some("requested_by_customer".into())).await.expect("cancelled");
    assert_eq!(cancelled.intent.status, IntentStatus::Cancelled);
    let attempt = cancelled.active_attempt().expect("its attempt");
    assert_eq!(attempt.status, AttemptStatus::Voided);
    assert_eq!(attempt.cancellation_reason.as_deref(), Some("requested_by_customer"));
    let captured = capture(&core.cx, &web(), id, None).await;
    assert!(matches!(captured, Err(Error::InvalidState(_))), "{captured:?}");

    // An intent never confirmed is cancelled without a connector.
    let intent = create_intent(&core.cx, &web(), new_intent(500, CaptureMethod::Automatic)).await.expect("an intent");
    let unconfirmed = cancel(&core.cx, &web(), &intent.id, None).await.expect("cancelled");
    assert_eq!(unconfirmed.intent.status, IntentStatus::Cancelled);
    assert!(unconfirmed.attempts.is_empty());
}

#[tokio::test]
async fn a_refund_gives_back_what_was_captured_never_more() {
    let core = core().await;
    let payment = pay(&core, 1000, CaptureMethod::Automatic).await;
    let id = &payment.intent.id;
    let refund = |amount: i64, reference: &str| NewRefund {
        payment_id: id.clone(),
        merchant_reference_id: reference.into(),
        amount: Some(Amount::new(amount).expect("an amount")),
        reason: None,
        metadata: None,
    };
    let first: Refund = refunds::create(&core.cx, &web(), refund(400, "r1")).await.expect("refunded");
    assert_eq!(first.status, RefundStatus::Succeeded);
    assert_eq!(first.amount.minor(), 400);
    let over = refunds::create(&core.cx, &web(), refund(700, "r2")).await;
    assert!(matches!(over, Err(Error::RefundExceedsPayment(_))), "{over:?}");
    let rest = refunds::create(&core.cx, &web(), refund(600, "r3")).await.expect("refunded");
    assert_eq!(rest.status, RefundStatus::Succeeded);
    let stored = retrieve(&core.cx, &web(), id).await.expect("stored");
    assert_eq!(stored.intent.amount_refunded, 1000);
    let refund_events: Vec<String> = told(&core, &first.id).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(refund_events, ["refund_succeeded"]);
}

#[tokio::test]
async fn a_providers_report_settles_the_payment_and_the_merchant_is_told() {
    let core = core().await;
    let authorized = pay(&core, 1000, CaptureMethod::Manual).await;
    let report = |status, amount_captured| PaymentOutcome {
        status,
        amount_captured,
        connector_payment_id: None,
        connector_reference_id: None,
        next_action: None,
        error: None,
    };

    // A partial charge whose amount nobody knows says nothing about the money: it stays open.
    let unclear =
        operate::apply_outcome(&core.cx, authorized.intent.clone(), report(AttemptStatus::PartialCharged, None))
            .await
            .expect("applied");
    assert_eq!(unclear.intent.status, IntentStatus::Processing);
    assert_eq!(unclear.intent.amount_captured, 0);

    // The provider then says it captured 700: that is what is stored, and told.
    let settled = operate::apply_outcome(&core.cx, unclear.intent, report(AttemptStatus::Charged, Some(700)))
        .await
        .expect("applied");
    assert_eq!(settled.intent.status, IntentStatus::PartiallyCaptured);
    assert_eq!(settled.intent.amount_captured, 700);
    assert_eq!(settled.active_attempt().map(|a| a.status), Some(AttemptStatus::PartialCharged));
    let id = authorized.intent.id.clone();
    let told: Vec<(String, Value)> = told(&core, &id).await;
    let kinds: Vec<&str> = told.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["payment_authorized", "payment_processing", "payment_captured"]);
    assert_eq!(told[2].1["status"], "partially_captured");

    // A report read against a payment that has moved since is not applied over it.
    let stale = operate::apply_outcome(&core.cx, authorized.intent, report(AttemptStatus::Voided, None)).await;
    assert!(matches!(stale, Err(Error::InvalidState(_))), "{stale:?}");
    let stored = retrieve(&core.cx, &web(), &id).await.expect("stored");
    assert_eq!(stored.intent.status, IntentStatus::PartiallyCaptured);
}
