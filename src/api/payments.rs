//! The payments endpoints: decode, hand to the flow, answer in the wire format.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use super::auth::PaymentCaller;
use super::error::{ApiError, ErrorResponse};
use super::extract::{ApiJson, ApiQuery};
use super::types::{
    CancelRequest, ConfirmIntentRequest, CreateIntentRequest, MethodChoice, PaymentsCaptureRequest,
    PaymentsIntentResponse, PaymentsRequest, PaymentsResponse,
};
use crate::api::state::Call;
use crate::domain::payment_method::PaymentMethod;
use crate::payments::{self, Confirmation, Scope};
use crate::{customers, payment_methods};

#[derive(OpenApi)]
#[openapi(paths(create_and_confirm, create_intent, retrieve, get_intent, confirm_intent, capture, cancel))]
pub(super) struct Doc;

/// `id`, the payment's id, in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct PaymentId {
    /// The payment's id.
    #[allow(dead_code)]
    id: String,
}

/// Payments - Create and Confirm Intent
///
/// Creates a payment intent and confirms it with the payment method given: routing picks the
/// connector accounts to try.
#[utoipa::path(
    post,
    path = "/v2/payments",
    tag = "Payments",
    operation_id = "Create and Confirm Payment Intent",
    request_body(content = PaymentsRequest, example = json!({
        "amount_details": { "currency": "USD", "order_amount": 6540 },
        "payment_method_data": { "card": {
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "35",
            "card_holder_name": "joseph Doe", "card_cvc": "123"
        } },
        "payment_method_subtype": "credit", "payment_method_type": "card"
    })),
    responses(
        (status = 200, description = "The payment, with its attempts", body = PaymentsResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub async fn create_and_confirm(
    state: Call,
    caller: Scope,
    ApiJson(req): ApiJson<PaymentsRequest>,
) -> Result<Response, ApiError> {
    let (intent, choice) = req.into_parts()?;
    known_customer(&state, &caller, intent.customer_id.as_deref()).await?;
    let (confirmation, saved) = resolve(&state, &caller, choice, intent.customer_id.as_deref()).await?;
    let view = payments::create_and_confirm(&state.core, &caller, intent, confirmation).await?;
    used(&state, saved).await;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// A payment may name only a customer its merchant has (`HE_02` otherwise, as for any object
/// that does not exist).
async fn known_customer(state: &Call, caller: &Scope, customer_id: Option<&str>) -> Result<(), ApiError> {
    match customer_id {
        Some(id) => Ok(customers::retrieve(&state.core, &caller.merchant_id, id).await.map(drop)?),
        None => Ok(()),
    }
}

/// The confirmation a request's method choice stands for: a saved method's card comes out of
/// the vault, for the payment's own customer only. Answers the saved method's id too.
async fn resolve(
    state: &Call,
    caller: &Scope,
    choice: MethodChoice,
    customer_id: Option<&str>,
) -> Result<(Confirmation, Option<String>), ApiError> {
    match choice {
        MethodChoice::Given(confirmation) => Ok((confirmation, None)),
        MethodChoice::Saved { payment_method_id, billing, return_url } => {
            let (method, card) =
                payment_methods::card_for_payment(&state.core, &caller.merchant_id, &payment_method_id, customer_id)
                    .await?;
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
async fn used(state: &Call, saved: Option<String>) {
    if let Some(id) = saved {
        if let Err(e) = state.core.store.touch_payment_method(&id, chrono::Utc::now()).await {
            tracing::warn!(payment_method_id = %id, error = %e, "could not record the use of a saved payment method");
        }
    }
}

/// Payments - Create Intent
///
/// Creates a payment intent, to be confirmed later with a payment method.
#[utoipa::path(
    post,
    path = "/v2/payments/create-intent",
    tag = "Payments",
    operation_id = "Create a Payment Intent",
    request_body(content = CreateIntentRequest, example = json!({
        "amount_details": { "currency": "USD", "order_amount": 2500 },
        "capture_method": "manual", "merchant_reference_id": "order_1001"
    })),
    responses((status = 200, description = "The intent", body = PaymentsIntentResponse)),
    security(("api_key" = []))
)]
pub async fn create_intent(
    state: Call,
    caller: Scope,
    ApiJson(req): ApiJson<CreateIntentRequest>,
) -> Result<Response, ApiError> {
    let intent = req.into_new_intent()?;
    known_customer(&state, &caller, intent.customer_id.as_deref()).await?;
    let intent = payments::create_intent(&state.core, &caller, intent).await?;
    Ok((StatusCode::OK, Json(PaymentsIntentResponse::of(&intent))).into_response())
}

/// Payments - Confirm Intent
///
/// Confirms a payment intent with a payment method: routing picks the connector accounts to try.
/// The merchant's server calls it with its secret key; a browser with the publishable key and
/// the payment's client secret (`Authorization: publishable-key=…,client-secret=…`), so the card
/// never passes through the merchant's server.
#[utoipa::path(
    post,
    path = "/v2/payments/{id}/confirm-intent",
    tag = "Payments",
    operation_id = "Confirm Payment Intent",
    params(PaymentId),
    request_body(content = ConfirmIntentRequest, example = json!({
        "payment_method_data": { "card": {
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "35",
            "card_holder_name": "joseph Doe", "card_cvc": "123"
        } },
        "payment_method_subtype": "credit", "payment_method_type": "card"
    })),
    responses(
        (status = 200, description = "The payment, with its attempts", body = PaymentsResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []), ("publishable_key__client_secret" = []))
)]
pub async fn confirm_intent(
    state: Call,
    caller: PaymentCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConfirmIntentRequest>,
) -> Result<Response, ApiError> {
    let caller = match caller {
        PaymentCaller::Server(scope) => scope,
        PaymentCaller::Client(client) => {
            let intent =
                payments::open_for_client(&state.core, &client.merchant_id, Some(&client.client_secret), &id).await?;
            Scope::new(intent.merchant_id, intent.profile_id)
        }
    };
    let choice = req.into_choice()?;
    let customer_id = match &choice {
        MethodChoice::Saved { .. } => payments::retrieve_intent(&state.core, &caller, &id).await?.customer_id,
        MethodChoice::Given(_) => None,
    };
    let (confirmation, saved) = resolve(&state, &caller, choice, customer_id.as_deref()).await?;
    let view = payments::confirm(&state.core, &caller, &id, confirmation).await?;
    used(&state, saved).await;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// `?force_sync=true` asks the connector first, as Hyperswitch's retrieve does.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// Ask the connector for the latest status before answering.
    #[serde(default)]
    pub force_sync: bool,
}

/// Payments - Get
///
/// The payment with its attempts; `force_sync=true` asks the connector for news first.
#[utoipa::path(
    get,
    path = "/v2/payments/{id}",
    tag = "Payments",
    operation_id = "Retrieve a Payment",
    params(PaymentId, SyncQuery),
    responses(
        (status = 200, description = "The payment, with its attempts", body = PaymentsResponse),
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
    let view = match query.force_sync {
        true => payments::sync(&state.core, &caller, &id).await?,
        false => payments::retrieve(&state.core, &caller, &id).await?,
    };
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// Payments - Get Intent
///
/// The payment intent alone.
#[utoipa::path(
    get,
    path = "/v2/payments/{id}/get-intent",
    tag = "Payments",
    operation_id = "Get the Payment Intent details",
    params(PaymentId),
    responses((status = 200, description = "The intent", body = PaymentsIntentResponse)),
    security(("api_key" = []))
)]
pub async fn get_intent(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let intent = payments::retrieve_intent(&state.core, &caller, &id).await?;
    Ok(Json(PaymentsIntentResponse::of(&intent)).into_response())
}

/// Payments - Capture
///
/// Captures an authorized payment, in full or in part.
#[utoipa::path(
    post,
    path = "/v2/payments/{id}/capture",
    tag = "Payments",
    operation_id = "Capture a Payment",
    params(PaymentId),
    request_body(
        content = Option<PaymentsCaptureRequest>,
        description = "May be left out: captures the full amount",
        example = json!({ "amount_to_capture": 3000 })
    ),
    responses(
        (status = 200, description = "The payment", body = PaymentsResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub async fn capture(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PaymentsCaptureRequest>,
) -> Result<Response, ApiError> {
    let view = payments::capture(&state.core, &caller, &id, req.amount_to_capture).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}

/// Payments - Cancel
///
/// Cancels a payment that has not been captured.
#[utoipa::path(
    post,
    path = "/v2/payments/{id}/cancel",
    tag = "Payments",
    operation_id = "Cancel a Payment",
    params(PaymentId),
    request_body(
        content = Option<CancelRequest>,
        description = "May be left out",
        example = json!({ "cancellation_reason": "order abandoned" })
    ),
    responses(
        (status = 200, description = "The payment", body = PaymentsResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub async fn cancel(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> Result<Response, ApiError> {
    let view = payments::cancel(&state.core, &caller, &id, req.cancellation_reason).await?;
    Ok(Json(PaymentsResponse::of(&view)).into_response())
}
