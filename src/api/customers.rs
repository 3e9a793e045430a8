//! The customers endpoints and their wire types (Hyperswitch v2 `CustomerRequest`,
//! `CustomerUpdateRequest`, `CustomerResponse`, `CustomerDeleteResponse`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Caller;
use super::bounds::{self, TEXT_MAX};
use super::error::ApiError;
use super::extract::{fields_of, only_fields, part, ApiJson, ApiQuery, FromBody};
use super::types::time;
use crate::app::AppState;
use crate::customers::{self, Customer, CustomerDetails, CustomerUpdate};
use crate::ids::CustomerId;
use crate::payments::model::AddressDetails;

const PAGE_DEFAULT: u32 = 20;
const PAGE_MAX: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/customers", post(create))
        .route("/v2/customers/list", get(list))
        .route("/v2/customers/{id}", get(retrieve).put(update).delete(delete))
}

// ---- requests -------------------------------------------------------------------------------

/// The fields a create and an update share; each request adds its own (`CreateExtras`,
/// `UpdateExtras`), decoded part by part from one body.
#[derive(Debug, Deserialize)]
struct CustomerFields {
    name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    phone_country_code: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tax_registration_id: Option<String>,
    #[serde(default)]
    default_billing_address: Option<AddressDetails>,
    #[serde(default)]
    default_shipping_address: Option<AddressDetails>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

impl CustomerFields {
    fn into_details(self) -> Result<CustomerDetails, ApiError> {
        let optional = [
            ("phone", &self.phone),
            ("phone_country_code", &self.phone_country_code),
            ("description", &self.description),
            ("tax_registration_id", &self.tax_registration_id),
        ];
        let given = [("name", &self.name), ("email", &self.email)]
            .into_iter()
            .chain(optional.into_iter().filter_map(|(field, value)| value.as_ref().map(|v| (field, v))));
        for (field, value) in given {
            bounds::text("", field, Some(value), TEXT_MAX)?;
        }
        if self.name.trim().is_empty() {
            return Err(ApiError::InvalidRequest("name: must not be empty".into()));
        }
        if !looks_like_email(&self.email) {
            return Err(ApiError::InvalidRequest(format!("email: `{}` is not an email address", self.email)));
        }
        bounds::address_details("default_billing_address.", self.default_billing_address.as_ref())?;
        bounds::address_details("default_shipping_address.", self.default_shipping_address.as_ref())?;
        bounds::metadata(self.metadata.as_ref())?;
        Ok(CustomerDetails {
            name: self.name,
            email: self.email,
            phone: self.phone,
            phone_country_code: self.phone_country_code,
            description: self.description,
            tax_registration_id: self.tax_registration_id,
            default_billing_address: self.default_billing_address,
            default_shipping_address: self.default_shipping_address,
            metadata: self.metadata,
        })
    }
}

#[derive(Debug, Deserialize)]
struct CreateExtras {
    #[serde(default)]
    merchant_reference_id: Option<CustomerId>,
}

#[derive(Debug, Deserialize)]
struct UpdateExtras {
    #[serde(default)]
    default_payment_method_id: Option<String>,
}

/// `POST /v2/customers`.
pub(super) struct CustomerRequest {
    merchant_reference_id: Option<CustomerId>,
    details: CustomerDetails,
}

impl FromBody for CustomerRequest {
    fn from_body(body: &Value) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CustomerFields>(), fields_of::<CreateExtras>()])?;
        let extras: CreateExtras = part(body)?;
        let fields: CustomerFields = part(body)?;
        Ok(Self { merchant_reference_id: extras.merchant_reference_id, details: fields.into_details()? })
    }
}

/// `PUT /v2/customers/{id}`.
pub(super) struct CustomerUpdateRequest(CustomerUpdate);

impl FromBody for CustomerUpdateRequest {
    fn from_body(body: &Value) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CustomerFields>(), fields_of::<UpdateExtras>()])?;
        let extras: UpdateExtras = part(body)?;
        let fields: CustomerFields = part(body)?;
        Ok(Self(CustomerUpdate {
            details: fields.into_details()?,
            default_payment_method_id: extras.default_payment_method_id,
        }))
    }
}

/// One `@` between a non-empty local part and a dotted domain, no spaces: enough to catch a
/// value in the wrong field without refusing real addresses.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let labels_ok = domain.split('.').count() >= 2 && domain.split('.').all(|l| !l.is_empty());
    !local.is_empty() && !domain.contains('@') && labels_ok && !s.chars().any(char::is_whitespace)
}

/// `?limit=&offset=` for the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct CustomerResponse<'a> {
    id: &'a str,
    merchant_reference_id: &'a str,
    /// Kept for the wire format; no connector holds a customer of ours yet.
    connector_customer_ids: Option<Value>,
    name: &'a str,
    email: &'a str,
    phone: Option<&'a str>,
    phone_country_code: Option<&'a str>,
    description: Option<&'a str>,
    default_billing_address: Option<&'a AddressDetails>,
    default_shipping_address: Option<&'a AddressDetails>,
    #[serde(serialize_with = "time")]
    created_at: DateTime<Utc>,
    metadata: Option<&'a Map<String, Value>>,
    default_payment_method_id: Option<&'a str>,
    tax_registration_id: Option<&'a str>,
}

impl<'a> CustomerResponse<'a> {
    fn of(c: &'a Customer) -> Self {
        let d = &c.details;
        Self {
            id: &c.id,
            merchant_reference_id: &c.merchant_reference_id,
            connector_customer_ids: None,
            name: &d.name,
            email: &d.email,
            phone: d.phone.as_deref(),
            phone_country_code: d.phone_country_code.as_deref(),
            description: d.description.as_deref(),
            default_billing_address: d.default_billing_address.as_ref(),
            default_shipping_address: d.default_shipping_address.as_ref(),
            created_at: c.created_at,
            metadata: d.metadata.as_ref(),
            default_payment_method_id: c.default_payment_method_id.as_deref(),
            tax_registration_id: d.tax_registration_id.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CustomerDeleteResponse<'a> {
    id: &'a str,
    merchant_reference_id: &'a str,
    customer_deleted: bool,
    address_deleted: bool,
    payment_methods_deleted: bool,
}

// ---- handlers -------------------------------------------------------------------------------

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CustomerRequest>,
) -> Result<Response, ApiError> {
    let reference = req.merchant_reference_id.map(CustomerId::into_string);
    let customer = customers::create(&state, &caller.merchant_id, reference, req.details).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

async fn retrieve(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let customer = customers::retrieve(&state, &caller.merchant_id, &id).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(CustomerUpdateRequest(update)): ApiJson<CustomerUpdateRequest>,
) -> Result<Response, ApiError> {
    let customer = customers::update(&state, &caller.merchant_id, &id, update).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let customer = customers::delete(&state, &caller.merchant_id, &id).await?;
    Ok(Json(CustomerDeleteResponse {
        id: &customer.id,
        merchant_reference_id: &customer.merchant_reference_id,
        customer_deleted: true,
        // Addresses live in the customer's row; saved payment methods went with it.
        address_deleted: true,
        payment_methods_deleted: true,
    })
    .into_response())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("limit: must be 1 to {PAGE_MAX}, got {limit}")));
    }
    let page = customers::list(&state, &caller.merchant_id, limit, query.offset.unwrap_or(0)).await?;
    Ok(Json(page.iter().map(CustomerResponse::of).collect::<Vec<_>>()).into_response())
}
