//! The refunds endpoints.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{ApiError, ErrorResponse};
use super::extract::{ApiJson, ApiQuery};
use super::payments::SyncQuery;
use super::types::{RefundResponse, RefundsCreateRequest};
use crate::api::state::Call;
use crate::payments::{refunds, Scope};

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, retrieve))]
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
