//! Storing what a provider answered about an attempt: the attempt's status and ids, the intent's
//! status and captured amount, and the merchant's event, in one write that applies only while
//! the payment is still as its writer expects.

use chrono::{Duration, Utc};

use crate::domain::decline::DeclineCode;
use crate::domain::outcome::PaymentOutcome;
use crate::domain::payment::{Payment, PaymentAttempt, PaymentError, PaymentIntent};
use crate::domain::status::{AttemptStatus, AuthenticationType, IntentStatus};
use crate::payments::intents::changed_underneath;
use crate::payments::{Context, Error};
use crate::store::IntentUpdate;

/// The error code of an attempt or refund a connector did not take at all.
pub(crate) const NOT_TAKEN: &str = "connector_not_taken";

/// The error code of an attempt or refund whose outcome the connector left unclear.
pub(crate) const NO_CLEAR_ANSWER: &str = "connector_no_clear_answer";

/// Where a settled attempt leaves its payment.
#[derive(Debug, Clone, Copy)]
pub(super) enum Leaves {
    /// Where the outcome leads. The merchant last knew the payment as `was`; if it is now
    /// otherwise, an event tells them.
    Settled { was: IntentStatus },
    /// Still `processing`: another account is to be tried, and there is nothing to tell yet.
    UnderWay,
}

/// A confirmation's outcome: the merchant last knew the payment unconfirmed.
pub(super) const CONFIRMED: Leaves = Leaves::Settled { was: IntentStatus::RequiresPaymentMethod };

/// Whose a payment is when an outcome is stored.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// The call that reports it: it claimed the payment (`processing`) for its connector call.
    ThisCall,
    /// No call: a sync's or a notification's report, stored only if the payment is still as
    /// it was read and no call holds it now — a call under way would otherwise be overtaken
    /// by an answer given before it acted.
    Nobody { read_as: IntentStatus },
}

/// Until when a connector call on a payment, begun now, may last: the attempt's time (every
/// call is bounded by it), and a margin for storing its answer. Syncs, notifications and the
/// reconciler leave the payment to the call till then.
pub(super) fn in_flight_lease(cx: &Context) -> chrono::DateTime<Utc> {
    let attempt = i64::try_from(cx.settings.attempt_timeout_ms).unwrap_or(i64::MAX / 2);
    Utc::now() + Duration::milliseconds(attempt) + Duration::seconds(STORING_MARGIN_SECS)
}

/// How long a call's answer may take to be stored once the call has ended.
pub(super) const STORING_MARGIN_SECS: i64 = 5;

