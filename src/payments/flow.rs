//! The payment flows. Each one checks the request against the intent's status, claims the intent
//! with a compare-and-set (so racing requests cannot both proceed), stores the attempt as pending
//! before any connector is called, then stores what the connector answered.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};

use crate::card::CardSummary;
use crate::connectors::{
    metered, metered_with_card, Account, AuthorizeRequest, CallWindow, CaptureRequest, CompleteAuthorizeRequest,
    Connector, ConnectorError, ConnectorResult, SyncRequest, VoidRequest,
};
use crate::domain::decision::{CardView, Decision, RoutingView};
use crate::domain::outcome::PaymentOutcome;
use crate::domain::payment::Payment;
use crate::domain::payment::{Address, AmountDetails, IntentDetails, PaymentAttempt, PaymentError, PaymentIntent};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, IntentStatus, Operation};
use crate::ids;
use crate::merchants::Profile;
use crate::money::Amount;
use crate::payments::Context;
use crate::payments::Error;
use crate::payments::Scope;
use crate::store::IntentUpdate;

/// A payment as the merchant asked for it, validated.
#[derive(Debug)]
pub struct NewIntent {
    pub amount: AmountDetails,
    pub merchant_reference_id: Option<String>,
    pub capture_method: CaptureMethod,
    pub authentication_type: AuthenticationType,
    pub customer_id: Option<String>,
    pub session_expiry_secs: Option<u32>,
    pub details: IntentDetails,
}

/// How the customer pays, validated; the card itself lives only as long as the request.
#[derive(Debug)]
pub struct Confirmation {
    pub payment_method: PaymentMethod,
    pub payment_method_type: String,
    pub payment_method_subtype: Option<String>,
    pub billing: Option<Address>,
    pub return_url: Option<String>,
}

/// The error code of an attempt or refund a connector did not take at all.
pub(crate) const NOT_TAKEN: &str = "connector_not_taken";
/// The error code of an attempt or refund whose outcome the connector left unclear.
pub(crate) const NO_CLEAR_ANSWER: &str = "connector_no_clear_answer";

fn profile<'a>(cx: &'a Context, merchant_id: &str, profile_id: &str) -> Result<&'a Arc<Profile>, Error> {
    cx.directory.profile(merchant_id, profile_id).ok_or_else(|| Error::NotFound(format!("profile `{profile_id}`")))
}

