//! Customers: who a merchant's payments and saved payment methods belong to. A customer is
//! the merchant's (every profile sees it) and is named by a minted id and by the merchant's own
//! reference, unique per merchant.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::payment_methods::MethodStatus;
use crate::payments::model::AddressDetails;

/// What a merchant says about a customer; everything but the ids and times.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerDetails {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub phone_country_code: Option<String>,
    pub description: Option<String>,
    pub tax_registration_id: Option<String>,
    pub default_billing_address: Option<AddressDetails>,
    pub default_shipping_address: Option<AddressDetails>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: String,
    pub merchant_id: String,
    pub merchant_reference_id: String,
    pub details: CustomerDetails,
    /// One of the customer's saved payment methods.
    pub default_payment_method_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// A change to a customer: name and email always, the other fields when given (the others stay).
#[derive(Debug)]
pub struct CustomerUpdate {
    pub details: CustomerDetails,
    pub default_payment_method_id: Option<String>,
}

impl CustomerUpdate {
    fn apply(self, details: &mut CustomerDetails) {
        fn keep<T>(new: Option<T>, old: &mut Option<T>) {
            if new.is_some() {
                *old = new;
            }
        }
        let new = self.details;
        details.name = new.name;
        details.email = new.email;
        keep(new.phone, &mut details.phone);
        keep(new.phone_country_code, &mut details.phone_country_code);
        keep(new.description, &mut details.description);
        keep(new.tax_registration_id, &mut details.tax_registration_id);
        keep(new.default_billing_address, &mut details.default_billing_address);
        keep(new.default_shipping_address, &mut details.default_shipping_address);
        keep(new.metadata, &mut details.metadata);
    }
}

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
