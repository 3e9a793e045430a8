//! Notifications from providers: verified by the account's connector, then applied to the attempt
//! or refund they are about, through the same compare-and-set as any other change. A notification
//! repeated, or about a payment that has already moved past it, changes nothing.
//!
//! One that contradicts a settled record is never dropped. Where the provider is the authority on
//! the money — it says it charged (or holds) money for the attempt a payment counts, which is
//! recorded as having none — the record follows it. Any other contradiction is raised: counted in
//! `switchyard_discrepancies_total` and logged as an error, for a person to settle.

use chrono::Utc;

use crate::connectors::{Account, Connector, WebhookError, WebhookEvent, WebhookRequest};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::{PaymentAttempt, PaymentIntent, Refund};
use crate::domain::status::{AttemptStatus, IntentStatus, RefundStatus};
use crate::merchants::{AccountLookup, Profile};
use crate::payments::operate::apply_outcome;
use crate::payments::{refunds, Context, Error};
use crate::store::{AttemptKey, Owner, RefundKey};

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    AlreadyKnown,
    NotTracked,
    /// It contradicts the record, which it was not allowed to change: raised for a person.
    Discrepancy,
}

/// A notification that contradicts a settled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discrepancy {
    /// The provider charged or holds money for the attempt the payment counts, recorded as
    /// having none (failed, cancelled). Applied: the money moved.
    ChargedRecordedFailed,
    /// The provider charged or holds money for an attempt the payment does not count (another
    /// attempt is the payment's). Raised: the customer may have paid twice.
    ChargedOtherAttempt,
    /// The provider says an attempt recorded as charged did not charge. Raised.
    FailedRecordedCharged,
    /// The provider made a refund recorded as failed, whose amount was given back. Raised: the
    /// payment may since have been refunded again from that amount.
    RefundSucceededRecordedFailed,
    /// The provider failed a refund recorded as made. Raised.
    RefundFailedRecordedSucceeded,
}

impl Discrepancy {
    fn kind(self) -> &'static str {
        match self {
            Discrepancy::ChargedRecordedFailed => "payment_charged_recorded_failed",
            Discrepancy::ChargedOtherAttempt => "payment_charged_other_attempt",
            Discrepancy::FailedRecordedCharged => "payment_failed_recorded_charged",
            Discrepancy::RefundSucceededRecordedFailed => "refund_succeeded_recorded_failed",
            Discrepancy::RefundFailedRecordedSucceeded => "refund_failed_recorded_succeeded",
        }
    }

    fn applied(self) -> bool {
        self == Discrepancy::ChargedRecordedFailed
    }

    /// Counts and logs it; `id` is the payment or refund, `recorded` and `reported` its status
    /// in the record and at the provider.
    fn report(self, account: &Account, id: &str, recorded: &str, reported: &str) {
        let action = if self.applied() { "applied" } else { "raised" };
        metrics::counter!("switchyard_discrepancies_total", "connector" => account.connector.clone(),
            "kind" => self.kind(), "action" => action)
        .increment(1);
        if self.applied() {
            tracing::warn!(id, account = %account.name, kind = self.kind(), recorded, reported,
                "the provider contradicts a settled record; the record follows the provider");
        } else {
            tracing::error!(id, account = %account.name, kind = self.kind(), recorded, reported,
                "the provider contradicts a settled record; left as recorded, to be settled by hand");
        }
    }
}

/// Whether an attempt's status says money was charged or is held at the provider.
fn holds_money(status: AttemptStatus) -> bool {
    matches!(status, AttemptStatus::Authorized | AttemptStatus::Charged | AttemptStatus::PartialCharged)
}