fn new_intent(cx: &Context, scope: &Scope, profile: &Profile, new: NewIntent, status: IntentStatus) -> PaymentIntent {
    let now = Utc::now();
    let expiry = new.session_expiry_secs.unwrap_or(profile.session_expiry_secs);
    PaymentIntent {
        id: cx.ids.payment(),
        merchant_id: scope.merchant_id.clone(),
        profile_id: scope.profile_id.clone(),
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
    let profile = profile(cx, &scope.merchant_id, &scope.profile_id)?;
    let intent = new_intent(cx, scope, profile, new, IntentStatus::RequiresPaymentMethod);
    cx.store.insert_intent(&intent, None).await?;
    Ok(intent)
}

/// What routing is shown of a payment about to be confirmed.
pub fn routing_view(
    id: &str,
    profile_id: &str,
    amount: &AmountDetails,
    customer_id: Option<&str>,
    details: &IntentDetails,
    c: &Confirmation,
) -> RoutingView {
    let base = base_view(id, profile_id, amount, customer_id, details);
    RoutingView {
        payment_method_type: c.payment_method_type.clone(),
        payment_method_subtype: c.payment_method_subtype.clone(),
        card: match &c.payment_method {
            PaymentMethod::Card(card) => Some(CardView {
                network: card.number.network().map(|n| format!("{n:?}")),
                bin: Some(card.number.bin().to_string()),
                issuing_country: card.issuing_country.clone(),
            }),
            PaymentMethod::OpenBanking => None,
        },
        billing_country: country_of(c.billing.as_ref()).or(base.billing_country.clone()),
        ..base
    }
}

/// What routing is shown when choosing who gives `wallet`'s session token for a payment.
pub fn wallet_view(intent: &PaymentIntent, wallet: &str) -> RoutingView {
    let base =
        base_view(&intent.id, &intent.profile_id, &intent.amount, intent.customer_id.as_deref(), &intent.details);
    RoutingView { payment_method_type: "wallet".into(), payment_method_subtype: Some(wallet.to_string()), ..base }
}

/// A payment as routing sees it before its method is known.
fn base_view(
    id: &str,
    profile_id: &str,
    amount: &AmountDetails,
    customer_id: Option<&str>,
    details: &IntentDetails,
) -> RoutingView {
    RoutingView {
        id: id.to_string(),
        amount: amount.net_amount(),
        currency: amount.currency.code().to_string(),
        payment_method_type: String::new(),
        payment_method_subtype: None,
        card: None,
        billing_country: country_of(details.billing.as_ref()),
        customer_id: customer_id.map(str::to_string),
        profile_id: profile_id.to_string(),
        metadata: details.metadata.clone(),
        attempt: 1,
    }
}

fn country_of(address: Option<&Address>) -> Option<String> {
    address.and_then(|b| b.address.as_ref()).and_then(|a| a.country.as_ref()).map(|c| c.as_str().to_string())
}

fn intent_view(intent: &PaymentIntent, c: &Confirmation) -> RoutingView {
    routing_view(&intent.id, &intent.profile_id, &intent.amount, intent.customer_id.as_deref(), &intent.details, c)
}

/// Asks routing which accounts to try, in order, keeping those whose connector takes the
/// payment's method and currency.
fn route<'a>(
    cx: &Context,
    profile: &'a Arc<Profile>,
    intent: &PaymentIntent,
    confirmation: &Confirmation,
) -> Result<(Decision, Vec<&'a Account>), Error> {
    let decision = cx.router.decide(profile, intent_view(intent, confirmation), Utc::now());
    let takes = |a: &&Account| {
        cx.registry.get(&a.connector).is_some_and(|c| c.takes(&confirmation.payment_method, intent.amount.currency))
    };
    let mut accounts: Vec<&Account> =
        decision.candidates.iter().filter_map(|name| profile.account(name)).filter(takes).collect();
    // The first account that takes calls (its circuit is not open) and has quota left takes the
    // payment; those before it are passed over. Later accounts are asked only if the payment
    // reaches them.
    let (mut circuit_open, mut out_of_quota) = (false, None);
    while let Some(first) = accounts.first() {
        match barred(cx, &profile.merchant_id, &profile.id, first) {
            None => break,
            Some(Barred::CircuitOpen) => circuit_open = true,
            Some(Barred::OutOfQuota(refused)) => out_of_quota = Some(refused),
        }
        accounts.remove(0);
    }
    if let (true, Some(refused)) = (accounts.is_empty(), out_of_quota) {
        return Err(Error::RateLimited(refused));
    }
    if accounts.is_empty() && circuit_open {
        return Err(Error::ConnectorUnavailable(
            "every connector account that could take this payment is failing (circuit open); nothing was stored".into(),
        ));
    }
    if accounts.is_empty() {
        return Err(Error::NotSupported("no enabled connector account can take this payment".into()));
    }
    Ok((decision, accounts))
}

/// Why an account takes no call now.
enum Barred {
    CircuitOpen,
    OutOfQuota(crate::limits::Refused),
}

impl std::fmt::Display for Barred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Barred::CircuitOpen => f.write_str("its circuit is open"),
            Barred::OutOfQuota(refused) => write!(f, "its rate limit is reached (retry in {:?})", refused.retry_after),
        }
    }
}

/// Whether `account` takes a payment now: its circuit lets a call through and its quota has one
/// left (which the call then takes).
fn barred(cx: &Context, merchant_id: &str, profile_id: &str, account: &Account) -> Option<Barred> {
    if !account.health.allow() {
        return Some(Barred::CircuitOpen);
    }
    cx.limits.check_account(merchant_id, profile_id, &account.name).err().map(Barred::OutOfQuota)
}

