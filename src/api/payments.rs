//! The payments endpoints: decode, hand to the flow, answer in the wire format.

use super::answer::Json;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::auth::{ClientSecretCaller, PaymentCaller};
use super::error::{ApiError, ErrorResponse};
use super::extract::{ApiJson, ApiQuery};
use super::list_query::PaymentListQuery;
use super::payment_methods::{offer, CustomerPaymentMethodResponseItem, ResponsePaymentMethodType};
use super::sessions::PaymentsSessionRequest;
use super::types::{
    CancelRequest, ConfirmIntentRequest, CreateIntentRequest, MethodChoice, PaymentListResponse,
    PaymentsCaptureRequest, PaymentsIntentResponse, PaymentsListItem, PaymentsRequest, PaymentsResponse,
    UpdateIntentRequest,
};
use crate::api::state::Call;
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::Operation;
use crate::payments::{self, Confirmation, Scope};
use crate::store::{IntentFilter, IntentOrder, SortOn, TimeBounds};
use crate::{customers, payment_methods};

#[derive(OpenApi)]
#[openapi(paths(
    create_and_confirm,
    create_intent,
    list,
    retrieve,
    get_intent,
    update_intent,
    confirm_intent,
    payment_methods_for_payment,
    external_sdk_tokens,
    capture,
    cancel
))]
pub(super) struct Doc;

/// `id`, the payment's id, in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PaymentId {
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
        (status = 503, description = "`CE_01` the payment provider could not be reached; `HE_00` a saved volatile card's security code could not be read (nothing was charged)", body = ErrorResponse),
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
            let (method, card, kept_code) =
                payment_methods::card_for_payment(&state.core, &caller.merchant_id, &payment_method_id, customer_id)
                    .await?;
            let confirmation = Confirmation {
                payment_method: PaymentMethod::Card(card),
                payment_method_type: "card".into(),
                payment_method_subtype: method.payment_method_subtype,
                billing: billing.or(method.billing),
                return_url,
                kept_code,
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
        (status = 503, description = "`CE_01` the payment provider could not be reached; `HE_00` a saved volatile card's security code could not be read (nothing was charged)", body = ErrorResponse),
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
            let intent = payments::open(&state.core, &client.merchant_id, Some(&client.client_secret), &id).await?;
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

/// Payments - Update Intent
///
/// Changes an intent that still waits for its payment method: the fields given replace the
/// intent's, the others stay. Refused (`IR_14`) once it has been confirmed, cancelled or has
/// expired.
#[utoipa::path(
    put,
    path = "/v2/payments/{id}/update-intent",
    tag = "Payments",
    operation_id = "Update a Payment Intent",
    params(PaymentId),
    request_body(content = UpdateIntentRequest, example = json!({
        "amount_details": { "currency": "USD", "order_amount": 6540 }, "metadata": { "order": "1001" }
    })),
    responses((status = 200, description = "The intent", body = PaymentsIntentResponse)),
    security(("api_key" = []))
)]
pub async fn update_intent(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateIntentRequest>,
) -> Result<Response, ApiError> {
    let intent = payments::update_intent(&state.core, &caller, &id, req.into_change()).await?;
    Ok(Json(PaymentsIntentResponse::of(&intent)).into_response())
}