/// What a provider's report about a settled attempt (or one the payment no longer counts) means:
/// nothing new, or a discrepancy. `counted` is whether it is the attempt its payment counts.
fn judge(recorded: AttemptStatus, reported: AttemptStatus, counted: bool) -> Option<Discrepancy> {
    use AttemptStatus::{AuthenticationPending, Authorized, Charged, PartialCharged, Pending, Voided};
    match (recorded, reported) {
        // A step on the way, reported late: the record is past it.
        (_, Pending | AuthenticationPending) => None,
        (Charged | PartialCharged | Voided, Authorized) => None,
        _ if recorded == reported || holds_money(recorded) == holds_money(reported) => None,
        _ if holds_money(reported) && counted => Some(Discrepancy::ChargedRecordedFailed),
        _ if holds_money(reported) => Some(Discrepancy::ChargedOtherAttempt),
        _ => Some(Discrepancy::FailedRecordedCharged),
    }
}

/// The connector account a notification is addressed to, with its profile.
fn account<'a>(cx: &'a Context, to: &Addressee<'_>) -> Result<(&'a Profile, &'a Account, &'a dyn Connector), Error> {
    let Addressee { merchant_id, profile_id, account: name } = *to;
    let (profile, account) =
        cx.snapshot.directory.notified_account(merchant_id, profile_id, name).map_err(|e| match e {
            AccountLookup::NotFound => Error::NotFound(match profile_id {
                Some(profile_id) => {
                    format!("connector account `{name}` of profile `{profile_id}` of merchant `{merchant_id}`")
                }
                None => format!("connector account `{name}` of merchant `{merchant_id}`"),
            }),
            AccountLookup::Ambiguous(profiles) => Error::InvalidRequest(format!(
                "profiles {} of merchant `{merchant_id}` each have a connector account `{name}`: its notifications \
             go to /v2/webhooks/{merchant_id}/{{profile_id}}/{name}",
                profiles.join(", ")
            )),
        })?;
    let connector = cx
        .snapshot
        .registry
        .get(&account.connector)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::Internal(format!("connector `{}` is not registered", account.connector).into()))?;
    Ok((profile, account, connector))
}

/// Where a notification was sent: a merchant's connector account, by name, in the profile the
/// address names (when it names one).
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    pub merchant_id: &'a str,
    pub profile_id: Option<&'a str>,
    pub account: &'a str,
}

pub async fn receive(cx: &Context, to: &Addressee<'_>, req: &WebhookRequest<'_>) -> Result<Applied, Error> {
    let (profile, account, connector) = account(cx, to)?;
    let owner = Owner { merchant_id: &profile.merchant_id, profile_id: &profile.id, connector_account: &account.name };
    let event = connector.webhook(account, req).await.map_err(|e| match e {
        WebhookError::NotSupported(_) => Error::NotSupported(e.to_string()),
        WebhookError::BadSignature(_) => Error::WebhookRejected(e.to_string()),
        WebhookError::Unreadable(_) => Error::InvalidRequest(e.to_string()),
    })?;
    match event {
        WebhookEvent::Payment { connector_payment_id, attempt_id, outcome } => {
            let found =
                cx.store.find_account_attempt(&owner, AttemptKey::ConnectorPaymentId(&connector_payment_id)).await?;
            let found = match (found, attempt_id) {
                (None, Some(attempt_id)) => {
                    cx.store.find_account_attempt(&owner, AttemptKey::AttemptId(&attempt_id)).await?
                }
                (found, _) => found,
            };
            payment(cx, account, found, outcome).await
        }
        WebhookEvent::Refund { connector_refund_id, refund_id, outcome } => {
            let store = &cx.store;
            let key = RefundKey::ConnectorRefundId(&connector_refund_id);
            let found = match (store.find_account_refund(&owner, key).await?, refund_id) {
                (None, Some(id)) => store.find_account_refund(&owner, RefundKey::RefundId(&id)).await?,
                (found, _) => found,
            };
            refund(cx, account, found, outcome).await
        }
        WebhookEvent::Ignored => Ok(Applied::NotTracked),
    }
}