/// Create and confirm in one call: the intent and its first attempt are stored together.
pub async fn create_and_confirm(
    cx: &Context,
    scope: &Scope,
    new: NewIntent,
    confirmation: Confirmation,
) -> Result<Payment, Error> {
    let profile = profile(cx, &scope.merchant_id, &scope.profile_id)?;
    check_payment_method(profile, &confirmation)?;
    let mut intent = new_intent(cx, scope, profile, new, IntentStatus::Processing);
    if let Some(return_url) = &confirmation.return_url {
        intent.details.return_url = Some(return_url.clone());
    }
    let (decision, candidates) = route(cx, profile, &intent, &confirmation)?;
    let attempt = new_attempt(cx, &intent, candidates[0], &confirmation, &decision);
    intent.active_attempt_id = Some(attempt.id.clone());
    cx.store.insert_intent(&intent, Some((&attempt, in_flight_lease(cx)))).await?;
    // A new payment has no attempts but those made here: nothing to read back.
    let (intent, attempts) = authorize(cx, intent, attempt, &candidates, &confirmation, &decision).await?;
    Ok(Payment { intent, attempts })
}

pub async fn confirm(
    cx: &Context,
    scope: &Scope,
    payment_id: &str,
    confirmation: Confirmation,
) -> Result<Payment, Error> {
    let profile = profile(cx, &scope.merchant_id, &scope.profile_id)?;
    check_payment_method(profile, &confirmation)?;
    let mut intent = load(cx, scope, payment_id).await?;
    require(&intent, Operation::Confirm)?;
    if let Some(return_url) = &confirmation.return_url {
        intent.details.return_url = Some(return_url.clone());
    }
    let (decision, candidates) = route(cx, profile, &intent, &confirmation)?;
    let attempt = new_attempt(cx, &intent, candidates[0], &confirmation, &decision);
    let update = IntentUpdate {
        status: IntentStatus::Processing,
        amount_captured: None,
        active_attempt_id: Some(attempt.id.clone()),
        details: confirmation.return_url.is_some().then(|| intent.details.clone()),
        modified_at: attempt.created_at,
        in_flight_until: Some(in_flight_lease(cx)),
        unless_in_flight_at: None,
    };
    if !cx.store.begin_attempt(&intent.id, Operation::Confirm.allowed_from(), &update, Some(&attempt)).await? {
        return Err(lost_race(cx, scope, payment_id, Operation::Confirm).await);
    }
    intent.status = IntentStatus::Processing;
    intent.active_attempt_id = Some(attempt.id.clone());
    let (intent, _) = authorize(cx, intent, attempt, &candidates, &confirmation, &decision).await?;
    view(cx, intent).await
}

/// Tries the routed accounts in order, `attempt` (already stored) with the first. An account that
/// did not take the payment at all has charged nothing, so the next one may; any answer from a
/// connector that took the payment, a decline included, is final. Gives back the intent and the
/// attempts made, as stored.
async fn authorize(
    cx: &Context,
    mut intent: PaymentIntent,
    mut attempt: PaymentAttempt,
    candidates: &[&Account],
    confirmation: &Confirmation,
    decision: &Decision,
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
            _ if started >= budget_end => Some("the payment's time budget is spent".to_string()),
            _ => barred(cx, &intent.merchant_id, &intent.profile_id, account).map(|b| b.to_string()),
        };
        let called = barred.is_none();
        let result = match barred {
            None => call_authorize(cx, account, &request, budget_end).await?,
            // Nothing is sent: as if the provider had refused the call, the next account may try.
            Some(reason) => Err(ConnectorError::Unavailable {
                connector: account.connector.clone(),
                reason: format!("account `{}` takes no call now: {reason}", account.name),
            }),
        };
        match &result {
            _ if !called => {}
            Ok(_) => account.health.record(true, started.elapsed()),
            Err(ConnectorError::NotSupported { .. }) => {}
            Err(_) => account.health.record(false, started.elapsed()),
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
async fn call_authorize(
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
            })
        })
    };
    let first = call().await;
    if !matches!(first, Err(ConnectorError::Ambiguous { .. }))
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

/// A connector call that ended without an answer about the payment, recorded on the attempt:
/// `Failure` when nothing was charged, `Pending` when the outcome is unclear.
fn call_failed(status: AttemptStatus, code: &str, e: &ConnectorError) -> PaymentOutcome {
    PaymentOutcome {
        status,
        amount_captured: None,
        connector_payment_id: None,
        connector_reference_id: None,
        next_action: None,
        error: Some(PaymentError::new(code, e.to_string())),
    }
}