/// Stores a connector's answer on the attempt and moves the intent where `leaves` says, with
/// the event for the merchant in the same write. The intent must still be as `holder` expects
/// (`processing` under this call, or as a sync read it and held by no call); when it is not,
/// a sync's report is dropped (false) and this call's is an error. A charge captures the whole
/// attempt unless `captured` says how much.
pub(super) async fn settle(
    cx: &Context,
    intent: &mut PaymentIntent,
    attempt: &mut PaymentAttempt,
    outcome: PaymentOutcome,
    captured: Option<i64>,
    leaves: Leaves,
    holder: Holder,
) -> Result<bool, Error> {
    let now = Utc::now();
    if outcome.status == AttemptStatus::AuthenticationPending {
        // Whatever was asked for, the customer is being authenticated now.
        attempt.authentication_type = AuthenticationType::ThreeDs;
    }
    // What is captured: what this call captured, else what the provider reports, else what is
    // already known (a sync that learns no amount must not forget a partial capture), else all.
    // A report of more than the attempt's amount is not believed: refunds are bounded by it.
    let known = (intent.amount_captured > 0).then_some(intent.amount_captured);
    let reported = outcome.amount_captured.filter(|c| (0..=attempt.net_amount).contains(c));
    let partial_amount = captured.or(reported).or(known);
    // A partial charge of an amount nobody knows is no answer about the money: the payment
    // stays `processing` until a sync or notification says how much.
    let outcome = match outcome.status {
        AttemptStatus::PartialCharged if partial_amount.is_none() => PaymentOutcome {
            status: AttemptStatus::Pending,
            error: Some(PaymentError::new(NO_CLEAR_ANSWER, "a partial charge was reported without its amount")),
            ..outcome
        },
        _ => outcome,
    };
    let amount_captured = match outcome.status {
        AttemptStatus::Charged | AttemptStatus::PartialCharged => partial_amount.or(Some(attempt.net_amount)),
        _ => None,
    };
    // Less than the whole amount captured is a partial charge, whoever reports it.
    let charged = match (outcome.status, amount_captured) {
        (AttemptStatus::Charged, Some(amount)) if amount < attempt.net_amount => AttemptStatus::PartialCharged,
        (status, _) => status,
    };
    attempt.status = charged;
    attempt.connector_payment_id = outcome.connector_payment_id.or(attempt.connector_payment_id.take());
    attempt.connector_reference_id = outcome.connector_reference_id.or(attempt.connector_reference_id.take());
    attempt.next_action = outcome.next_action;
    attempt.error = outcome.error;
    attempt.modified_at = now;
    let (status, was) = match leaves {
        Leaves::Settled { was } if reopens(intent, charged, was) => (IntentStatus::RequiresPaymentMethod, Some(was)),
        Leaves::Settled { was } => (charged.intent_status(), Some(was)),
        Leaves::UnderWay => (IntentStatus::Processing, None),
    };
    let (from, unless_in_flight_at) = match holder {
        Holder::ThisCall => (IntentStatus::Processing, None),
        Holder::Nobody { read_as } => (read_as, Some(now)),
    };
    let update = IntentUpdate {
        amount_captured,
        // Another account is to be tried: the payment stays this call's.
        in_flight_until: matches!(leaves, Leaves::UnderWay).then(|| in_flight_lease(cx)),
        unless_in_flight_at,
        ..IntentUpdate::status(status, now)
    };
    let event = match was {
        Some(was) if was != status && cx.events.wanted(&cx.snapshot.directory, intent, status) => {
            let mut after = intent.clone();
            after.status = status;
            after.amount_captured = amount_captured.unwrap_or(after.amount_captured);
            after.modified_at = now;
            let mut attempts = cx.store.attempts(&intent.id).await?;
            attempts.retain(|a| a.id != attempt.id);
            attempts.push(attempt.clone());
            attempts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            cx.events.payment(&cx.snapshot.directory, &Payment { intent: after, attempts })
        }
        _ => None,
    };
    if !cx.store.settle_attempt(attempt, &[from], &update, event.as_ref()).await? {
        return match holder {
            Holder::ThisCall => Err(changed_underneath(intent)),
            Holder::Nobody { .. } => Ok(false),
        };
    }
    if event.is_some() {
        cx.events.written();
    }
    if status != IntentStatus::Processing {
        reached(cx, intent, attempt, status, now);
    }
    intent.status = status;
    if let Some(captured) = amount_captured {
        intent.amount_captured = captured;
    }
    intent.modified_at = now;
    Ok(true)
}

/// Whether a refusal leaves the payment open for another try: one paid through its payment link,
/// refused while the payer is at it (confirming, or authenticating), moved no money, and the
/// payer is still on the page to try another card.
fn reopens(intent: &PaymentIntent, outcome: AttemptStatus, was: IntentStatus) -> bool {
    matches!(outcome, AttemptStatus::Failure | AttemptStatus::AuthenticationFailed)
        && matches!(was, IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresCustomerAction)
        && intent.details.has_payment_link()
}

/// A payment reached `status` through `attempt`: counted once for each status it reaches
/// (`switchyard_payments_total`), with a failure's decline code, and logged.
fn reached(
    cx: &Context,
    intent: &PaymentIntent,
    attempt: &PaymentAttempt,
    status: IntentStatus,
    now: chrono::DateTime<Utc>,
) {
    // A refusal is counted with its code whether it ended the payment or left it open.
    let decline = match attempt.status {
        AttemptStatus::Failure | AttemptStatus::AuthenticationFailed => {
            Some(attempt.error.as_ref().map_or(DeclineCode::Other, DeclineCode::of))
        }
        _ => None,
    };
    let decline_code = decline.map_or("none", DeclineCode::as_str);
    // Counted with the account, unless the configuration serving now has no such account or has
    // it on another connector (an attempt settled after a change).
    let account = cx
        .snapshot
        .directory
        .profile(&intent.merchant_id, &intent.profile_id)
        .and_then(|p| p.account(&attempt.connector_account).filter(|a| a.connector == attempt.connector));
    match account {
        Some(account) => {
            account.meters.count_payment(account, &attempt.payment_method_type, status.as_str(), decline_code)
        }
        None => metrics::counter!("switchyard_payments_total", "profile" => intent.profile_id.clone(),
            "account" => attempt.connector_account.clone(), "connector" => attempt.connector.clone(),
            "payment_method" => attempt.payment_method_type.clone(), "status" => status.as_str(),
            "decline_code" => decline_code)
        .increment(1),
    }
    let duration_ms = (now - attempt.created_at).num_milliseconds();
    tracing::info!(payment_id = %intent.id, attempt_id = %attempt.id, profile = %intent.profile_id,
        account = %attempt.connector_account, connector = %attempt.connector, status = %status.as_str(),
        decline_code = %decline_code, duration_ms, "payment outcome");
}
