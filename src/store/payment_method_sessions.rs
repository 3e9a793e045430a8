//! Payment-method sessions, one row each; the methods saved through one are a JSON list.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, millis, parse_col, time_col, Json, Result, Statement, Store, Write};
use crate::domain::payment_method::MethodSession;

const COLUMNS: &str = "id, merchant_id, profile_id, customer_id, client_secret, expires_at, storage_type, billing, \
    return_url, psp_tokenization, keep_alive, payment_method_ids, created_at";

impl Store {
    pub async fn insert_method_session(&self, s: &MethodSession) -> Result<()> {
        self.write(Write::of(
            Statement::new(format!(
                "INSERT INTO payment_method_sessions ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ))
            .bind(&s.id)
            .bind(&s.merchant_id)
            .bind(&s.profile_id)
            .bind(&s.customer_id)
            .bind(&s.client_secret)
            .bind(millis(s.expires_at))
            .bind(s.storage_type.as_str())
            .bind(s.billing.as_ref().map(Json))
            .bind(&s.return_url)
            .bind(s.psp_tokenization.as_ref().map(Json))
            .bind(i64::from(s.keep_alive))
            .bind(Json(&s.payment_method_ids))
            .bind(millis(s.created_at)),
        ))
        .await
        .map(drop)
    }

    pub async fn find_method_session(&self, id: &str, merchant_id: &str) -> Result<Option<MethodSession>> {
        self.find_owned("payment_method_sessions", COLUMNS, id, merchant_id, session_from_row).await
    }

    /// Records the method a session saved; false when it has saved one already.
    pub async fn add_session_method(&self, id: &str, payment_method_id: &str) -> Result<bool> {
        self.write(Write::only(
            Statement::new(
                "UPDATE payment_method_sessions SET payment_method_ids = $2 WHERE id = $1 AND payment_method_ids = '[]'",
            )
            .bind(id)
            .bind(Json(&[payment_method_id])),
        ))
        .await
    }
}

fn session_from_row(row: &AnyRow) -> Result<MethodSession> {
    let keep_alive: i64 = row.try_get("keep_alive")?;
    Ok(MethodSession {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        profile_id: row.try_get("profile_id")?,
        customer_id: row.try_get("customer_id")?,
        client_secret: row.try_get("client_secret")?,
        expires_at: time_col(row, "expires_at")?,
        storage_type: parse_col(row, "storage_type")?,
        billing: json_col(row, "billing")?,
        return_url: row.try_get("return_url")?,
        psp_tokenization: json_col(row, "psp_tokenization")?,
        keep_alive: keep_alive != 0,
        payment_method_ids: json_col(row, "payment_method_ids")?.unwrap_or_default(),
        created_at: time_col(row, "created_at")?,
    })
}
