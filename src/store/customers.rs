//! Customers, one row each; the merchant's reference is unique per merchant by index.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, millis, time_col, Json, Result, Statement, Store, StoreError, Write};
use crate::domain::customer::{Customer, CustomerDetails};
use crate::domain::payment_method::MethodStatus;

const CUSTOMER_COLUMNS: &str = "id, merchant_id, merchant_reference_id, name, email, phone, phone_country_code, \
    description, tax_registration_id, default_billing_address, default_shipping_address, metadata, created_at, \
    modified_at, default_payment_method_id";

impl Store {
    pub async fn insert_customer(&self, customer: &Customer) -> Result<()> {
        let sql = format!(
            "INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        let insert =
            Statement::new(sql).bind(&customer.id).bind(&customer.merchant_id).bind(&customer.merchant_reference_id);
        let inserted = self
            .write(Write::of(
                bind_details(insert, &customer.details)
                    .bind(millis(customer.created_at))
                    .bind(millis(customer.modified_at))
                    .bind(&customer.default_payment_method_id),
            ))
            .await;
        match inserted {
            Err(e) if e.is_unique_violation() => Err(self.duplicate_customer_reference(customer).await),
            other => other.map(drop),
        }
    }

    /// Names the customer that already holds the reference, so the caller can fetch it.
    async fn duplicate_customer_reference(&self, customer: &Customer) -> StoreError {
        let existing: std::result::Result<Option<String>, _> =
            sqlx::query_scalar("SELECT id FROM customers WHERE merchant_id = $1 AND merchant_reference_id = $2")
                .bind(&customer.merchant_id)
                .bind(&customer.merchant_reference_id)
                .fetch_optional(&self.pool)
                .await;
        let reference = &customer.merchant_reference_id;
        match existing {
            Ok(Some(id)) => {
                StoreError::Duplicate(format!("merchant_reference_id `{reference}` is already used by customer {id}"))
            }
            Ok(None) => StoreError::Duplicate(format!("merchant_reference_id `{reference}` is already used")),
            Err(e) => e.into(),
        }
    }

    /// Writes a customer's details; false when it no longer exists. Their default stays only
    /// while it names an active saved method of theirs: a method deleted since the customer was
    /// read does not come back as the default.
    pub async fn update_customer(&self, customer: &Customer) -> Result<bool> {
        let update = Statement::new(
            "UPDATE customers SET name = $3, email = $4, phone = $5, phone_country_code = $6, description = $7, \
             tax_registration_id = $8, default_billing_address = $9, default_shipping_address = $10, \
             metadata = $11, modified_at = $12, \
             default_payment_method_id = (SELECT m.id FROM payment_methods m \
                 WHERE m.id = $13 AND m.merchant_id = $2 AND m.customer_id = $1 AND m.status = $14) \
             WHERE id = $1 AND merchant_id = $2",
        )
        .bind(&customer.id)
        .bind(&customer.merchant_id);
        let mut write = Write::new();
        if let Some(method_id) = &customer.default_payment_method_id {
            // Takes the method's row first, as deleting it does: a deletion under way is waited
            // for and then seen as done; one that comes later waits, then clears the default.
            write.then(
                Statement::new(
                    "UPDATE payment_methods SET modified_at = modified_at WHERE id = $1 AND merchant_id = $2",
                )
                .bind(method_id)
                .bind(&customer.merchant_id),
            );
        }
        write.only_if(
            bind_details(update, &customer.details)
                .bind(millis(customer.modified_at))
                .bind(&customer.default_payment_method_id)
                .bind(MethodStatus::Active.as_str()),
        );
        self.write(write).await
    }

    /// Deletes a customer with their saved payment methods and sealed cards; false when there
    /// was none to delete.
    pub async fn delete_customer(&self, id: &str, merchant_id: &str) -> Result<bool> {
        let mut write = Write::only(
            Statement::new("DELETE FROM customers WHERE id = $1 AND merchant_id = $2").bind(id).bind(merchant_id),
        );
        write
            .then(
                Statement::new(
                    "DELETE FROM vault WHERE payment_method_id IN \
                     (SELECT id FROM payment_methods WHERE merchant_id = $1 AND customer_id = $2)",
                )
                .bind(merchant_id)
                .bind(id),
            )
            .then(
                Statement::new("DELETE FROM payment_methods WHERE merchant_id = $1 AND customer_id = $2")
                    .bind(merchant_id)
                    .bind(id),
            );
        self.write(write).await
    }

    pub async fn find_customer(&self, id: &str, merchant_id: &str) -> Result<Option<Customer>> {
        self.find_owned("customers", CUSTOMER_COLUMNS, id, merchant_id, customer_from_row).await
    }

    /// A page of the merchant's customers, newest first.
    pub async fn list_customers(&self, merchant_id: &str, limit: u32, offset: u32) -> Result<Vec<Customer>> {
        let rows = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE merchant_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(merchant_id)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(customer_from_row).collect()
    }
}

/// Binds a customer's details, in the order of `CUSTOMER_COLUMNS` from `name` to `metadata`.
fn bind_details(statement: Statement, d: &CustomerDetails) -> Statement {
    statement
        .bind(&d.name)
        .bind(&d.email)
        .bind(&d.phone)
        .bind(&d.phone_country_code)
        .bind(&d.description)
        .bind(&d.tax_registration_id)
        .bind(d.default_billing_address.as_ref().map(Json))
        .bind(d.default_shipping_address.as_ref().map(Json))
        .bind(d.metadata.as_ref().map(Json))
}

fn customer_from_row(row: &AnyRow) -> Result<Customer> {
    Ok(Customer {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        merchant_reference_id: row.try_get("merchant_reference_id")?,
        details: CustomerDetails {
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            phone_country_code: row.try_get("phone_country_code")?,
            description: row.try_get("description")?,
            tax_registration_id: row.try_get("tax_registration_id")?,
            default_billing_address: json_col(row, "default_billing_address")?,
            default_shipping_address: json_col(row, "default_shipping_address")?,
            metadata: json_col(row, "metadata")?,
        },
        default_payment_method_id: row.try_get("default_payment_method_id")?,
        created_at: time_col(row, "created_at")?,
        modified_at: time_col(row, "modified_at")?,
    })
}
