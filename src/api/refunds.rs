//! The refunds endpoints.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use super::extract::ApiQuery;
use super::payments::SyncQuery;
use super::types::{RefundResponse, RefundsCreateRequest};
use crate::app::AppState;
use crate::payments::refunds;

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RefundsCreateRequest>,
) -> Result<Response, ApiError> {
    let refund = refunds::create(&state, &caller, req.into_new_refund(&caller.merchant_id)?).await?;
    Ok(Json(RefundResponse::of(&refund)).into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Response, ApiError> {
    let refund = match query.force_sync {
        true => refunds::sync(&state, &caller, &id).await?,
        false => refunds::retrieve(&state, &caller, &id).await?,
    };
    Ok(Json(RefundResponse::of(&refund)).into_response())
}
