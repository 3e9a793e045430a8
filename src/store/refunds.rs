//! Refunds. A refund reserves its amount on the intent in the same transaction that stores it, so
//! concurrent refunds can never add up to more than was captured.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::insert_event;
use super::payments::placeholders;
use super::{json_col, millis, parse_col, time_col, to_json, Owner, Result, Statement, Store, StoreError, Write};
use crate::domain::event::NewEvent;
use crate::domain::payment::Refund;
use crate::domain::status::{Operation, RefundStatus};
use crate::money::{Amount, Currency};

const REFUND_COLUMNS: &str = "id, payment_id, attempt_id, merchant_id, profile_id, merchant_reference_id, amount, \
    currency, status, reason, metadata, connector, connector_account, connector_refund_id, error, created_at, modified_at";

impl Store {
    /// Stores a pending refund if the payment still has `refund.amount` left to refund.
    /// Returns false, storing nothing, when it has not.
    pub async fn reserve_refund(&self, refund: &Refund) -> Result<bool> {
        let refundable = Operation::Refund.allowed_from();
        let sql = format!(
            "UPDATE payment_intents SET amount_refunded = amount_refunded + $2, modified_at = $3 \
             WHERE id = $1 AND status IN ({}) AND amount_refunded + $2 <= amount_captured",
            placeholders(4, refundable.len())
        );
        let reserve =
            Statement::new(sql).bind(&refund.payment_id).bind(refund.amount.minor()).bind(millis(refund.created_at));
        let mut write = Write::only(refundable.iter().fold(reserve, |reserve, status| reserve.bind(status.as_str())));
        write.then(
            Statement::new(format!(
                "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ))
            .bind(&refund.id)
            .bind(&refund.payment_id)
            .bind(&refund.attempt_id)
            .bind(&refund.merchant_id)
            .bind(&refund.profile_id)
            .bind(&refund.merchant_reference_id)
            .bind(refund.amount.minor())
            .bind(refund.currency.code())
            .bind(refund.status.as_str())
            .bind(&refund.reason)
            .bind(refund.metadata.as_ref().map(to_json))
            .bind(&refund.connector)
            .bind(&refund.connector_account)
            .bind(&refund.connector_refund_id)
            .bind(refund.error.as_ref().map(to_json))
            .bind(millis(refund.created_at))
            .bind(millis(refund.modified_at)),
        );
        match self.write(write).await {
            Err(e) if e.is_unique_violation() => Err(StoreError::Duplicate(format!(
                "merchant_reference_id `{}` is already used by another refund in this profile",
                refund.merchant_reference_id
            ))),
            reserved => reserved,
        }
    }

    /// Stores the connector's answer to a refund that is still pending; a failed refund gives its
    /// amount back to the payment's refundable balance. False, changing nothing, when the refund
    /// was settled already (a webhook and a sync racing): the amount is given back only once.
    pub async fn settle_refund(&self, refund: &Refund, event: Option<&NewEvent>) -> Result<bool> {
        let mut write = Write::only(
            Statement::new(
                "UPDATE refunds SET status = $2, connector_refund_id = $3, error = $4, modified_at = $5 \
             WHERE id = $1 AND status = $6",
            )
            .bind(&refund.id)
            .bind(refund.status.as_str())
            .bind(&refund.connector_refund_id)
            .bind(refund.error.as_ref().map(to_json))
            .bind(millis(refund.modified_at))
            .bind(RefundStatus::Pending.as_str()),
        );
        if refund.status == RefundStatus::Failed {
            write.then(
                Statement::new("UPDATE payment_intents SET amount_refunded = amount_refunded - $2 WHERE id = $1")
                    .bind(&refund.payment_id)
                    .bind(refund.amount.minor()),
            );
        }
        if let Some(event) = event {
            write.then(insert_event(event));
        }
        self.write(write).await
    }

    /// A refund, seen only by the merchant that owns it — and, when one is given, by that
    /// profile alone.
    pub async fn find_refund(&self, id: &str, merchant_id: &str, profile_id: Option<&str>) -> Result<Option<Refund>> {
        let row = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1 AND merchant_id = $2 \
             AND ($3 IS NULL OR profile_id = $3)"
        ))
        .bind(id)
        .bind(merchant_id)
        .bind(profile_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }
}

/// How a notification names a refund.
#[derive(Debug, Clone, Copy)]
pub enum RefundKey<'a> {
    /// By the provider's own id for it.
    ConnectorRefundId(&'a str),
    /// By the id switchyard gave it, which the provider echoes back.
    RefundId(&'a str),
}

impl Store {
    /// The refund a profile's connector account knows by `key`.
    pub async fn find_account_refund(&self, owner: &Owner<'_>, key: RefundKey<'_>) -> Result<Option<Refund>> {
        let (column, value) = match key {
            RefundKey::ConnectorRefundId(id) => ("connector_refund_id", id),
            RefundKey::RefundId(id) => ("id", id),
        };
        let row = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1 AND profile_id = $2 AND connector_account = $3 \
             AND {column} = $4"
        ))
        .bind(owner.merchant_id)
        .bind(owner.profile_id)
        .bind(owner.connector_account)
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }
}

fn refund_from_row(row: &AnyRow) -> Result<Refund> {
    let amount: i64 = row.try_get("amount")?;
    let currency: String = row.try_get("currency")?;
    Ok(Refund {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        attempt_id: row.try_get("attempt_id")?,
        merchant_id: row.try_get("merchant_id")?,
        profile_id: row.try_get("profile_id")?,
        merchant_reference_id: row.try_get("merchant_reference_id")?,
        amount: Amount::new(amount).map_err(StoreError::Corrupt)?,
        currency: Currency::parse(&currency).map_err(StoreError::Corrupt)?,
        status: parse_col(row, "status")?,
        reason: row.try_get("reason")?,
        metadata: json_col(row, "metadata")?,
        connector: row.try_get("connector")?,
        connector_account: row.try_get("connector_account")?,
        connector_refund_id: row.try_get("connector_refund_id")?,
        error: json_col(row, "error")?,
        created_at: time_col(row, "created_at")?,
        modified_at: time_col(row, "modified_at")?,
    })
}
