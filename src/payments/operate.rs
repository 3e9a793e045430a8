//! The calls on a payment's active attempt after its authorization — capture, cancel, the
//! payer's return from authentication — and the reports that settle it without a call: a sync
//! asks the provider, a notification tells. A call holds the payment `processing` for its length;
//! a report applies only while no call holds it.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::connectors::{
    metered, Account, CallWindow, CaptureRequest, CompleteAuthorizeRequest, Connector, ConnectorError, ConnectorResult,
    SyncRequest, Unclear, VoidRequest,
};
use crate::domain::outcome::PaymentOutcome;
use crate::domain::payment::{Payment, PaymentAttempt, PaymentIntent};
use crate::domain::status::{IntentStatus, Operation};
use crate::money::{Amount, Currency};
use crate::payments::intents::{end_unconfirmed, load, lost_race, require, view};
use crate::payments::selection::attempt_connector;
use crate::payments::settle::{in_flight_lease, settle, Holder, Leaves};
use crate::payments::{Context, Error, Scope};
use crate::store::IntentUpdate;

/// A call on a payment's active attempt, with what it needs beyond the attempt.
enum Call {
    Capture {
        amount: i64,
        currency: Currency,
    },
    Cancel {
        reason: Option<String>,
    },
    /// The payer is back from authenticating, with what the provider's page sent along.
    CompleteAuthentication {
        params: BTreeMap<String, String>,
    },
}

impl Call {
    fn operation(&self) -> Operation {
        match self {
            Call::Capture { .. } => Operation::Capture,
            Call::Cancel { .. } => Operation::Cancel,
            Call::CompleteAuthentication { .. } => Operation::CompleteAuthentication,
        }
    }

    /// Makes the call: the provider's outcome and, for a capture, the amount now captured.
    async fn make(
        &self,
        intent: &PaymentIntent,
        connector: &dyn Connector,
        account: &Account,
        attempt: &PaymentAttempt,
    ) -> ConnectorResult<(PaymentOutcome, Option<i64>)> {
        let connector_payment_id = attempt.connector_payment_id.as_deref();
        match self {
            Call::Capture { amount, currency } => {
                let request = CaptureRequest {
                    attempt_id: &attempt.id,
                    connector_payment_id,
                    amount_authorized: attempt.net_amount,
                    amount_to_capture: *amount,
                    currency: *currency,
                };
                let outcome = metered(account, "capture", connector.capture(account, &request)).await?;
                Ok((outcome, Some(*amount)))
            }
            Call::Cancel { reason } => {
                let request = VoidRequest {
                    attempt_id: &attempt.id,
                    connector_payment_id,
                    cancellation_reason: reason.as_deref(),
                };
                Ok((metered(account, "void", connector.void(account, &request)).await?, None))
            }
            Call::CompleteAuthentication { params } => {
                let request = CompleteAuthorizeRequest {
                    payment_id: &intent.id,
                    attempt_id: &attempt.id,
                    connector_payment_id,
                    capture_method: intent.capture_method,
                    params,
                };
                let call = connector.complete_authorize(account, &request);
                Ok((metered(account, "complete_authorize", call).await?, None))
            }
        }
    }
}

pub(super) fn active_attempt(view: &Payment) -> Result<PaymentAttempt, Error> {
    view.active_attempt()
        .cloned()
        .ok_or_else(|| Error::Internal(format!("payment {} has no active attempt", view.intent.id).into()))
}

/// Where a report on a payment comes from.
pub(super) enum Report {
    /// Ask the provider (a sync).
    Ask,
    /// The provider said it on its own (a notification).
    Told(Box<PaymentOutcome>),
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
    operate(cx, intent, Call::Capture { amount, currency }).await
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
    operate(cx, intent, Call::Cancel { reason }).await
}

/// The customer is back from the page a connector sent them to. The caller is the customer's
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
    operate(cx, intent, Call::CompleteAuthentication { params }).await
}

/// Runs one connector call on the active attempt of an intent claimed for it: the intent goes
/// to `processing`, held by this call, for the length of the call (bounded by the attempt's
/// time) and, if the connector cannot do it, back to where it was with nothing changed. A
/// cancellation keeps its reason on the attempt. The answer is what is stored.
async fn operate(cx: &Context, intent: PaymentIntent, call: Call) -> Result<Payment, Error> {
    let op = call.operation();
    let mut view = view(cx, intent).await?;
    let mut attempt = active_attempt(&view)?;
    let (account, connector) = attempt_connector(cx, &view.intent, &attempt)?;
    // Captures and cancels draw on the account's quota; reads (syncs, the payer's return) do not,
    // so a payment can always learn where it stands.
    if matches!(op, Operation::Capture | Operation::Cancel) {
        let intent = &view.intent;
        cx.snapshot
            .limits
            .check_account(&intent.merchant_id, &intent.profile_id, &account.name)
            .await
            .map_err(Error::RateLimited)?;
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
    let result = tokio::time::timeout(within, call.make(&view.intent, connector, account, &attempt))
        .await
        .unwrap_or_else(|_| {
            Err(ConnectorError::Ambiguous {
                connector: account.connector.clone(),
                reason: "no answer within the attempt's time".into(),
                unclear: Unclear::NoAnswer,
            })
        });
    match result {
        Ok((outcome, captured)) => {
            if let Call::Cancel { reason: Some(reason) } = call {
                attempt.cancellation_reason = Some(reason);
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
            Err(e.into())
        }
    }
}

/// Stores what the provider reports of the active attempt, without claiming the payment: the
/// report applies only if the payment is still as it was read and no call is under way on it,
/// so a sync never makes a concurrent capture or cancel fail, nor overtakes one. Gives back
/// the payment as stored, and whether a report was stored.
pub(super) async fn resync(cx: &Context, intent: PaymentIntent, report: Report) -> Result<(Payment, bool), Error> {
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
