//! Notifications from providers: verified by the account's connector, then applied to the attempt
//! or refund they are about, through the same compare-and-set as any other change. A notification
//! repeated, or about a payment that has already moved past it, changes nothing.

use chrono::Utc;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::connectors::{
    Account, Connector, PaymentOutcome, RefundOutcome, WebhookError, WebhookEvent, WebhookRequest,
};
use crate::payments::model::{PaymentAttempt, PaymentIntent};
use crate::payments::status::{IntentStatus, RefundStatus};
use crate::payments::{flow, refunds};
use crate::store::AttemptKey;

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    AlreadyKnown,
    NotTracked,
}

/// The merchant's connector account named `account_name` (the first profile that has one).
fn account<'a>(
    state: &'a AppState,
    merchant_id: &str,
    account_name: &str,
) -> Result<(&'a Account, &'a dyn Connector), ApiError> {
    let account = state
        .directory
        .profiles()
        .filter(|p| p.merchant_id == merchant_id)
        .find_map(|p| p.account(account_name))
        .ok_or_else(|| ApiError::NotFound(format!("connector account `{account_name}` of merchant `{merchant_id}`")))?;
    let connector = state
        .registry
        .get(&account.connector)
        .map(|c| c.as_ref())
        .ok_or_else(|| ApiError::Internal(format!("connector `{}` is not registered", account.connector).into()))?;
    Ok((account, connector))
}

pub async fn receive(
    state: &AppState,
    merchant_id: &str,
    account_name: &str,
    req: &WebhookRequest<'_>,
) -> Result<Applied, ApiError> {
    let (account, connector) = account(state, merchant_id, account_name)?;
    let event = connector.webhook(account, req).await.map_err(|e| match e {
        WebhookError::NotSupported(_) => ApiError::NotSupported(e.to_string()),
        WebhookError::BadSignature(_) => ApiError::WebhookRejected(e.to_string()),
        WebhookError::Unreadable(_) => ApiError::InvalidRequest(e.to_string()),
    })?;
    match event {
        WebhookEvent::Payment { connector_payment_id, attempt_id, outcome } => {
            let found = state
                .store
                .find_account_attempt(merchant_id, &account.name, AttemptKey::ConnectorPaymentId(&connector_payment_id))
                .await?;
            let found = match (found, attempt_id) {
                (None, Some(attempt_id)) => {
                    state
                        .store
                        .find_account_attempt(merchant_id, &account.name, AttemptKey::AttemptId(&attempt_id))
                        .await?
                }
                (found, _) => found,
            };
            payment(state, found, outcome).await
        }
        WebhookEvent::Refund { connector_refund_id, outcome } => {
            refund(state, merchant_id, account, &connector_refund_id, outcome).await
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
    merchant_id: &str,
    account: &Account,
    connector_refund_id: &str,
    outcome: RefundOutcome,
) -> Result<Applied, ApiError> {
    let Some(mut refund) =
        state.store.find_refund_by_connector_id(merchant_id, &account.name, connector_refund_id).await?
    else {
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
