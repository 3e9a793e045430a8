//! Refunds: giving back all or part of what a payment captured, never more.

use chrono::Utc;
use serde_json::Value;

use crate::connectors::{metered, CallWindow, ConnectorError, RefundRequest, RefundSyncRequest};
use crate::domain::decline::DeclineCode;
use crate::domain::payment::{PaymentError, Refund};
use crate::domain::status::{Operation, RefundStatus};
use crate::money::Amount;
use crate::payments;
use crate::payments::selection::attempt_connector;
use crate::payments::settle::{NOT_TAKEN, NO_CLEAR_ANSWER};
use crate::payments::{Context, Error, Scope};
use crate::store::RefundFilter;

#[derive(Debug)]
pub struct NewRefund {
    pub payment_id: String,
    pub merchant_reference_id: String,
    pub amount: Option<Amount>,
    pub reason: Option<String>,
    pub metadata: Option<serde_json::Map<String, Value>>,
}

pub async fn create(cx: &Context, scope: &Scope, new: NewRefund) -> Result<Refund, Error> {
    let payment = payments::retrieve(cx, scope, &new.payment_id).await?;
    let intent = &payment.intent;
    if !intent.status.allows(Operation::Refund) {
        return Err(Error::InvalidState(format!(
            "payment {} cannot be refunded while its status is `{}` (it must be succeeded or partially_captured)",
            intent.id, intent.status
        )));
    }
    let refundable = intent.amount_captured - intent.amount_refunded;
    let amount = match new.amount {
        Some(amount) => amount,
        None => Amount::new(refundable)
            .map_err(|_| Error::RefundExceedsPayment(format!("payment {} has nothing left to refund", intent.id)))?,
    };
    if amount.minor() > refundable {
        return Err(Error::RefundExceedsPayment(format!(
            "amount: {} exceeds what is left to refund on payment {}, {refundable}",
            amount.minor(),
            intent.id
        )));
    }
    let attempt = payment
        .active_attempt()
        .ok_or_else(|| Error::Internal(format!("payment {} has no active attempt", intent.id).into()))?;
    let (account, connector) = attempt_connector(cx, intent, attempt)?;
    // A refund is a call to the provider, within the account's quota; refused, nothing is stored.
    cx.snapshot
        .limits
        .check_account(&intent.merchant_id, &intent.profile_id, &account.name)
        .await
        .map_err(Error::RateLimited)?;

    let now = Utc::now();
    let mut refund = Refund {
        id: cx.ids.refund(),
        payment_id: intent.id.clone(),
        attempt_id: attempt.id.clone(),
        merchant_id: intent.merchant_id.clone(),
        profile_id: intent.profile_id.clone(),
        merchant_reference_id: new.merchant_reference_id,
        amount,
        currency: intent.amount.currency,
        status: RefundStatus::Pending,
        reason: new.reason,
        metadata: new.metadata,
        connector: account.connector.clone(),
        connector_account: account.name.clone(),
        connector_refund_id: None,
        error: None,
        created_at: now,
        modified_at: now,
    };
    if !cx.store.reserve_refund(&refund).await? {
        // Another refund took the balance between our read and this write.
        return Err(Error::RefundExceedsPayment(format!(
            "amount: {} exceeds what is left to refund on payment {}",
            amount.minor(),
            intent.id
        )));
    }
    let request = RefundRequest {
        refund_id: &refund.id,
        connector_payment_id: attempt.connector_payment_id.as_deref(),
        amount,
        currency: refund.currency,
        reason: refund.reason.as_deref(),
    };
    match metered(account, "refund", connector.refund(account, &request)).await {
        Ok(outcome) => {
            refund.status = outcome.status;
            refund.connector_refund_id = outcome.connector_refund_id;
            refund.error = outcome.error;
        }
        // The money may be moving: the refund stays pending, its amount reserved, until a sync.
        Err(e @ ConnectorError::Ambiguous { .. }) => {
            refund.error = Some(PaymentError::new(NO_CLEAR_ANSWER, e.to_string()));
        }
        Err(e) => {
            refund.status = RefundStatus::Failed;
            refund.error = Some(PaymentError::new(NOT_TAKEN, e.to_string()));
        }
    }
    refund.modified_at = Utc::now();
    // Only a webhook could have settled it while the call was under way; what it stored stands.
    if !settle(cx, &refund).await? {
        return retrieve(cx, scope, &refund.id).await;
    }
    Ok(refund)
}

