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
    CancelRequest, CaptureRequest, ConfirmIntentRequest, CreateIntentRequest, MethodChoice, PaymentsIntentResponse,
    PaymentsRequest, PaymentsResponse,
};
use crate::app::AppState;
use crate::connectors::PaymentMethod;
use crate::payment_methods;
use crate::payments::flow::{self, Confirmation};

pub async fn create_and_confirm(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PaymentsRequest>,
) -> Result<Response, ApiError> {
    let (intent, choice) = req.into_parts()?;
    let (confirmation, saved) = resolve(&state, &caller, choice, intent.customer_id.as_deref()).await?;
    let view = flow::create_and_confirm(&state, &caller, intent, confirmation).await?;
    used(&state, saved).await;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// The confirmation a request's method choice stands for: a saved method's card comes out of
/// the vault, for the payment's own customer only. Answers the saved method's id too.
async fn resolve(
    state: &AppState,
    caller: &Caller,
    choice: MethodChoice,
    customer_id: Option<&str>,
) -> Result<(Confirmation, Option<String>), ApiError> {
    match choice {
        MethodChoice::Given(confirmation) => Ok((confirmation, None)),
        MethodChoice::Saved { payment_method_id, billing, return_url } => {
            let (method, card) =
                payment_methods::card_for_payment(state, &caller.merchant_id, &payment_method_id, customer_id).await?;
            let confirmation = Confirmation {
                payment_method: PaymentMethod::Card(card),
                payment_method_type: "card".into(),
                payment_method_subtype: method.payment_method_subtype,
                billing: billing.or(method.billing),
                return_url,
            };
            Ok((confirmation, Some(payment_method_id)))
        }
    }
}

/// Marks a saved method as just used; the payment stands whether or not this is written.
async fn used(state: &AppState, saved: Option<String>) {
    if let Some(id) = saved {
        if let Err(e) = state.store.touch_payment_method(&id, chrono::Utc::now()).await {
            tracing::warn!(payment_method_id = %id, error = %e, "could not record the use of a saved payment method");
        }
    }
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
    let choice = req.into_choice()?;
    let customer_id = match &choice {
        MethodChoice::Saved { .. } => flow::retrieve_intent(&state, &caller, &id).await?.customer_id,
        MethodChoice::Given(_) => None,
    };
    let (confirmation, saved) = resolve(&state, &caller, choice, customer_id.as_deref()).await?;
    let view = flow::confirm(&state, &caller, &id, confirmation).await?;
    used(&state, saved).await;
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
    let view = flow::cancel(&state, &caller, &id, req.cancellation_reason).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}
