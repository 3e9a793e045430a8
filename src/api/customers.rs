//! The customers endpoints and their wire types (Hyperswitch v2 `CustomerRequest`,
//! `CustomerUpdateRequest`, `CustomerResponse`, `CustomerDeleteResponse`).

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::answer::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::bounds::{self, TEXT_MAX};
use super::error::ApiError;
use super::extract::{fields_of, only_fields, page_limit, part, ApiJson, ApiQuery, FromBody};
use super::strict::Tree;
use super::types::time;
use crate::api::state::{AppState, Call};
use crate::customers;
use crate::domain::customer::{Customer, CustomerDetails, CustomerUpdate};
use crate::domain::payment::AddressDetails;
use crate::ids::CustomerId;
use crate::payments::Scope;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, retrieve, update, delete))]
pub(super) struct Doc;

/// `id`, the customer's id, in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct CustomerPathId {
    /// The customer's id.
    #[allow(dead_code)]
    id: String,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/customers", post(create))
        .route("/v2/customers/list", get(list))
        .route("/v2/customers/{id}", get(retrieve).put(update).delete(delete))
}

// ---- requests -------------------------------------------------------------------------------

/// The fields a create and an update share; each request adds its own (`CreateExtras`,
/// `UpdateExtras`), decoded part by part from one body.
#[derive(Debug, Deserialize, ToSchema)]
struct CustomerFields {
    #[schema(schema_with = name_schema)]
    name: String,
    #[schema(schema_with = email_schema)]
    email: String,
    #[serde(default)]
    #[schema(max_length = 255)]
    phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    phone_country_code: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    description: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    tax_registration_id: Option<String>,
    #[serde(default)]
    default_billing_address: Option<AddressDetails>,
    #[serde(default)]
    default_shipping_address: Option<AddressDetails>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::metadata)]
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

#[derive(Debug, Deserialize, ToSchema)]
struct CreateExtras {
    #[serde(default)]
    #[schema(inline)]
    merchant_reference_id: Option<CustomerId>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct UpdateExtras {
    #[serde(default)]
    default_payment_method_id: Option<String>,
}

/// `POST /v2/customers`.
pub(super) struct CustomerRequest {
    merchant_reference_id: Option<CustomerId>,
    details: CustomerDetails,
}

super::openapi::flat_request!(
    CustomerRequest as "CustomerRequest",
    "Create a customer.",
    [CustomerFields, CreateExtras]
);

impl FromBody for CustomerRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CustomerFields>(), fields_of::<CreateExtras>()])?;
        let extras: CreateExtras = part(body)?;
        let fields: CustomerFields = part(body)?;
        Ok(Self { merchant_reference_id: extras.merchant_reference_id, details: fields.into_details()? })
    }
}

/// `PUT /v2/customers/{id}`.
pub(super) struct CustomerUpdateRequest(CustomerUpdate);

super::openapi::flat_request!(
    CustomerUpdateRequest as "CustomerUpdateRequest",
    "Replace a customer's details.",
    [CustomerFields, UpdateExtras]
);

impl FromBody for CustomerUpdateRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CustomerFields>(), fields_of::<UpdateExtras>()])?;
        let extras: UpdateExtras = part(body)?;
        let fields: CustomerFields = part(body)?;
        Ok(Self(CustomerUpdate {
            details: fields.into_details()?,
            default_payment_method_id: extras.default_payment_method_id,
        }))
    }
}

/// What `char::is_whitespace` (Unicode's White_Space) takes, as a regular expression class.
const WHITE_SPACE: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

fn name_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let pattern = format!("[^{WHITE_SPACE}]");
    crate::schema::string("Not blank.", 1, Some(TEXT_MAX), Some(&pattern))
}

fn email_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let pattern = format!("^[^@{WHITE_SPACE}]+@[^@.{WHITE_SPACE}]+(\\.[^@.{WHITE_SPACE}]+)+$");
    let what = "An email address: one `@` between a local part and a dotted domain, no white space.";
    crate::schema::string(what, 0, Some(TEXT_MAX), Some(&pattern))
}

