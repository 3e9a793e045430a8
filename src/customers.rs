//! Customers: who a merchant's payments and saved payment methods belong to. A customer is
//! the merchant's (every profile sees it) and is named by a minted id and by the merchant's own
//! reference, unique per merchant.

use chrono::Utc;

use crate::domain::customer::{Customer, CustomerDetails, CustomerUpdate};
use crate::domain::payment_method::MethodStatus;
use crate::payments::{Context, Error};

pub async fn create(
    cx: &Context,
    merchant_id: &str,
    merchant_reference_id: Option<String>,
    details: CustomerDetails,
) -> Result<Customer, Error> {
    let now = Utc::now();
    let customer = Customer {
        id: cx.ids.customer(),
        merchant_id: merchant_id.to_string(),
        merchant_reference_id: merchant_reference_id.unwrap_or_else(crate::ids::customer_reference),
        details,
        default_payment_method_id: None,
        created_at: now,
        modified_at: now,
    };
    cx.store.insert_customer(&customer).await?;
    Ok(customer)
}

/// The merchant's customer `id`; another merchant's is answered like one that does not exist.
pub async fn retrieve(cx: &Context, merchant_id: &str, id: &str) -> Result<Customer, Error> {
    cx.store.find_customer(id, merchant_id).await?.ok_or_else(|| not_found(id))
}

pub async fn update(cx: &Context, merchant_id: &str, id: &str, update: CustomerUpdate) -> Result<Customer, Error> {
    let mut customer = retrieve(cx, merchant_id, id).await?;
    if let Some(method_id) = &update.default_payment_method_id {
        // Only a saved card of this customer can be their default.
        let method = cx.store.find_payment_method(method_id, merchant_id).await?;
        let method = method.ok_or_else(|| Error::NotFound(format!("payment method `{method_id}`")))?;
        if method.customer_id != customer.id || method.status != MethodStatus::Active {
            return Err(Error::InvalidRequest(format!(
                "default_payment_method_id: {method_id} is not a saved payment method of this customer"
            )));
        }
        customer.default_payment_method_id = Some(method_id.clone());
    }
    update.apply(&mut customer.details);
    customer.modified_at = Utc::now();
    if !cx.store.update_customer(&customer).await? {
        return Err(not_found(id));
    }
    // Answered as stored: the default may have gone with its method meanwhile.
    retrieve(cx, merchant_id, id).await
}

pub async fn delete(cx: &Context, merchant_id: &str, id: &str) -> Result<Customer, Error> {
    let customer = retrieve(cx, merchant_id, id).await?;
    if !cx.store.delete_customer(id, merchant_id).await? {
        return Err(not_found(id));
    }
    Ok(customer)
}

pub async fn list(cx: &Context, merchant_id: &str, limit: u32, offset: u32) -> Result<Vec<Customer>, Error> {
    Ok(cx.store.list_customers(merchant_id, limit, offset).await?)
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("customer `{id}`"))
}
