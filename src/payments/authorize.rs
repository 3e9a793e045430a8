//! Confirming a payment: the intent is claimed, its first attempt stored as pending before any
//! connector is called, then the routed accounts are tried in order. An account that did not take
//! the payment has charged nothing, so the next may try; any other answer is final, and an unclear
//! one leaves the payment `processing` for a sync, a notification or the reconciler.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::card::CardSummary;
use crate::connectors::{metered_with_card, Account, AuthorizeRequest, ConnectorError, ConnectorResult, Unclear};
use crate::domain::decision::Decision;
use crate::domain::outcome::PaymentOutcome;
use crate::domain::payment::{Payment, PaymentAttempt, PaymentError, PaymentIntent};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::{AttemptStatus, IntentStatus, Operation};
use crate::merchants::Profile;
use crate::money::Amount;
use crate::payments::input::{Confirmation, NewIntent};
use crate::payments::intents::{changed_underneath, load, lost_race, new_intent, profile, require, view};
use crate::payments::selection::{barred, connector_for, passed_over, route, Cause};
use crate::payments::settle::{in_flight_lease, settle, Holder, Leaves, CONFIRMED, NOT_TAKEN, NO_CLEAR_ANSWER};
use crate::payments::{Context, Error, Scope};
use crate::store::IntentUpdate;

/// Create and confirm in one call: the intent and its first attempt are stored together.
pub async fn create_and_confirm(
    cx: &Context,
    scope: &Scope,
    new: NewIntent,
    confirmation: Confirmation,
) -> Result<Payment, Error> {
    let profile = profile(cx, &scope.merchant_id, scope.profile_needed()?)?;
    check_payment_method(profile, &confirmation)?;
    let mut intent = new_intent(cx, scope, profile, new, IntentStatus::Processing);
    if let Some(return_url) = &confirmation.return_url {
        intent.details.return_url = Some(return_url.clone());
    }
    let (decision, candidates) = route(cx, profile, &intent, &confirmation).await?;
    let attempt = new_attempt(cx, &intent, candidates[0], &confirmation, &decision);
    intent.active_attempt_id = Some(attempt.id.clone());
    cx.store.insert_intent(&intent, Some((&attempt, in_flight_lease(cx)))).await?;
    let authorized = authorize(cx, intent, attempt, &candidates, &confirmation, &decision).await;
    confirmation.code_sent(cx).await;
    // A new payment has no attempts but those made here: nothing to read back.
    let (intent, attempts) = authorized?;
    Ok(Payment { intent, attempts })
}

pub async fn confirm(
    cx: &Context,
    scope: &Scope,
    payment_id: &str,
    confirmation: Confirmation,
) -> Result<Payment, Error> {
    let mut intent = load(cx, scope, payment_id).await?;
    let profile = profile(cx, &intent.merchant_id, &intent.profile_id)?;
    check_payment_method(profile, &confirmation)?;
    require(&intent, Operation::Confirm)?;
    if let Some(return_url) = &confirmation.return_url {
        intent.details.return_url = Some(return_url.clone());
    }
    let (decision, candidates) = route(cx, profile, &intent, &confirmation).await?;
    let attempt = new_attempt(cx, &intent, candidates[0], &confirmation, &decision);
    let update = IntentUpdate {
        status: IntentStatus::Processing,
        amount_captured: None,
        active_attempt_id: Some(attempt.id.clone()),
        details: confirmation.return_url.is_some().then(|| intent.details.clone()),
        modified_at: attempt.created_at,
        in_flight_until: Some(in_flight_lease(cx)),
        unless_in_flight_at: None,
        // The attempt charges the amount read: an update meanwhile makes this a lost race.
        unchanged_since: Some(intent.modified_at),
    };
    if !cx.store.begin_attempt(&intent.id, Operation::Confirm.allowed_from(), &update, Some(&attempt)).await? {
        return Err(lost_race(cx, scope, payment_id, Operation::Confirm).await);
    }
    intent.status = IntentStatus::Processing;
    intent.active_attempt_id = Some(attempt.id.clone());
    let authorized = authorize(cx, intent, attempt, &candidates, &confirmation, &decision).await;
    confirmation.code_sent(cx).await;
    view(cx, authorized?.0).await
}

