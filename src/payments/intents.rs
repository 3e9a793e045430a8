//! An intent's life before and around its attempts: creating it, reading it for its owner (an
//! unconfirmed one whose session ran out is marked expired the first time anyone looks), and the
//! checks every flow makes of its status.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::domain::payment::{Payment, PaymentIntent};
use crate::domain::status::{IntentStatus, Operation};
use crate::ids;
use crate::merchants::Profile;
use crate::payments::input::NewIntent;
use crate::payments::{Context, Error, Scope};
use crate::store::IntentUpdate;

pub(super) fn profile<'a>(cx: &'a Context, merchant_id: &str, profile_id: &str) -> Result<&'a Arc<Profile>, Error> {
    cx.snapshot
        .directory
        .profile(merchant_id, profile_id)
        .ok_or_else(|| Error::NotFound(format!("profile `{profile_id}`")))
}

pub(super) fn new_intent(
    cx: &Context,
    scope: &Scope,
    profile: &Profile,
    new: NewIntent,
    status: IntentStatus,
) -> PaymentIntent {
    let now = Utc::now();
    let expiry = new.session_expiry_secs.unwrap_or(profile.session_expiry_secs);
    PaymentIntent {
        id: cx.ids.payment(),
        merchant_id: scope.merchant_id.clone(),
        profile_id: profile.id.to_string(),
        merchant_reference_id: new.merchant_reference_id,
        status,
        amount: new.amount,
        capture_method: new.capture_method,
        authentication_type: new.authentication_type,
        customer_id: new.customer_id,
        client_secret: ids::client_secret(),
        expires_at: now + Duration::seconds(i64::from(expiry)),
        amount_captured: 0,
        amount_refunded: 0,
        active_attempt_id: None,
        details: new.details,
        created_at: now,
        modified_at: now,
    }
}

pub async fn create_intent(cx: &Context, scope: &Scope, new: NewIntent) -> Result<PaymentIntent, Error> {
    let profile = profile(cx, &scope.merchant_id, scope.profile_for_new()?)?;
    let intent = new_intent(cx, scope, profile, new, IntentStatus::RequiresPaymentMethod);
    cx.store.insert_intent(&intent, None).await?;
    Ok(intent)
}

pub(super) fn changed_underneath(intent: &PaymentIntent) -> Error {
    Error::InvalidState(format!("payment {} was changed by another request while its connector was called", intent.id))
}

pub(super) fn require(intent: &PaymentIntent, op: Operation) -> Result<(), Error> {
    if intent.status.allows(op) {
        return Ok(());
    }
    let allowed: Vec<&str> = op.allowed_from().iter().map(|s| s.as_str()).collect();
    Err(Error::InvalidState(format!(
        "payment {} cannot be {} while its status is `{}` (it must be {})",
        intent.id,
        op.name(),
        intent.status,
        allowed.join(" or ")
    )))
}

pub async fn retrieve(cx: &Context, scope: &Scope, payment_id: &str) -> Result<Payment, Error> {
    let intent = load(cx, scope, payment_id).await?;
    view(cx, intent).await
}

pub async fn retrieve_intent(cx: &Context, scope: &Scope, payment_id: &str) -> Result<PaymentIntent, Error> {
    load(cx, scope, payment_id).await
}

/// The intent a client-side call names, once the call shows its client secret (`None` when it
/// showed none). Another merchant's payment is answered exactly like one that does not exist.
pub async fn open_for_client(
    cx: &Context,
    merchant_id: &str,
    client_secret: Option<&str>,
    payment_id: &str,
) -> Result<PaymentIntent, Error> {
    let intent = load(cx, &Scope::merchant(merchant_id), payment_id).await?;
    crate::payments::context::client_secret(client_secret, &intent.client_secret, intent.expires_at, "payment")?;
    Ok(intent)
}

/// The answer when another request moved the intent between our read and our write.
pub(super) async fn lost_race(cx: &Context, scope: &Scope, payment_id: &str, op: Operation) -> Error {
    match load(cx, scope, payment_id).await {
        Ok(intent) => require(&intent, op).err().unwrap_or_else(|| {
            Error::InvalidState(format!("payment {payment_id} is being changed by another request"))
        }),
        Err(e) => e,
    }
}

/// An intent of the scope's merchant and profile. One whose session ran out before it was
/// confirmed is marked expired here, the first time anyone looks.
pub(super) async fn load(cx: &Context, scope: &Scope, payment_id: &str) -> Result<PaymentIntent, Error> {
    let mut intent = cx
        .store
        .find_intent(payment_id, &scope.merchant_id, scope.profile_id.as_deref())
        .await?
        .ok_or_else(|| Error::NotFound(format!("payment {payment_id}")))?;
    if intent.status == IntentStatus::RequiresPaymentMethod && intent.is_expired(Utc::now()) {
        if let Some(expired) = end_unconfirmed(cx, &intent, IntentStatus::Expired).await? {
            intent = expired;
        }
    }
    Ok(intent)
}

/// Moves an intent that was never confirmed to `status`, with the event that tells the
/// merchant. The intent as it now is, or none when another request moved it first.
pub(super) async fn end_unconfirmed(
    cx: &Context,
    intent: &PaymentIntent,
    status: IntentStatus,
) -> Result<Option<PaymentIntent>, Error> {
    let now = Utc::now();
    let after = PaymentIntent { status, modified_at: now, ..intent.clone() };
    let event = cx.events.payment(&cx.snapshot.directory, &Payment { intent: after.clone(), attempts: Vec::new() });
    let update = IntentUpdate::status(status, now);
    let from = [IntentStatus::RequiresPaymentMethod];
    if !cx.store.transition_intent(&intent.id, &from, &update, event.as_ref()).await? {
        return Ok(None);
    }
    if event.is_some() {
        cx.events.written();
    }
    Ok(Some(after))
}

pub(super) async fn view(cx: &Context, intent: PaymentIntent) -> Result<Payment, Error> {
    let attempts = cx.store.attempts(&intent.id).await?;
    Ok(Payment { intent, attempts })
}