/// Where a settled attempt leaves its payment.
#[derive(Debug, Clone, Copy)]
enum Leaves {
    /// Where the outcome leads. The merchant last knew the payment as `was`; if it is now
    /// otherwise, an event tells them.
    Settled { was: IntentStatus },
    /// Still `processing`: another account is to be tried, and there is nothing to tell yet.
    UnderWay,
}

/// A confirmation's outcome: the merchant last knew the payment unconfirmed.
const CONFIRMED: Leaves = Leaves::Settled { was: IntentStatus::RequiresPaymentMethod };

/// Whose a payment is when an outcome is stored.
#[derive(Debug, Clone, Copy)]
enum Holder {
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
fn in_flight_lease(cx: &Context) -> chrono::DateTime<Utc> {
    let attempt = i64::try_from(cx.settings.attempt_timeout_ms).unwrap_or(i64::MAX / 2);
    Utc::now() + Duration::milliseconds(attempt) + Duration::seconds(STORING_MARGIN_SECS)
}

/// How long a call's answer may take to be stored once the call has ended.
const STORING_MARGIN_SECS: i64 = 5;

/// Stores a connector's answer on the attempt and moves the intent where `leaves` says, with
/// the event for the merchant in the same write. The intent must still be as `holder` expects
/// (`processing` under this call, or as a sync read it and held by no call); when it is not,
/// a sync's report is dropped (false) and this call's is an error. A charge captures the whole
/// attempt unless `captured` says how much.
async fn settle(
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
        Some(was) if was != status && cx.events.wanted(intent, status) => {
            let mut after = intent.clone();
            after.status = status;
            after.amount_captured = amount_captured.unwrap_or(after.amount_captured);
            after.modified_at = now;
            let mut attempts = cx.store.attempts(&intent.id).await?;
            attempts.retain(|a| a.id != attempt.id);
            attempts.push(attempt.clone());
            attempts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            cx.events.payment(&Payment { intent: after, attempts })
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
        // Each payment counts once for each status it reaches.
        metrics::counter!("switchyard_payments_total", "connector" => attempt.connector.clone(),
            "account" => attempt.connector_account.clone(), "payment_method" => attempt.payment_method_type.clone(),
            "status" => status.as_str())
        .increment(1);
    }
    intent.status = status;
    if let Some(captured) = amount_captured {
        intent.amount_captured = captured;
    }
    intent.modified_at = now;
    Ok(true)
}

fn new_attempt(
    cx: &Context,
    intent: &PaymentIntent,
    account: &Account,
    c: &Confirmation,
    decision: &Decision,
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
        routing: Some(decision.clone()),
        created_at: now,
        modified_at: now,
    }
}

/// Checks that depend on the profile rather than on the request's shape.
fn check_payment_method(profile: &Profile, c: &Confirmation) -> Result<(), Error> {
    let PaymentMethod::Card(card) = &c.payment_method else { return Ok(()) };
    if profile.reject_expired_cards && card.expiry.is_expired(Utc::now().date_naive()) {
        return Err(Error::InvalidRequest(format!(
            "payment_method_data.card.card_exp_year: the card expired at the end of {}/{}",
            card.expiry.month_str(),
            card.expiry.year_str()
        )));
    }
    Ok(())
}

fn changed_underneath(intent: &PaymentIntent) -> Error {
    Error::InvalidState(format!("payment {} was changed by another request while its connector was called", intent.id))
}

/// The account and connector an existing attempt went through, for the calls that follow it.
pub(crate) fn attempt_connector<'a>(
    cx: &'a Context,
    intent: &PaymentIntent,
    attempt: &PaymentAttempt,
) -> Result<(&'a Account, &'a dyn Connector), Error> {
    let profile = profile(cx, &intent.merchant_id, &intent.profile_id)?;
    let account = profile.account(&attempt.connector_account).ok_or_else(|| {
        Error::ConnectorUnavailable(format!(
            "connector account `{}` of this payment is no longer configured",
            attempt.connector_account
        ))
    })?;
    Ok((account, connector_for(cx, account)?))
}

/// An account whose connector is not registered (its plugin did not load) is out of service:
/// its payments wait, unchanged, until it is back.
fn connector_for<'a>(cx: &'a Context, account: &Account) -> Result<&'a dyn Connector, Error> {
    cx.registry.get(&account.connector).map(|c| c.as_ref()).ok_or_else(|| {
        Error::ConnectorUnavailable(format!(
            "connector `{}` of account `{}` is out of service",
            account.connector, account.name
        ))
    })
}