/// A connector call that ended without an answer about the payment, recorded on the attempt:
/// `Failure` when nothing was charged, `Pending` when the outcome is unclear.
pub(super) fn call_failed(status: AttemptStatus, code: &str, e: &ConnectorError) -> PaymentOutcome {
    PaymentOutcome {
        status,
        amount_captured: None,
        connector_payment_id: None,
        connector_reference_id: None,
        next_action: None,
        error: Some(PaymentError::new(code, e.to_string())),
    }
}

pub(super) fn new_attempt(
    cx: &Context,
    intent: &PaymentIntent,
    account: &Account,
    c: &Confirmation,
    decision: &Arc<Decision>,
) -> PaymentAttempt {
    let now = Utc::now();
    PaymentAttempt {
        id: cx.ids.attempt(),
        payment_id: intent.id.clone(),
        connector_account: account.name.clone(),
        connector: account.connector.clone(),
        status: AttemptStatus::Pending,
        net_amount: intent.amount.net_amount(),
        payment_method_type: c.payment_method_type.clone(),
        payment_method_subtype: c.payment_method_subtype.clone(),
        card: match &c.payment_method {
            PaymentMethod::Card(card) => Some(CardSummary::of(&card.number, card.expiry, card.holder_name.clone())),
            PaymentMethod::OpenBanking => None,
        },
        payment_method_billing: c.billing.clone(),
        authentication_type: intent.authentication_type,
        connector_payment_id: None,
        connector_reference_id: None,
        next_action: None,
        error: None,
        cancellation_reason: None,
        routing: Some(Arc::clone(decision)),
        created_at: now,
        modified_at: now,
    }
}

/// Checks that depend on the profile rather than on the request's shape.
pub(super) fn check_payment_method(profile: &Profile, c: &Confirmation) -> Result<(), Error> {
    let PaymentMethod::Card(card) = &c.payment_method else { return Ok(()) };
    if profile.reject_expired_cards && card.expiry.is_expired(Utc::now().date_naive()) {
        return Err(Error::Precondition(format!(
            "payment_method_data.card.card_exp_year: the card expired at the end of {}/{}",
            card.expiry.month_str(),
            card.expiry.year_str()
        )));
    }
    Ok(())
}

