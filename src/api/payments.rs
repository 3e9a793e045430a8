//! The payments endpoints: decode, hand to the flow, answer in the wire format.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::types::{
    CancelRequest, CaptureRequest, ConfirmIntentRequest, CreateIntentRequest, PaymentsIntentResponse, PaymentsRequest,
    PaymentsResponse,
};
use crate::app::AppState;
use crate::payments::flow;

pub async fn create_and_confirm(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PaymentsRequest>,
) -> Result<Response, ApiError> {
    let (intent, confirmation) = req.into_parts()?;
    let view = flow::create_and_confirm(&state, &caller, intent, confirmation).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

pub async fn create_intent(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateIntentRequest>,
) -> Result<Response, ApiError> {
    let intent = flow::create_intent(&state, &caller, req.into_new_intent()?).await?;
    Ok((StatusCode::OK, Json(PaymentsIntentResponse::of(&intent))).into_response())
}

pub async fn confirm_intent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConfirmIntentRequest>,
) -> Result<Response, ApiError> {
    let view = flow::confirm(&state, &caller, &id, req.into_confirmation()?).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// `?force_sync=true` asks the connector first, as Hyperswitch's retrieve does.
#[derive(Debug, Deserialize)]
pub struct SyncQuery {
    #[serde(default)]
    pub force_sync: bool,
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Response, ApiError> {
    let view = match query.force_sync {
        true => flow::sync(&state, &caller, &id).await?,
        false => flow::retrieve(&state, &caller, &id).await?,
    };
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

pub async fn get_intent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let intent = flow::retrieve_intent(&state, &caller, &id).await?;
    Ok(Json(PaymentsIntentResponse::of(&intent)).into_response())
}

pub async fn capture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CaptureRequest>,
) -> Result<Response, ApiError> {
    let view = flow::capture(&state, &caller, &id, req.amount_to_capture).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> Result<Response, ApiError> {
    if req.cancellation_reason.as_deref().is_some_and(|r| r.len() > 255) {
        return Err(ApiError::InvalidRequest("cancellation_reason: must be at most 255 characters".into()));
    }
    let view = flow::cancel(&state, &caller, &id, req.cancellation_reason).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}
