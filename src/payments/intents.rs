//! An intent's life before and around its attempts: creating it, reading it for its owner (an
//! unconfirmed one whose session ran out is marked expired the first time anyone looks), and the
//! checks every flow makes of its status.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::domain::payment::{Payment, PaymentIntent};
use crate::domain::status::{IntentStatus, Operation};
use crate::ids;
use crate::merchants::Profile;
use crate::payments::input::{IntentChange, NewIntent};
use crate::payments::{Context, Error, Scope};
use crate::store::{Cursor, IntentFilter, IntentUpdate, SortOn};

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
    let profile = profile(cx, &scope.merchant_id, scope.profile_needed()?)?;
    let intent = new_intent(cx, scope, profile, new, IntentStatus::RequiresPaymentMethod);
    cx.store.insert_intent(&intent, None).await?;
    Ok(intent)
}

pub(super) fn changed_underneath(intent: &PaymentIntent) -> Error {
    Error::InvalidState(format!("payment {} was changed by another request while its connector was called", intent.id))
}

pub fn require(intent: &PaymentIntent, op: Operation) -> Result<(), Error> {
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

/// Changes what an intent holds while it waits for its payment method; refused once it has been
/// confirmed, cancelled or has expired.
pub async fn update_intent(
    cx: &Context,
    scope: &Scope,
    payment_id: &str,
    change: IntentChange,
) -> Result<PaymentIntent, Error> {
    let before = load(cx, scope, payment_id).await?;
    require(&before, Operation::Update)?;
    let mut intent = before.clone();
    change.amount.apply(&mut intent.amount);
    intent.amount.check_net().map_err(Error::InvalidRequest)?;
    intent.capture_method = change.capture_method.unwrap_or(intent.capture_method);
    intent.authentication_type = change.authentication_type.unwrap_or(intent.authentication_type);
    if let Some(secs) = change.session_expiry_secs {
        intent.expires_at = intent.created_at + Duration::seconds(i64::from(secs));
    }
    intent.details.overlay(change.details);
    intent.modified_at = Utc::now();
    if !cx.store.update_unconfirmed_intent(&intent, before.modified_at).await? {
        return Err(lost_race(cx, scope, payment_id, Operation::Update).await);
    }
    Ok(intent)
}

/// A page of a profile's payments, each with its attempts, and how many the filter picks in all.
/// `from` starts the page after (or ends it before, `true`) one of the profile's payments.
pub async fn list(
    cx: &Context,
    mut filter: IntentFilter,
    from: Option<(&str, bool)>,
) -> Result<(Vec<Payment>, i64), Error> {
    profile(cx, &filter.merchant_id, &filter.profile_id)?;
    if let Some((id, before)) = from {
        let scope = Scope::new(&filter.merchant_id, &filter.profile_id);
        let at = load(cx, &scope, id).await?;
        let key = match filter.order.on {
            SortOn::Created => at.created_at.timestamp_millis(),
            SortOn::Modified => at.modified_at.timestamp_millis(),
            SortOn::Amount => at.amount.net_amount(),
        };
        filter.cursor = Some(Cursor { id: at.id, key, before });
    }
    let (intents, total) = cx.store.list_intents(&filter).await?;
    let mut payments = Vec::with_capacity(intents.len());
    for intent in intents {
        payments.push(view(cx, intent).await?);
    }
    Ok((payments, total))
}

/// An intent as client-side code opens it, with the merchant's publishable key and the payment's
/// client secret (which expires with the session). Another merchant's is answered like one that
/// does not exist.
pub async fn open(
    cx: &Context,
    merchant_id: &str,
    secret: Option<&str>,
    payment_id: &str,
) -> Result<PaymentIntent, Error> {
    let intent = load(cx, &Scope::merchant(merchant_id), payment_id).await?;
    super::context::client_secret(secret, &intent.client_secret, intent.expires_at, "payment")?;
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