/// Tries the routed accounts in order, `attempt` (already stored) with the first. An account that
/// did not take the payment at all has charged nothing, so the next one may; any answer from a
/// connector that took the payment, a decline included, is final. Gives back the intent and the
/// attempts made, as stored.
pub(super) async fn authorize(
    cx: &Context,
    mut intent: PaymentIntent,
    mut attempt: PaymentAttempt,
    candidates: &[&Account],
    confirmation: &Confirmation,
    decision: &Arc<Decision>,
) -> Result<(PaymentIntent, Vec<PaymentAttempt>), Error> {
    let mut made = Vec::with_capacity(1);
    let amount = Amount::new(intent.amount.net_amount()).map_err(Error::InvalidRequest)?;
    let budget_end = Instant::now() + std::time::Duration::from_millis(cx.settings.budget_ms);
    for (i, account) in candidates.iter().enumerate() {
        if i > 0 {
            made.push(std::mem::replace(&mut attempt, new_attempt(cx, &intent, account, confirmation, decision)));
            let update = IntentUpdate {
                active_attempt_id: Some(attempt.id.clone()),
                in_flight_until: Some(in_flight_lease(cx)),
                ..IntentUpdate::status(IntentStatus::Processing, attempt.created_at)
            };
            if !cx.store.begin_attempt(&intent.id, &[IntentStatus::Processing], &update, Some(&attempt)).await? {
                return Err(changed_underneath(&intent));
            }
            intent.active_attempt_id = Some(attempt.id.clone());
        }
        let request = AuthorizeRequest {
            payment_id: &intent.id,
            attempt_id: &attempt.id,
            amount,
            currency: intent.amount.currency,
            capture_method: intent.capture_method,
            authentication_type: intent.authentication_type,
            payment_method: &confirmation.payment_method,
            return_url: intent.details.return_url.as_deref(),
            description: intent.details.description.as_deref(),
            billing: confirmation.billing.as_ref().or(intent.details.billing.as_ref()),
        };
        let started = Instant::now();
        // The first account was asked when the payment was routed.
        let barred = match i {
            0 => None,
            _ if started >= budget_end => Some(("the payment's time budget is spent".to_string(), Cause::Unavailable)),
            _ => barred(cx, &intent.merchant_id, &intent.profile_id, account).await.map(|b| (b.to_string(), b.cause())),
        };
        let called = barred.is_none();
        let (result, cause) = match barred {
            None => {
                let result = call_authorize(cx, account, &request, budget_end).await?;
                let cause = result.as_ref().err().map_or(Cause::Unavailable, Cause::of);
                (result, cause)
            }
            // Nothing is sent: as if the provider had refused the call, the next account may try.
            Some((reason, cause)) => (
                Err(ConnectorError::Unavailable {
                    connector: account.connector.clone(),
                    reason: format!("account `{}` takes no call now: {reason}", account.name),
                }),
                cause,
            ),
        };
        match &result {
            _ if !called => {}
            Ok(_) => account.record(true, started.elapsed()).await,
            Err(ConnectorError::NotSupported { .. }) => {}
            Err(_) => account.record(false, started.elapsed()).await,
        }
        match result {
            Ok(outcome) => {
                settle(cx, &mut intent, &mut attempt, outcome, None, CONFIRMED, Holder::ThisCall).await?;
                break;
            }
            Err(e @ ConnectorError::Ambiguous { .. }) => {
                // The provider may have charged: no other account may try. The attempt stays
                // pending until a sync settles it.
                tracing::warn!(payment_id = %intent.id, account = %account.name, error = %e, "no clear answer; the attempt stays pending");
                let outcome = call_failed(AttemptStatus::Pending, NO_CLEAR_ANSWER, &e);
                settle(cx, &mut intent, &mut attempt, outcome, None, CONFIRMED, Holder::ThisCall).await?;
                break;
            }
            Err(e) => {
                tracing::info!(payment_id = %intent.id, account = %account.name, error = %e, "connector did not take the payment");
                passed_over(account, cause);
                let leaves = match i + 1 == candidates.len() {
                    true => CONFIRMED,
                    false => Leaves::UnderWay,
                };
                let outcome = call_failed(AttemptStatus::Failure, NOT_TAKEN, &e);
                settle(cx, &mut intent, &mut attempt, outcome, None, leaves, Holder::ThisCall).await?;
            }
        }
    }
    made.push(attempt);
    Ok((intent, made))
}

/// One account's authorize, within the attempt's time and what is left of the payment's budget.
/// A call with no clear answer is made once more, with the same attempt (and so the same
/// idempotency keys), when the connector deduplicates by them: the provider then answers what
/// became of the first call, and the payment need not wait for a sync.
pub(super) async fn call_authorize(
    cx: &Context,
    account: &Account,
    request: &AuthorizeRequest<'_>,
    budget_end: Instant,
) -> Result<ConnectorResult<PaymentOutcome>, Error> {
    let connector = connector_for(cx, account)?;
    let attempt_timeout = std::time::Duration::from_millis(cx.settings.attempt_timeout_ms);
    let (attempt_end, limit) = match Instant::now() + attempt_timeout {
        end if end <= budget_end => (end, "the attempt's time"),
        _ => (budget_end, "the payment's time budget"),
    };
    let call = || async {
        let within = attempt_end.saturating_duration_since(Instant::now());
        let card = match request.payment_method {
            PaymentMethod::Card(card) => Some(card),
            PaymentMethod::OpenBanking => None,
        };
        let authorize = metered_with_card(account, "authorize", card, connector.authorize(account, request));
        tokio::time::timeout(within, authorize).await.unwrap_or_else(|_| {
            // The request may have been sent: what became of it is unclear.
            Err(ConnectorError::Ambiguous {
                connector: account.connector.clone(),
                reason: format!("no answer within {limit}"),
                unclear: Unclear::NoAnswer,
            })
        })
    };
    let first = call().await;
    // An answer that could not be read would be answered again the same way.
    if !matches!(first, Err(ConnectorError::Ambiguous { unclear: Unclear::NoAnswer, .. }))
        || !connector.repeats_safely()
        || Instant::now() >= attempt_end
    {
        return Ok(first);
    }
    tracing::info!(attempt_id = %request.attempt_id, account = %account.name, "no clear answer; asking again with the same idempotency keys");
    Ok(match call().await {
        Ok(outcome) => Ok(outcome),
        // Still nothing clear (or a refusal of the repeat, which says nothing of the first call).
        Err(_) => first,
    })
}
