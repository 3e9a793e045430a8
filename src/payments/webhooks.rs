//! Notifications from providers: verified by the account's connector, then applied to the attempt
//! or refund they are about, through the same compare-and-set as any other change. A notification
//! repeated, or about a payment that has already moved past it, changes nothing.

use chrono::Utc;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::connectors::{
    Account, Connector, PaymentOutcome, RefundOutcome, WebhookError, WebhookEvent, WebhookRequest,
};
use crate::merchants::{AccountLookup, Profile};
use crate::payments::model::{PaymentAttempt, PaymentIntent};
use crate::payments::status::{IntentStatus, RefundStatus};
use crate::payments::{flow, refunds};
use crate::store::{AttemptKey, Owner};

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    AlreadyKnown,
    NotTracked,
}

/// The connector account a notification is addressed to, with its profile.
fn account<'a>(
    state: &'a AppState,
    to: &Addressee<'_>,
) -> Result<(&'a Profile, &'a Account, &'a dyn Connector), ApiError> {
    let Addressee { merchant_id, profile_id, account: name } = *to;
    let (profile, account) = state.directory.notified_account(merchant_id, profile_id, name).map_err(|e| match e {
        AccountLookup::NotFound => ApiError::NotFound(match profile_id {
            Some(profile_id) => {
                format!("connector account `{name}` of profile `{profile_id}` of merchant `{merchant_id}`")
            }
            None => format!("connector account `{name}` of merchant `{merchant_id}`"),
        }),
        AccountLookup::Ambiguous(profiles) => ApiError::InvalidRequest(format!(
            "profiles {} of merchant `{merchant_id}` each have a connector account `{name}`: its notifications \
             go to /v2/webhooks/{merchant_id}/{{profile_id}}/{name}",
            profiles.join(", ")
        )),
    })?;
    let connector = state
        .registry
        .get(&account.connector)
        .map(|c| c.as_ref())
        .ok_or_else(|| ApiError::Internal(format!("connector `{}` is not registered", account.connector).into()))?;
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

pub async fn receive(state: &AppState, to: &Addressee<'_>, req: &WebhookRequest<'_>) -> Result<Applied, ApiError> {
    let (profile, account, connector) = account(state, to)?;
    let owner = Owner { merchant_id: &profile.merchant_id, profile_id: &profile.id, connector_account: &account.name };
    let event = connector.webhook(account, req).await.map_err(|e| match e {
        WebhookError::NotSupported(_) => ApiError::NotSupported(e.to_string()),
        WebhookError::BadSignature(_) => ApiError::WebhookRejected(e.to_string()),
        WebhookError::Unreadable(_) => ApiError::InvalidRequest(e.to_string()),
    })?;
    match event {
        WebhookEvent::Payment { connector_payment_id, attempt_id, outcome } => {
            let found =
                state.store.find_account_attempt(&owner, AttemptKey::ConnectorPaymentId(&connector_payment_id)).await?;
            let found = match (found, attempt_id) {
                (None, Some(attempt_id)) => {
                    state.store.find_account_attempt(&owner, AttemptKey::AttemptId(&attempt_id)).await?
                }
                (found, _) => found,
            };
            payment(state, found, outcome).await
        }
        WebhookEvent::Refund { connector_refund_id, outcome } => {
            refund(state, &owner, &connector_refund_id, outcome).await
        }
        WebhookEvent::Ignored => Ok(Applied::NotTracked),
    }
}

/// Applies a payment notification to the attempt it names, if that attempt is still the one
/// that counts and has not moved past it.
async fn payment(
    state: &AppState,
    found: Option<(PaymentIntent, PaymentAttempt)>,
    outcome: PaymentOutcome,
) -> Result<Applied, ApiError> {
    let Some((intent, attempt)) = found else {
        return Ok(Applied::NotTracked);
    };
    let settled = intent.active_attempt_id.as_deref() != Some(attempt.id.as_str())
        || attempt.status == outcome.status
        || !matches!(
            intent.status,
            IntentStatus::Processing | IntentStatus::RequiresCustomerAction | IntentStatus::RequiresCapture
        );
    if settled {
        return Ok(Applied::AlreadyKnown);
    }
    flow::apply_outcome(state, intent, outcome).await?;
    Ok(Applied::Changed)
}

async fn refund(
    state: &AppState,
    owner: &Owner<'_>,
    connector_refund_id: &str,
    outcome: RefundOutcome,
) -> Result<Applied, ApiError> {
    let Some(mut refund) = state.store.find_refund_by_connector_id(owner, connector_refund_id).await? else {
        return Ok(Applied::NotTracked);
    };
    if refund.status != RefundStatus::Pending || outcome.status == RefundStatus::Pending {
        return Ok(Applied::AlreadyKnown);
    }
    refund.status = outcome.status;
    refund.error = outcome.error;
    refund.modified_at = Utc::now();
    Ok(match refunds::settle(state, &refund).await? {
        true => Applied::Changed,
        false => Applied::AlreadyKnown,
    })
}
