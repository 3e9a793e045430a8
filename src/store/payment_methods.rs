//! Saved payment methods and the vault rows that hold their sealed cards. A method and its
//! sealed card are written and deleted together, in one transaction; deleting a customer's default
//! method leaves them without one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, millis, parse_col, time_col, Json, Result, Statement, Store, StoreError, Write};
use crate::domain::payment_method::{MethodStatus, SavedMethod};
use crate::vault::Sealed;

const COLUMNS: &str = "id, merchant_id, customer_id, status, payment_method_type, payment_method_subtype, \
    storage_type, card, billing, metadata, connector_tokens, created_at, modified_at, last_used_at";

impl Store {
    /// Stores a new method, with its sealed card when it has one.
    pub async fn insert_payment_method(&self, method: &SavedMethod, sealed: Option<&Sealed>) -> Result<()> {
        let mut write = Write::of(Statement::new(format!(
            "INSERT INTO payment_methods ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&method.id)
        .bind(&method.merchant_id)
        .bind(&method.customer_id)
        .bind(method.status.as_str())
        .bind(&method.payment_method_type)
        .bind(&method.payment_method_subtype)
        .bind(method.storage_type.as_str())
        .bind(method.card.as_ref().map(Json))
        .bind(method.billing.as_ref().map(Json))
        .bind(method.metadata.as_ref().map(Json))
        .bind(Json(&method.connector_tokens))
        .bind(millis(method.created_at))
        .bind(millis(method.modified_at))
        .bind(method.last_used_at.map(millis)));
        if let Some(sealed) = sealed {
            write.then(insert_sealed(&method.id, sealed));
        }
        self.write(write).await.map(drop)
    }

    /// Gives a method awaiting its data the card and what is shown of it; false when the method
    /// is no longer awaiting data (another request got there first).
    pub async fn activate_payment_method(&self, method: &SavedMethod, sealed: &Sealed) -> Result<bool> {
        let mut write = Write::only(
            Statement::new(
                "UPDATE payment_methods SET status = $2, payment_method_type = $3, payment_method_subtype = $4, \
             storage_type = $5, card = $6, modified_at = $7 WHERE id = $1 AND status = $8",
            )
            .bind(&method.id)
            .bind(method.status.as_str())
            .bind(&method.payment_method_type)
            .bind(&method.payment_method_subtype)
            .bind(method.storage_type.as_str())
            .bind(method.card.as_ref().map(Json))
            .bind(millis(method.modified_at))
            .bind(MethodStatus::AwaitingData.as_str()),
        );
        write.then(insert_sealed(&method.id, sealed));
        self.write(write).await
    }

    /// Replaces an active method's card, sealed and shown, and what it is called; false when the
    /// merchant has no such method with a card.
    pub async fn update_payment_method_card(&self, method: &SavedMethod, sealed: &Sealed) -> Result<bool> {
        let mut write = Write::only(
            Statement::new(
                "UPDATE payment_methods SET card = $3, modified_at = $4 WHERE id = $1 AND merchant_id = $2 \
                 AND status = $5",
            )
            .bind(&method.id)
            .bind(&method.merchant_id)
            .bind(method.card.as_ref().map(Json))
            .bind(millis(method.modified_at))
            .bind(MethodStatus::Active.as_str()),
        );
        write.then(
            Statement::new("UPDATE vault SET nonce = $2, ciphertext = $3 WHERE payment_method_id = $1")
                .bind(&method.id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext),
        );
        self.write(write).await
    }

    pub async fn find_payment_method(&self, id: &str, merchant_id: &str) -> Result<Option<SavedMethod>> {
        self.find_owned("payment_methods", COLUMNS, id, merchant_id, method_from_row).await
    }

    /// The sealed card of a method.
    pub async fn sealed_card(&self, id: &str) -> Result<Option<Sealed>> {
        let row = sqlx::query("SELECT nonce, ciphertext FROM vault WHERE payment_method_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(Sealed { nonce: r.try_get("nonce")?, ciphertext: r.try_get("ciphertext")? })).transpose()
    }

    /// A customer's methods that hold a card, newest first.
    pub async fn customer_payment_methods(&self, merchant_id: &str, customer_id: &str) -> Result<Vec<SavedMethod>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payment_methods WHERE merchant_id = $1 AND customer_id = $2 AND status = $3 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(merchant_id)
        .bind(customer_id)
        .bind(MethodStatus::Active.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(method_from_row).collect()
    }

    /// Deletes a method and its sealed card; false when there was none.
    pub async fn delete_payment_method(&self, id: &str, merchant_id: &str) -> Result<bool> {
        let mut write = Write::only(
            Statement::new("DELETE FROM payment_methods WHERE id = $1 AND merchant_id = $2").bind(id).bind(merchant_id),
        );
        write.then(Statement::new("DELETE FROM vault WHERE payment_method_id = $1").bind(id)).then(
            Statement::new(
                "UPDATE customers SET default_payment_method_id = NULL WHERE default_payment_method_id = $1",
            )
            .bind(id),
        );
        self.write(write).await
    }

    pub async fn touch_payment_method(&self, id: &str, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        self.write(Write::of(
            Statement::new("UPDATE payment_methods SET last_used_at = $2 WHERE id = $1").bind(id).bind(millis(at)),
        ))
        .await
        .map(drop)
    }

    /// How many sealed cards the vault holds.
    pub async fn sealed_cards(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM vault").fetch_one(&self.pool).await?)
    }

    pub async fn vault_key_check(&self) -> Result<Option<Sealed>> {
        let row = sqlx::query("SELECT nonce, ciphertext FROM vault_key_check WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(Sealed { nonce: r.try_get("nonce")?, ciphertext: r.try_get("ciphertext")? })).transpose()
    }

    /// Stores `sealed` as the vault's key check unless there is one, and returns the one there
    /// is: of several daemons starting together on a new database, the first to store its check
    /// wins, and the others must open the winner's.
    pub async fn keep_vault_key_check(&self, sealed: &Sealed) -> Result<Sealed> {
        self.write(Write::of(
            Statement::new(
                "INSERT INTO vault_key_check (id, nonce, ciphertext) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext),
        ))
        .await?;
        self.vault_key_check().await?.ok_or_else(|| StoreError::Corrupt("the vault key check is gone".into()))
    }
}

fn insert_sealed(id: &str, sealed: &Sealed) -> Statement {
    Statement::new("INSERT INTO vault (payment_method_id, nonce, ciphertext) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
}

fn method_from_row(row: &AnyRow) -> Result<SavedMethod> {
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    Ok(SavedMethod {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        customer_id: row.try_get("customer_id")?,
        status: parse_col(row, "status")?,
        payment_method_type: row.try_get("payment_method_type")?,
        payment_method_subtype: row.try_get("payment_method_subtype")?,
        storage_type: parse_col(row, "storage_type")?,
        card: json_col(row, "card")?,
        billing: json_col(row, "billing")?,
        metadata: json_col(row, "metadata")?,
        connector_tokens: json_col(row, "connector_tokens")?.unwrap_or_default(),
        created_at: time_col(row, "created_at")?,
        modified_at: time_col(row, "modified_at")?,
        last_used_at: match last_used {
            Some(_) => Some(time_col(row, "last_used_at")?),
            None => None,
        },
    })
}
