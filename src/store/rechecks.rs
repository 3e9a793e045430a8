//! What the reconciler finds in the store: payments still `processing` and refunds still
//! `pending` long after their calls ended, and the lease by which one daemon, of however many
//! share the database, takes each of them on at a time.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{millis, Result, Statement, Store, Write};
use crate::domain::status::{IntentStatus, RefundStatus};

/// Which kind of record is left unsettled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsettled {
    /// Payments `processing`: an authorize, capture or cancel whose outcome was never stored.
    Payments,
    /// Refunds `pending`.
    Refunds,
}

impl Unsettled {
    pub fn as_str(self) -> &'static str {
        match self {
            Unsettled::Payments => "payment",
            Unsettled::Refunds => "refund",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Unsettled::Payments => "payment_intents",
            Unsettled::Refunds => "refunds",
        }
    }

    /// A payment whose own call is under way is that call's to settle.
    fn idle(self) -> &'static str {
        match self {
            Unsettled::Payments => "AND COALESCE(in_flight_until, 0) <= $2",
            Unsettled::Refunds => "",
        }
    }

    /// The status, written into the queries rather than bound: the index of unsettled records
    /// holds only this status, and a database uses it only for a query that names it.
    fn status(self) -> &'static str {
        match self {
            Unsettled::Payments => IntentStatus::Processing.as_str(),
            Unsettled::Refunds => RefundStatus::Pending.as_str(),
        }
    }
}

/// One unsettled record, as listed.
#[derive(Debug)]
pub struct Recheck {
    pub id: String,
    pub merchant_id: String,
    pub profile_id: String,
    /// How often it was looked at before.
    pub rechecks: i64,
    /// The lease it had when listed; taking it on succeeds only if that is unchanged.
    lease: i64,
}

impl Store {
    /// Up to `batch` records of `kind` unchanged since `quiet_since` and free of any lease at
    /// `now`, the longest unchanged first.
    pub async fn unsettled(
        &self,
        kind: Unsettled,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
        batch: u32,
    ) -> Result<Vec<Recheck>> {
        let rows = sqlx::query(&format!(
            "SELECT id, merchant_id, profile_id, rechecks, COALESCE(recheck_at, 0) AS lease FROM {} \
             WHERE status = '{}' AND modified_at <= $1 AND COALESCE(recheck_at, 0) <= $2 {} ORDER BY modified_at LIMIT $3",
            kind.table(),
            kind.status(),
            kind.idle()
        ))
        .bind(millis(quiet_since))
        .bind(millis(now))
        .bind(i64::from(batch))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Recheck {
                    id: row.try_get("id")?,
                    merchant_id: row.try_get("merchant_id")?,
                    profile_id: row.try_get("profile_id")?,
                    rechecks: row.try_get("rechecks")?,
                    lease: row.try_get("lease")?,
                })
            })
            .collect()
    }

    /// How many records of `kind` stand unsettled in each profile that has any, with when the
    /// one unchanged longest last changed.
    pub async fn unsettled_by_profile(&self, kind: Unsettled) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let rows = sqlx::query(&format!(
            "SELECT profile_id, COUNT(*) AS n, MIN(modified_at) AS oldest FROM {} WHERE status = '{}' GROUP BY profile_id",
            kind.table(),
            kind.status()
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let oldest: i64 = row.try_get("oldest")?;
                let oldest = DateTime::<Utc>::from_timestamp_millis(oldest).unwrap_or_default();
                Ok((row.try_get("profile_id")?, row.try_get("n")?, oldest))
            })
            .collect()
    }

    /// How many records of `kind` are due for a check: what `unsettled` would list, unbounded.
    pub async fn due(&self, kind: Unsettled, quiet_since: DateTime<Utc>, now: DateTime<Utc>) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE status = '{}' AND modified_at <= $1 AND COALESCE(recheck_at, 0) <= $2 {}",
            kind.table(),
            kind.status(),
            kind.idle()
        ))
        .bind(millis(quiet_since))
        .bind(millis(now))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Takes `record` on until `until`. False, changing nothing, when it settled or another
    /// daemon took it on since it was listed: a compare-and-set, so two reconcilers never ask a
    /// provider about the same payment at once.
    pub async fn lease(&self, kind: Unsettled, record: &Recheck, until: DateTime<Utc>) -> Result<bool> {
        self.write(Write::only(
            Statement::new(format!(
                "UPDATE {} SET recheck_at = $2, rechecks = rechecks + 1 \
                     WHERE id = $1 AND status = $3 AND COALESCE(recheck_at, 0) = $4",
                kind.table()
            ))
            .bind(&record.id)
            .bind(millis(until))
            .bind(kind.status())
            .bind(record.lease),
        ))
        .await
    }
}

/// What one connector account still has to finish: payments it holds that are not settled
/// (under way, awaiting the customer, or authorized and awaiting capture or cancel) and refunds
/// still pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unfinished {
    pub payments: i64,
    pub refunds: i64,
}

impl Unfinished {
    pub fn is_empty(&self) -> bool {
        self.payments == 0 && self.refunds == 0
    }
}

impl Store {
    /// What the account `account` of a merchant's profile still has to finish.
    pub async fn unfinished(&self, merchant_id: &str, profile_id: &str, account: &str) -> Result<Unfinished> {
        use crate::domain::status::AttemptStatus::{AuthenticationPending, Authorized, Pending};
        let payments: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payment_attempts a JOIN payment_intents i ON i.id = a.payment_id \
             WHERE i.merchant_id = $1 AND i.profile_id = $2 AND a.connector_account = $3 AND a.status IN ($4, $5, $6)",
        )
        .bind(merchant_id)
        .bind(profile_id)
        .bind(account)
        .bind(Pending.as_str())
        .bind(AuthenticationPending.as_str())
        .bind(Authorized.as_str())
        .fetch_one(&self.pool)
        .await?;
        let refunds: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refunds WHERE merchant_id = $1 AND profile_id = $2 AND connector_account = $3 \
             AND status = $4",
        )
        .bind(merchant_id)
        .bind(profile_id)
        .bind(account)
        .bind(RefundStatus::Pending.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(Unfinished { payments, refunds })
    }
}