fn require(intent: &PaymentIntent, op: Operation) -> Result<(), Error> {
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

/// The answer when another request moved the intent between our read and our write.
async fn lost_race(cx: &Context, scope: &Scope, payment_id: &str, op: Operation) -> Error {
    match load(cx, scope, payment_id).await {
        Ok(intent) => require(&intent, op).err().unwrap_or_else(|| {
            Error::InvalidState(format!("payment {payment_id} is being changed by another request"))
        }),
        Err(e) => e,
    }
}

/// An intent the scope owns. One whose session ran out before it was confirmed is marked
/// expired here, the first time anyone looks.
async fn load(cx: &Context, scope: &Scope, payment_id: &str) -> Result<PaymentIntent, Error> {
    let mut intent = cx
        .store
        .find_intent(payment_id, &scope.merchant_id, &scope.profile_id)
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
async fn end_unconfirmed(
    cx: &Context,
    intent: &PaymentIntent,
    status: IntentStatus,
) -> Result<Option<PaymentIntent>, Error> {
    let now = Utc::now();
    let after = PaymentIntent { status, modified_at: now, ..intent.clone() };
    let event = cx.events.payment(&Payment { intent: after.clone(), attempts: Vec::new() });
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

async fn view(cx: &Context, intent: PaymentIntent) -> Result<Payment, Error> {
    let attempts = cx.store.attempts(&intent.id).await?;
    Ok(Payment { intent, attempts })
}

pub async fn retrieve(cx: &Context, scope: &Scope, payment_id: &str) -> Result<Payment, Error> {
    let intent = load(cx, scope, payment_id).await?;
    view(cx, intent).await
}

pub async fn retrieve_intent(cx: &Context, scope: &Scope, payment_id: &str) -> Result<PaymentIntent, Error> {
    load(cx, scope, payment_id).await
}

/// What a connector call on an active attempt gives back: the outcome and, for captures, the
/// amount now captured.
type ConnectorCall<'a> = Pin<Box<dyn Future<Output = ConnectorResult<(PaymentOutcome, Option<i64>)>> + Send + 'a>>;

/// Runs one connector call on the active attempt of an intent claimed for `op`: the intent goes
/// to `processing`, held by this call, for the length of the call (bounded by the attempt's
/// time) and, if the connector cannot do it, back to where it was with nothing changed. A
/// cancellation keeps its reason on the attempt. The answer is what is stored.
async fn operate<F>(
    cx: &Context,
    intent: PaymentIntent,
    op: Operation,
    cancellation_reason: Option<String>,
    call: F,
) -> Result<Payment, Error>
where
    F: for<'a> FnOnce(&'a dyn Connector, &'a Account, &'a PaymentAttempt) -> ConnectorCall<'a>,
{
    let mut view = view(cx, intent).await?;
    let mut attempt = active_attempt(&view)?;
    let (account, connector) = attempt_connector(cx, &view.intent, &attempt)?;
    // Captures and cancels draw on the account's quota; reads (syncs, the payer's return) do not,
    // so a payment can always learn where it stands.
    if matches!(op, Operation::Capture | Operation::Cancel) {
        let intent = &view.intent;
        cx.limits.check_account(&intent.merchant_id, &intent.profile_id, &account.name).map_err(Error::RateLimited)?;
    }
    let before = view.intent.status;
    let claim = IntentUpdate {
        in_flight_until: Some(in_flight_lease(cx)),
        ..IntentUpdate::status(IntentStatus::Processing, Utc::now())
    };
    if !cx.store.transition_intent(&view.intent.id, &[before], &claim, None).await? {
        return Err(Error::InvalidState(format!("payment {} is being changed by another request", view.intent.id)));
    }
    view.intent.status = IntentStatus::Processing;
    view.intent.modified_at = claim.modified_at;
    let within = std::time::Duration::from_millis(cx.settings.attempt_timeout_ms);
    let result = tokio::time::timeout(within, call(connector, account, &attempt)).await.unwrap_or_else(|_| {
        Err(ConnectorError::Ambiguous {
            connector: account.connector.clone(),
            reason: "no answer within the attempt's time".into(),
        })
    });
    match result {
        Ok((outcome, captured)) => {
            if cancellation_reason.is_some() {
                attempt.cancellation_reason = cancellation_reason;
            }
            let leaves = Leaves::Settled { was: before };
            settle(cx, &mut view.intent, &mut attempt, outcome, captured, leaves, Holder::ThisCall).await?;
            self::view(cx, view.intent).await
        }
        Err(ConnectorError::Ambiguous { reason, .. }) => {
            // The provider may have acted: the payment stays `processing`, no longer held by
            // this call, until a sync, a notification or the reconciler settles it.
            tracing::warn!(payment_id = %view.intent.id, operation = op.name(), %reason, "no clear answer; the payment stays processing");
            let release = IntentUpdate::status(IntentStatus::Processing, Utc::now());
            cx.store.transition_intent(&view.intent.id, &[IntentStatus::Processing], &release, None).await?;
            view.intent.modified_at = release.modified_at;
            Ok(view)
        }
        Err(e) => {
            let back = IntentUpdate::status(before, Utc::now());
            cx.store.transition_intent(&view.intent.id, &[IntentStatus::Processing], &back, None).await?;
            tracing::info!(payment_id = %view.intent.id, operation = op.name(), error = %e, "connector did not do it");
            Err(match e {
                ConnectorError::NotSupported { .. } => Error::NotSupported(e.to_string()),
                ConnectorError::Refused { .. } => Error::ConnectorRefused(e.to_string()),
                _ => Error::ConnectorUnavailable(e.to_string()),
            })
        }
    }
}

fn active_attempt(view: &Payment) -> Result<PaymentAttempt, Error> {
    view.active_attempt()
        .cloned()
        .ok_or_else(|| Error::Internal(format!("payment {} has no active attempt", view.intent.id).into()))
}

/// Where a report on a payment comes from.
enum Report {
    /// Ask the provider (a sync).
    Ask,
    /// The provider said it on its own (a notification).
    Told(Box<PaymentOutcome>),
}

/// Stores what the provider reports of the active attempt, without claiming the payment: the
/// report applies only if the payment is still as it was read and no call is under way on it,
/// so a sync never makes a concurrent capture or cancel fail, nor overtakes one. Gives back
/// the payment as stored, and whether a report was stored.
async fn resync(cx: &Context, intent: PaymentIntent, report: Report) -> Result<(Payment, bool), Error> {
    let mut view = view(cx, intent).await?;
    let mut attempt = active_attempt(&view)?;
    let (account, connector) = attempt_connector(cx, &view.intent, &attempt)?;
    let outcome = match report {
        Report::Told(outcome) => *outcome,
        Report::Ask => {
            let request = SyncRequest {
                attempt_id: &attempt.id,
                connector_payment_id: attempt.connector_payment_id.as_deref(),
                amount: attempt.net_amount,
                // An attempt's calls, its repeat included, end within its time.
                window: Some(CallWindow::new(attempt.created_at, cx.settings.attempt_timeout_ms)),
            };
            match metered(account, "sync", connector.sync(account, &request)).await {
                Ok(outcome) => outcome,
                // Nothing to learn now: the payment stays as stored.
                Err(ConnectorError::NotSupported { .. } | ConnectorError::Ambiguous { .. }) => {
                    return Ok((view, false))
                }
                Err(e) => return Err(Error::ConnectorUnavailable(e.to_string())),
            }
        }
    };
    let read_as = view.intent.status;
    let leaves = Leaves::Settled { was: read_as };
    let holder = Holder::Nobody { read_as };
    if settle(cx, &mut view.intent, &mut attempt, outcome, None, leaves, holder).await? {
        Ok((self::view(cx, view.intent).await?, true))
    } else {
        // Another request or call moved it meanwhile: what it stored stands.
        let intent = cx.store.find_intent_by_id(&view.intent.id).await?;
        let intent = intent.ok_or_else(|| Error::NotFound(format!("payment {}", view.intent.id)))?;
        Ok((self::view(cx, intent).await?, false))
    }
}

/// Applies what a provider reported on its own (a webhook) to the intent's active attempt, as if
/// a sync had just asked. A report the payment could not take now — a call under way holds it,
/// or it moved meanwhile — is refused, so that the provider sends it again: the call may end
/// without learning what the notification says.
pub(crate) async fn apply_outcome(
    cx: &Context,
    intent: PaymentIntent,
    outcome: PaymentOutcome,
) -> Result<Payment, Error> {
    let id = intent.id.clone();
    match resync(cx, intent, Report::Told(Box::new(outcome))).await? {
        (view, true) => Ok(view),
        (_, false) => Err(Error::InvalidState(format!(
            "payment {id} is being changed by a call under way: the notification was not applied; send it again"
        ))),
    }
}

/// Asks the connector where the payment stands and stores its answer
/// (`GET /v2/payments/{id}?force_sync=true`). A connector that cannot say leaves it as stored.
pub async fn sync(cx: &Context, scope: &Scope, payment_id: &str) -> Result<Payment, Error> {
    let intent = load(cx, scope, payment_id).await?;
    if !intent.status.allows(Operation::Sync) {
        return view(cx, intent).await;
    }
    resync(cx, intent, Report::Ask).await.map(|(view, _)| view)
}

pub async fn capture(
    cx: &Context,
    scope: &Scope,
    payment_id: &str,
    amount_to_capture: Option<Amount>,
) -> Result<Payment, Error> {
    let intent = load(cx, scope, payment_id).await?;
    require(&intent, Operation::Capture)?;
    let capturable = intent.amount_capturable();
    let amount = amount_to_capture.map_or(capturable, Amount::minor);
    if amount > capturable {
        return Err(Error::InvalidRequest(format!(
            "amount_to_capture: {amount} exceeds the amount capturable, {capturable}"
        )));
    }
    let currency = intent.amount.currency;
    operate(cx, intent, Operation::Capture, None, move |connector, account, attempt| {
        Box::pin(async move {
            let request = CaptureRequest {
                attempt_id: &attempt.id,
                connector_payment_id: attempt.connector_payment_id.as_deref(),
                amount_authorized: attempt.net_amount,
                amount_to_capture: amount,
                currency,
            };
            metered(account, "capture", connector.capture(account, &request))
                .await
                .map(|outcome| (outcome, Some(amount)))
        })
    })
    .await
}

pub async fn cancel(cx: &Context, scope: &Scope, payment_id: &str, reason: Option<String>) -> Result<Payment, Error> {
    let intent = load(cx, scope, payment_id).await?;
    require(&intent, Operation::Cancel)?;
    if intent.status == IntentStatus::RequiresPaymentMethod {
        // Nothing reached a connector yet: cancelling is only a change of status.
        return match end_unconfirmed(cx, &intent, IntentStatus::Cancelled).await? {
            Some(cancelled) => Ok(Payment { intent: cancelled, attempts: Vec::new() }),
            None => Err(lost_race(cx, scope, payment_id, Operation::Cancel).await),
        };
    }
    let for_connector = reason.clone();
    operate(cx, intent, Operation::Cancel, reason, move |connector, account, attempt| {
        Box::pin(async move {
            let request = VoidRequest {
                attempt_id: &attempt.id,
                connector_payment_id: attempt.connector_payment_id.as_deref(),
                cancellation_reason: for_connector.as_deref(),
            };
            metered(account, "void", connector.void(account, &request)).await.map(|outcome| (outcome, None))
        })
    })
    .await
}

/// The customer is back from the page a connector sent them to. The scope is the customer's
/// browser, not the merchant: the payment id is the daemon's own, and the connector decides
/// from its parameters (or by asking the provider) how the authentication went.
pub async fn complete_authentication(
    cx: &Context,
    payment_id: &str,
    params: BTreeMap<String, String>,
) -> Result<Payment, Error> {
    let intent = cx
        .store
        .find_intent_by_id(payment_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("payment {payment_id}")))?;
    require(&intent, Operation::CompleteAuthentication)?;
    let capture_method = intent.capture_method;
    let id = intent.id.clone();
    operate(cx, intent, Operation::CompleteAuthentication, None, move |connector, account, attempt| {
        Box::pin(async move {
            let request = CompleteAuthorizeRequest {
                payment_id: &id,
                attempt_id: &attempt.id,
                connector_payment_id: attempt.connector_payment_id.as_deref(),
                capture_method,
                params: &params,
            };
            metered(account, "complete_authorize", connector.complete_authorize(account, &request))
                .await
                .map(|outcome| (outcome, None))
        })
    })
    .await
}
