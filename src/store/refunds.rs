//! Refunds. A refund reserves its amount on the intent in the same transaction that stores it, so
//! concurrent refunds can never add up to more than was captured.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::insert_event;
use super::payments::placeholders;
use super::query::{Conditions, Value as Bound};
use super::{json_col, millis, parse_col, time_col, Json, Owner, Result, Statement, Store, StoreError, Write};
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
            .bind(refund.metadata.as_ref().map(Json))
            .bind(&refund.connector)
            .bind(&refund.connector_account)
            .bind(&refund.connector_refund_id)
            .bind(refund.error.as_ref().map(Json))
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
            .bind(refund.error.as_ref().map(Json))
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

impl Store {
    /// A page of a profile's refunds that `filter` picks, newest first, and how many it picks in
    /// all.
    pub async fn list_refunds(&self, filter: &RefundFilter) -> Result<(Vec<Refund>, i64)> {
        let text = |s: &Option<String>| s.as_deref().map(Bound::from);
        let texts = |list: &[String]| list.iter().map(|s| Bound::from(s.as_str())).collect::<Vec<_>>();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| Bound::Int(millis(t)));
        let mut page = Conditions::default();
        page.compare("merchant_id", "=", Some(Bound::from(filter.merchant_id.as_str())))
            .compare("profile_id", "=", Some(Bound::from(filter.profile_id.as_str())))
            .compare("payment_id", "=", text(&filter.payment_id))
            .compare("id", "=", text(&filter.refund_id))
            .compare("created_at", ">=", time(filter.since))
            .compare("created_at", "<=", time(filter.until))
            .compare("amount", ">=", filter.amount_at_least.map(Bound::Int))
            .compare("amount", "<=", filter.amount_at_most.map(Bound::Int))
            .any_of("connector IN ({})", texts(&filter.connectors))
            .any_of("connector_account IN ({})", texts(&filter.accounts))
            .any_of("currency IN ({})", texts(&filter.currencies))
            .any_of("status IN ({})", filter.statuses.iter().map(|s| Bound::from(s.as_str())));
        let total = page.count(&self.pool, "refunds").await?;
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE 1 = 1{} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            page.sql(),
            page.next(),
            page.next() + 1
        );
        let rows = page.fetch_all(&self.pool, &sql, &[i64::from(filter.limit), i64::from(filter.offset)]).await?;
        Ok((rows.iter().map(refund_from_row).collect::<Result<Vec<_>>>()?, total))
    }

    /// Replaces a refund's reason and metadata; false when the profile has no such refund.
    pub async fn update_refund_details(&self, refund: &Refund) -> Result<bool> {
        self.write(Write::only(
            Statement::new(
                "UPDATE refunds SET reason = $4, metadata = $5, modified_at = $6 \
                 WHERE id = $1 AND merchant_id = $2 AND profile_id = $3",
            )
            .bind(&refund.id)
            .bind(&refund.merchant_id)
            .bind(&refund.profile_id)
            .bind(&refund.reason)
            .bind(refund.metadata.as_ref().map(Json))
            .bind(millis(refund.modified_at)),
        ))
        .await
    }
}

/// A page of a profile's refunds: each field left out (or list left empty) lets all through.
#[derive(Debug, Clone, Default)]
pub struct RefundFilter {
    pub merchant_id: String,
    pub profile_id: String,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    /// Created at or after, and at or before.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Bounds of the amount, both inclusive.
    pub amount_at_least: Option<i64>,
    pub amount_at_most: Option<i64>,
    pub connectors: Vec<String>,
    pub accounts: Vec<String>,
    /// ISO 4217 codes.
    pub currencies: Vec<String>,
    pub statuses: Vec<RefundStatus>,
    pub limit: u32,
    pub offset: u32,
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