/// Applies a payment notification to the attempt it names, if that attempt is still the one
/// that counts and has not settled; judges it against the record otherwise.
async fn payment(
    cx: &Context,
    account: &Account,
    found: Option<(PaymentIntent, PaymentAttempt)>,
    outcome: PaymentOutcome,
) -> Result<Applied, Error> {
    let Some((intent, attempt)) = found else {
        return Ok(Applied::NotTracked);
    };
    let counted = intent.active_attempt_id.as_deref() == Some(attempt.id.as_str());
    let open = matches!(
        intent.status,
        IntentStatus::Processing | IntentStatus::RequiresCustomerAction | IntentStatus::RequiresCapture
    );
    if counted && open {
        if attempt.status == outcome.status {
            return Ok(Applied::AlreadyKnown);
        }
        apply_outcome(cx, intent, outcome).await?;
        return Ok(Applied::Changed);
    }
    let Some(discrepancy) = judge(attempt.status, outcome.status, counted) else {
        return Ok(Applied::AlreadyKnown);
    };
    discrepancy.report(account, &intent.id, attempt.status.as_str(), outcome.status.as_str());
    if !discrepancy.applied() {
        return Ok(Applied::Discrepancy);
    }
    apply_outcome(cx, intent, outcome).await?;
    Ok(Applied::Changed)
}

async fn refund(
    cx: &Context,
    account: &Account,
    found: Option<Refund>,
    outcome: RefundOutcome,
) -> Result<Applied, Error> {
    let Some(mut refund) = found else {
        return Ok(Applied::NotTracked);
    };
    if outcome.status == RefundStatus::Pending || outcome.status == refund.status {
        return Ok(Applied::AlreadyKnown);
    }
    if refund.status != RefundStatus::Pending {
        let discrepancy = match outcome.status {
            RefundStatus::Succeeded => Discrepancy::RefundSucceededRecordedFailed,
            _ => Discrepancy::RefundFailedRecordedSucceeded,
        };
        discrepancy.report(account, &refund.id, refund.status.as_str(), outcome.status.as_str());
        return Ok(Applied::Discrepancy);
    }
    refund.status = outcome.status;
    refund.connector_refund_id = outcome.connector_refund_id.or(refund.connector_refund_id.take());
    refund.error = outcome.error;
    refund.modified_at = Utc::now();
    Ok(match refunds::settle(cx, &refund).await? {
        true => Applied::Changed,
        false => Applied::AlreadyKnown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptStatus::*;

    #[test]
    fn money_the_provider_moved_for_the_counted_attempt_is_applied_and_other_contradictions_raised() {
        assert_eq!(judge(Failure, Charged, true), Some(Discrepancy::ChargedRecordedFailed));
        assert_eq!(judge(Failure, Authorized, true), Some(Discrepancy::ChargedRecordedFailed));
        assert_eq!(judge(Voided, Charged, true), Some(Discrepancy::ChargedRecordedFailed));
        assert!(Discrepancy::ChargedRecordedFailed.applied());
        assert_eq!(judge(Failure, Charged, false), Some(Discrepancy::ChargedOtherAttempt));
        assert_eq!(judge(Charged, Failure, true), Some(Discrepancy::FailedRecordedCharged));
        assert_eq!(judge(Charged, Voided, true), Some(Discrepancy::FailedRecordedCharged));
        for raised in [Discrepancy::ChargedOtherAttempt, Discrepancy::FailedRecordedCharged] {
            assert!(!raised.applied());
        }
    }

    #[test]
    fn late_steps_and_agreeing_reports_are_nothing_new() {
        assert_eq!(judge(Charged, Pending, true), None);
        assert_eq!(judge(Failure, AuthenticationPending, true), None);
        assert_eq!(judge(Charged, Authorized, true), None, "the authorization came before its capture");
        assert_eq!(judge(Voided, Authorized, true), None, "the authorization came before its void");
        assert_eq!(judge(Charged, PartialCharged, true), None);
        assert_eq!(judge(Failure, Voided, false), None);
        assert_eq!(judge(Failure, Failure, false), None);
    }
}
