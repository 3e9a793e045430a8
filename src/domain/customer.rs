//! Customers: whom a merchant's payments and saved methods belong to. A customer is the
//! merchant's (every profile sees it), named by a minted id and by the merchant's own reference.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::payment::AddressDetails;

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
    pub fn apply(self, details: &mut CustomerDetails) {
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