/// Stores a refund's outcome with the event that tells the merchant, if it is settled; false
/// when it was settled already.
pub(crate) async fn settle(cx: &Context, refund: &Refund) -> Result<bool, Error> {
    let event = cx.events.refund(&cx.snapshot.directory, refund);
    let settled = cx.store.settle_refund(refund, event.as_ref()).await?;
    if settled && event.is_some() {
        cx.events.written();
    }
    if settled && refund.status != RefundStatus::Pending {
        reached(refund);
    }
    Ok(settled)
}

/// A refund reached its status: counted (`switchyard_refunds_total`) and logged.
fn reached(refund: &Refund) {
    metrics::counter!("switchyard_refunds_total", "profile" => refund.profile_id.clone(),
        "account" => refund.connector_account.clone(), "connector" => refund.connector.clone(),
        "status" => refund.status.as_str())
    .increment(1);
    let failed = refund.error.as_ref().filter(|_| refund.status == RefundStatus::Failed);
    let decline_code = failed.map_or("none", |e| DeclineCode::of(e).as_str());
    let duration_ms = (refund.modified_at - refund.created_at).num_milliseconds();
    tracing::info!(refund_id = %refund.id, payment_id = %refund.payment_id, profile = %refund.profile_id,
        account = %refund.connector_account, connector = %refund.connector, status = %refund.status.as_str(),
        decline_code = %decline_code, duration_ms, "refund outcome");
}

pub async fn retrieve(cx: &Context, scope: &Scope, refund_id: &str) -> Result<Refund, Error> {
    cx.store
        .find_refund(refund_id, &scope.merchant_id, scope.profile_id.as_deref())
        .await?
        .ok_or_else(|| Error::NotFound(format!("refund {refund_id}")))
}

/// Replaces what the merchant says about a refund: its reason and its metadata, each when given.
pub async fn update_details(
    cx: &Context,
    scope: &Scope,
    refund_id: &str,
    reason: Option<String>,
    metadata: Option<serde_json::Map<String, Value>>,
) -> Result<Refund, Error> {
    let mut refund = retrieve(cx, scope, refund_id).await?;
    refund.reason = reason.or(refund.reason);
    refund.metadata = metadata.or(refund.metadata);
    refund.modified_at = Utc::now();
    if !cx.store.update_refund_details(&refund).await? {
        return Err(Error::NotFound(format!("refund {refund_id}")));
    }
    // Read again: a provider's answer may have settled it meanwhile.
    retrieve(cx, scope, refund_id).await
}

/// A page of a profile's refunds, newest first, and how many the filter picks in all.
pub async fn list(cx: &Context, filter: &RefundFilter) -> Result<(Vec<Refund>, i64), Error> {
    payments::intents::profile(cx, &filter.merchant_id, &filter.profile_id)?;
    Ok(cx.store.list_refunds(filter).await?)
}

/// Asks the connector where a pending refund stands and stores its answer
/// (`GET /v2/refunds/{id}?force_sync=true`). Settled refunds, and connectors that cannot say,
/// leave it as stored. A refund whose answer was lost is looked up by its own id, which the
/// connector may find at the provider or say never arrived.
pub async fn sync(cx: &Context, scope: &Scope, refund_id: &str) -> Result<Refund, Error> {
    let mut refund = retrieve(cx, scope, refund_id).await?;
    if refund.status != RefundStatus::Pending {
        return Ok(refund);
    }
    let payment = payments::retrieve(cx, scope, &refund.payment_id).await?;
    let attempt = payment
        .attempts
        .iter()
        .find(|a| a.id == refund.attempt_id)
        .ok_or_else(|| Error::Internal(format!("refund {refund_id} names no attempt of its payment").into()))?;
    let (account, connector) = attempt_connector(cx, &payment.intent, attempt)?;
    let request = RefundSyncRequest {
        refund_id: &refund.id,
        connector_refund_id: refund.connector_refund_id.as_deref(),
        connector_payment_id: attempt.connector_payment_id.as_deref(),
        // The refund's one call is bounded by the HTTP client's time.
        window: Some(CallWindow::new(refund.created_at, cx.call_timeout_ms)),
    };
    match metered(account, "refund_sync", connector.refund_sync(account, &request)).await {
        Ok(outcome) if outcome.status != RefundStatus::Pending => {
            refund.status = outcome.status;
            refund.connector_refund_id = outcome.connector_refund_id.or(refund.connector_refund_id.take());
            refund.error = outcome.error;
            refund.modified_at = Utc::now();
            if !settle(cx, &refund).await? {
                return retrieve(cx, scope, refund_id).await;
            }
            Ok(refund)
        }
        Ok(_) | Err(ConnectorError::NotSupported { .. }) => Ok(refund),
        Err(e) => Err(Error::ConnectorUnavailable(e.to_string())),
    }
}
