//! The refunds endpoints.

use super::answer::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::bounds::{self, TEXT_MAX};
use super::error::{ApiError, ErrorResponse};
use super::extract::FromBody;
use super::extract::{ApiJson, ApiQuery};
use super::payments::SyncQuery;
use super::strict::Tree;
use super::types::{RefundListResponse, RefundResponse, RefundsCreateRequest};
use crate::api::state::Call;
use crate::domain::status::RefundStatus;
use crate::money::Currency;
use crate::payments::{refunds, Scope};
use crate::store::RefundFilter;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, retrieve, update_metadata))]
pub(super) struct Doc;

/// `id`, the refund's id, in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct RefundId {
    /// The refund's id.
    #[allow(dead_code)]
    id: String,
}

/// Refunds - Create
///
/// Refunds a captured payment, in full or in part.
#[utoipa::path(
    post,
    path = "/v2/refunds",
    tag = "Refunds",
    operation_id = "Create a Refund",
    request_body(content = RefundsCreateRequest, example = json!({
        "payment_id": "sy_pay_0196b3f0c7d07a41b5c1e2f3a4b5c6d7", "merchant_reference_id": "refund_1",
        "amount": 1000, "reason": "damaged item"
    })),
    responses(
        (status = 200, description = "The refund", body = RefundResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    state: Call,
    caller: Scope,
    ApiJson(req): ApiJson<RefundsCreateRequest>,
) -> Result<Response, ApiError> {
    let refund = refunds::create(&state.core, &caller, req.into_new_refund(&caller.merchant_id)?).await?;
    Ok(Json(RefundResponse::of(&refund)).into_response())
}

/// Refunds - Retrieve
///
/// The refund; `force_sync=true` asks the connector for news first.
#[utoipa::path(
    get,
    path = "/v2/refunds/{id}",
    tag = "Refunds",
    operation_id = "Retrieve a Refund",
    params(RefundId, SyncQuery),
    responses(
        (status = 200, description = "The refund", body = RefundResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub async fn retrieve(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Response, ApiError> {
    let refund = match query.force_sync {
        true => refunds::sync(&state.core, &caller, &id).await?,
        false => refunds::retrieve(&state.core, &caller, &id).await?,
    };
    Ok(Json(RefundResponse::of(&refund)).into_response())
}

/// `PUT /v2/refunds/{id}/update-metadata`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundMetadataUpdateRequest {
    #[serde(default)]
    #[schema(max_length = 255)]
    reason: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Map<String, Value>>,
}

impl FromBody for RefundMetadataUpdateRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: Self = super::extract::part(body)?;
        bounds::text("", "reason", req.reason.as_deref(), TEXT_MAX)?;
        bounds::metadata(req.metadata.as_ref())?;
        Ok(req)
    }
}

/// Bounds on an amount, both inclusive (Hyperswitch's `AmountFilter`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AmountFilter {
    #[serde(default)]
    start_amount: Option<i64>,
    #[serde(default)]
    end_amount: Option<i64>,
}

/// `POST /v2/refunds/list`: each field left out lets all through.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundListRequest {
    #[serde(default)]
    payment_id: Option<String>,
    #[serde(default)]
    refund_id: Option<String>,
    /// How many to list, 20 unless given.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
    /// Created at or after.
    #[serde(default)]
    start_time: Option<DateTime<Utc>>,
    /// Created at or before.
    #[serde(default)]
    end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    amount_filter: Option<AmountFilter>,
    #[serde(default)]
    connector: Option<Vec<String>>,
    /// Connector accounts.
    #[serde(default)]
    connector_id_list: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    currency: Option<Vec<Currency>>,
    #[serde(default)]
    refund_status: Option<Vec<RefundStatus>>,
}

impl FromBody for RefundListRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        super::extract::part(body)
    }
}

/// Refunds - List
///
/// The profile's refunds, newest first, filtered by the fields given.
#[utoipa::path(
    post,
    path = "/v2/refunds/list",
    tag = "Refunds",
    operation_id = "List all Refunds",
    request_body(content = RefundListRequest, example = json!({
        "payment_id": "sy_pay_0196b3f0c7d07a41b5c1e2f3a4b5c6d7", "limit": 10, "refund_status": ["succeeded"]
    })),
    responses((status = 200, description = "A page of refunds", body = RefundListResponse)),
    security(("api_key" = []))
)]
pub async fn list(state: Call, caller: Scope, ApiJson(req): ApiJson<RefundListRequest>) -> Result<Response, ApiError> {
    let limit = super::extract::page_limit(req.limit)?;
    let amounts = req.amount_filter.unwrap_or(AmountFilter { start_amount: None, end_amount: None });
    let filter = RefundFilter {
        profile_id: caller.profile_needed()?.to_string(),
        merchant_id: caller.merchant_id,
        payment_id: req.payment_id,
        refund_id: req.refund_id,
        since: req.start_time,
        until: req.end_time,
        amount_at_least: amounts.start_amount,
        amount_at_most: amounts.end_amount,
        connectors: req.connector.unwrap_or_default(),
        accounts: req.connector_id_list.unwrap_or_default(),
        currencies: req.currency.unwrap_or_default().iter().map(|c| c.code().to_string()).collect(),
        statuses: req.refund_status.unwrap_or_default(),
        limit,
        offset: req.offset.unwrap_or(0),
    };
    let (page, total) = refunds::list(&state.core, &filter).await?;
    let data: Vec<RefundResponse> = page.iter().map(RefundResponse::of).collect();
    Ok(Json(RefundListResponse { count: data.len(), total_count: total, data }).into_response())
}

/// Refunds - Metadata Update
///
/// Replaces a refund's `reason` and `metadata`, each when given.
#[utoipa::path(
    put,
    path = "/v2/refunds/{id}/update-metadata",
    tag = "Refunds",
    operation_id = "Update Refund Metadata and Reason",
    params(RefundId),
    request_body(content = RefundMetadataUpdateRequest, example = json!({ "reason": "Paid by mistake" })),
    responses((status = 200, description = "The refund", body = RefundResponse)),
    security(("api_key" = []))
)]
pub async fn update_metadata(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RefundMetadataUpdateRequest>,
) -> Result<Response, ApiError> {
    let refund = refunds::update_details(&state.core, &caller, &id, req.reason, req.metadata).await?;
    Ok(Json(RefundResponse::of(&refund)).into_response())
}