/// One `@` between a non-empty local part and a dotted domain, no spaces: enough to catch a
/// value in the wrong field without refusing real addresses.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let labels_ok = domain.split('.').count() >= 2 && domain.split('.').all(|l| !l.is_empty());
    !local.is_empty() && !domain.contains('@') && labels_ok && !s.chars().any(char::is_whitespace)
}

/// `?limit=&offset=` for the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many customers to list, 20 unless given.
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// How many to skip.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u32)]
    offset: Option<u32>,
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDeleteResponse<'a> {
    id: &'a str,
    merchant_reference_id: &'a str,
    customer_deleted: bool,
    address_deleted: bool,
    payment_methods_deleted: bool,
}

// ---- handlers -------------------------------------------------------------------------------

/// Customers - Create
#[utoipa::path(
    post,
    path = "/v2/customers",
    tag = "Customers",
    operation_id = "Create a Customer",
    request_body(content = CustomerRequest, example = json!({
        "name": "John Doe", "email": "john@example.com", "phone": "9123456789", "phone_country_code": "+1",
        "description": "First customer", "merchant_reference_id": "customer_1001"
    })),
    responses((status = 200, description = "The customer", body = CustomerResponse)),
    security(("api_key" = []))
)]
async fn create(state: Call, caller: Scope, ApiJson(req): ApiJson<CustomerRequest>) -> Result<Response, ApiError> {
    let reference = req.merchant_reference_id.map(CustomerId::into_string);
    let customer = customers::create(&state.core, &caller.merchant_id, reference, req.details).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

/// Customers - Retrieve
#[utoipa::path(
    get,
    path = "/v2/customers/{id}",
    tag = "Customers",
    operation_id = "Retrieve a Customer",
    params(CustomerPathId),
    responses((status = 200, description = "The customer", body = CustomerResponse)),
    security(("api_key" = []))
)]
async fn retrieve(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let customer = customers::retrieve(&state.core, &caller.merchant_id, &id).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

/// Customers - Update
#[utoipa::path(
    put,
    path = "/v2/customers/{id}",
    tag = "Customers",
    operation_id = "Update a Customer",
    params(CustomerPathId),
    request_body(content = CustomerUpdateRequest, example = json!({
        "name": "John Doe", "email": "john.doe@example.com", "description": "Moved house"
    })),
    responses((status = 200, description = "The customer", body = CustomerResponse)),
    security(("api_key" = []))
)]
async fn update(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(CustomerUpdateRequest(update)): ApiJson<CustomerUpdateRequest>,
) -> Result<Response, ApiError> {
    let customer = customers::update(&state.core, &caller.merchant_id, &id, update).await?;
    Ok(Json(CustomerResponse::of(&customer)).into_response())
}

/// Customers - Delete
///
/// Deletes the customer and its saved payment methods.
#[utoipa::path(
    delete,
    path = "/v2/customers/{id}",
    tag = "Customers",
    operation_id = "Delete a Customer",
    params(CustomerPathId),
    responses((status = 200, description = "Deleted", body = CustomerDeleteResponse)),
    security(("api_key" = []))
)]
async fn delete(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let customer = customers::delete(&state.core, &caller.merchant_id, &id).await?;
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

/// Customers - List
#[utoipa::path(
    get,
    path = "/v2/customers/list",
    tag = "Customers",
    operation_id = "List all Customers for a Merchant",
    params(ListQuery),
    responses((status = 200, description = "The merchant's customers, newest first", body = Vec<CustomerResponse>)),
    security(("api_key" = []))
)]
async fn list(state: Call, caller: Scope, ApiQuery(query): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = customers::list(&state.core, &caller.merchant_id, limit, query.offset.unwrap_or(0)).await?;
    Ok(Json(page.iter().map(CustomerResponse::of).collect::<Vec<_>>()).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_are_documented_as_decoded() {
        crate::api::openapi::assert_flat::<super::CustomerRequest>();
        crate::api::openapi::assert_flat::<super::CustomerUpdateRequest>();
    }
}