/// Payments - List
///
/// The profile's payments, newest first unless `order_on`/`order_by` say otherwise, filtered by
/// the parameters given; a list parameter takes several values, repeated or separated by commas.
#[utoipa::path(
    get,
    path = "/v2/payments/list",
    tag = "Payments",
    operation_id = "List all Payments",
    params(PaymentListQuery),
    responses((status = 200, description = "A page of payments", body = PaymentListResponse)),
    security(("api_key" = []))
)]
pub async fn list(state: Call, caller: Scope, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let q = PaymentListQuery::parse(query.as_deref())?;
    if q.card_network.is_some() {
        return Err(ApiError::NotSupported("card_network: payments cannot be listed by card network".into()));
    }
    let from = match (&q.starting_after, &q.ending_before) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest("starting_after, ending_before: give one or the other".into()))
        }
        (Some(id), None) => Some((id.as_str(), false)),
        (None, Some(id)) => Some((id.as_str(), true)),
        (None, None) => None,
    };
    let on = match q.order_on.as_deref() {
        None | Some("created") => SortOn::Created,
        Some("modified") => SortOn::Modified,
        Some("amount") => SortOn::Amount,
        Some("attempt_count") => {
            return Err(ApiError::NotSupported("order_on: payments cannot be ordered by attempt_count".into()))
        }
        Some(other) => return Err(ApiError::InvalidRequest(format!("order_on: unknown `{other}`"))),
    };
    let descending = match q.order_by.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(ApiError::InvalidRequest(format!("order_by: `{other}` is not asc or desc"))),
    };
    let limit = match q.limit.unwrap_or(10) {
        limit @ 1..=100 => limit,
        limit => return Err(ApiError::InvalidRequest(format!("limit: must be 1 to 100, got {limit}"))),
    };
    let texts = |list: Option<Vec<String>>| list.unwrap_or_default();
    let filter = IntentFilter {
        merchant_id: caller.merchant_id.clone(),
        profile_id: match q.profile_id {
            Some(profile_id) => profile_id,
            None => caller.profile_needed()?.to_string(),
        },
        payment_id: q.payment_id,
        customer_id: q.customer_id,
        merchant_reference_id: q.merchant_order_reference_id,
        created: TimeBounds {
            at: q.created,
            before: q.created_lt,
            after: q.created_gt,
            until: q.created_lte,
            since: q.created_gte,
        },
        amount_at_least: q.start_amount,
        amount_at_most: q.end_amount,
        statuses: q.status.unwrap_or_default(),
        currencies: q.currency.unwrap_or_default().iter().map(|c| c.code().to_string()).collect(),
        authentication_types: q.authentication_type.unwrap_or_default().iter().map(|a| a.as_str().into()).collect(),
        connectors: texts(q.connector),
        accounts: texts(q.merchant_connector_id),
        payment_method_types: texts(q.payment_method_type),
        payment_method_subtypes: texts(q.payment_method_subtype),
        order: IntentOrder { on, descending },
        cursor: None,
        limit,
        offset: q.offset.unwrap_or(0),
    };
    let (page, total) = payments::list(&state.core, filter, from).await?;
    let data: Vec<PaymentsListItem> = page.iter().map(PaymentsListItem::of).collect();
    Ok(Json(PaymentListResponse { count: data.len(), total_count: total, data }).into_response())
}

/// `GET /v2/payments/{id}/payment-methods`.
#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodListResponseForPayments<'a> {
    payment_methods_enabled: Vec<ResponsePaymentMethodType>,
    /// The customer's saved methods, when the payment names a customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_payment_methods: Option<Vec<CustomerPaymentMethodResponseItem<'a>>>,
}

/// Payments - Payment Methods List
///
/// What the payer's client may offer for this payment: the ways the profile's connector accounts
/// take (cards, pay by bank, wallets), and the customer's saved cards when the payment names a
/// customer. Only while the payment waits for its payment method.
#[utoipa::path(
    get,
    path = "/v2/payments/{id}/payment-methods",
    tag = "Payments",
    operation_id = "Retrieve Payment methods for a Payment",
    params(PaymentId),
    responses((status = 200, description = "The payment methods", body = PaymentMethodListResponseForPayments)),
    security(("publishable_key__client_secret" = []))
)]
pub async fn payment_methods_for_payment(
    state: Call,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let intent = payments::open(&state.core, &caller.merchant_id, Some(&caller.client_secret), &id).await?;
    payments::require(&intent, Operation::ListPaymentMethods)?;
    let offered =
        payment_methods::offered(&state.core, &intent.merchant_id, &intent.profile_id, Some(intent.amount.currency));
    let saved = match &intent.customer_id {
        Some(customer_id) => Some(payment_methods::for_customer(&state.core, &intent.merchant_id, customer_id).await?),
        None => None,
    };
    let (methods, default) = saved.as_ref().map(|(m, d)| (&m[..], d.as_deref())).unwrap_or((&[], None));
    let (enabled, items) = offer(offered, methods, default);
    Ok(Json(PaymentMethodListResponseForPayments {
        payment_methods_enabled: enabled,
        customer_payment_methods: saved.is_some().then_some(items),
    })
    .into_response())
}

/// Payments - External SDK tokens
///
/// Hyperswitch's session tokens for a payment whose card data an external vault's SDK holds.
/// switchyard keeps cards in its own vault and has no external vault to hand tokens for:
/// answered `IR_20`; wallets' session tokens come from `POST /payments/session_tokens`.
#[utoipa::path(
    post,
    path = "/v2/payments/{payment_id}/create-external-sdk-tokens",
    tag = "Payments",
    operation_id = "Create V2 Session tokens for a Payment",
    params(("payment_id" = String, Path, description = "The payment's id.")),
    request_body(content = PaymentsSessionRequest),
    responses((status = 400, description = "`IR_20`: not supported", body = ErrorResponse)),
    security(("publishable_key__client_secret" = []))
)]
pub async fn external_sdk_tokens(_caller: ClientSecretCaller) -> ApiError {
    ApiError::NotSupported(
        "create-external-sdk-tokens: there is no external vault; use /payments/session_tokens".into(),
    )
}
