//! Customers: who a merchant's payments and saved payment methods belong to. A customer is
//! the merchant's (every profile sees it) and is named by a minted id and by the merchant's own
//! reference, unique per merchant.

use chrono::Utc;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::domain::customer::Customer;
use crate::domain::customer::CustomerDetails;
use crate::domain::customer::CustomerUpdate;
use crate::domain::payment_method::MethodStatus;

pub async fn create(
    state: &AppState,
    merchant_id: &str,
    merchant_reference_id: Option<String>,
    details: CustomerDetails,
) -> Result<Customer, ApiError> {
    let now = Utc::now();
    let customer = Customer {
        id: state.ids.customer(),
        merchant_id: merchant_id.to_string(),
        merchant_reference_id: merchant_reference_id.unwrap_or_else(crate::ids::customer_reference),
        details,
        default_payment_method_id: None,
        created_at: now,
        modified_at: now,
    };
    state.store.insert_customer(&customer).await?;
    Ok(customer)
}

/// The merchant's customer `id`; another merchant's is answered like one that does not exist.
pub async fn retrieve(state: &AppState, merchant_id: &str, id: &str) -> Result<Customer, ApiError> {
    state.store.find_customer(id, merchant_id).await?.ok_or_else(|| not_found(id))
}

pub async fn update(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    update: CustomerUpdate,
) -> Result<Customer, ApiError> {
    let mut customer = retrieve(state, merchant_id, id).await?;
    if let Some(method_id) = &update.default_payment_method_id {
        // Only a saved card of this customer can be their default.
        let method = crate::payment_methods::retrieve(state, merchant_id, method_id).await?;
        if method.customer_id != customer.id || method.status != MethodStatus::Active {
            return Err(ApiError::InvalidRequest(format!(
                "default_payment_method_id: {method_id} is not a saved payment method of this customer"
            )));
        }
        customer.default_payment_method_id = Some(method_id.clone());
    }
    update.apply(&mut customer.details);
    customer.modified_at = Utc::now();
    if !state.store.update_customer(&customer).await? {
        return Err(not_found(id));
    }
    // Answered as stored: the default may have gone with its method meanwhile.
    retrieve(state, merchant_id, id).await
}

pub async fn delete(state: &AppState, merchant_id: &str, id: &str) -> Result<Customer, ApiError> {
    let customer = retrieve(state, merchant_id, id).await?;
    if !state.store.delete_customer(id, merchant_id).await? {
        return Err(not_found(id));
    }
    Ok(customer)
}

pub async fn list(state: &AppState, merchant_id: &str, limit: u32, offset: u32) -> Result<Vec<Customer>, ApiError> {
    Ok(state.store.list_customers(merchant_id, limit, offset).await?)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("customer `{id}`"))
}
