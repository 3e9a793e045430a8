//! The payment-method-session endpoints and their wire types (Hyperswitch v2
//! `PaymentMethodSessionRequest`, `PaymentMethodSessionResponse`,
//! `PaymentMethodSessionConfirmRequest`, `PaymentMethodListResponseForSession`). The merchant's
//! server creates and reads a session with its secret key; client-side code confirms, lists and
//! deletes with `Authorization: publishable-key=…,client-secret=…`.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use super::answer::Json;
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::ClientSecretCaller;
use super::bounds;
use super::error::{ApiError, ErrorResponse};
use super::extract::{fields_of, only_fields, part, ApiJson, FromBody};
use super::payment_methods::{
    offer, CardCvcTokenStorage, CardFields, CustomerPaymentMethodResponseItem, PaymentMethodData,
    PaymentMethodResponse, PaymentMethodUpdateFields, ResponsePaymentMethodType,
};
use super::strict::Tree;
use super::types::time;
use crate::api::state::{AppState, Call};
use crate::domain::payment::Address;
use crate::domain::payment_method::{MethodSession, PspTokenization, StorageType};
use crate::ids::MintedId;
use crate::payment_methods;
use crate::payment_methods::sessions;
use crate::payment_methods::sessions::NewSession;
use crate::payment_methods::{CardChange, Shown};
use crate::payments::Scope;

/// A session lasts 15 minutes unless the request says otherwise, and at most a day.
const EXPIRES_IN_DEFAULT: u32 = 900;
const EXPIRES_IN_MAX: u32 = 86_400;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, retrieve, delete, confirm, list_payment_methods, update_saved))]
pub(super) struct Doc;

/// `id`, a payment method session's id, in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct SessionPathId {
    /// The session's id.
    #[allow(dead_code)]
    id: String,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/payment-method-sessions", post(create))
        .route("/v2/payment-method-sessions/{id}", get(retrieve).delete(delete))
        .route("/v2/payment-method-sessions/{id}/confirm", post(confirm))
        .route("/v2/payment-method-sessions/{id}/list-payment-methods", get(list_payment_methods))
        .route("/v2/payment-method-sessions/{id}/update-saved-payment-method", put(update_saved))
}

// ---- requests -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentMethodSessionRequest {
    #[schema(inline)]
    customer_id: MintedId,
    storage_type: StorageType,
    #[serde(default)]
    billing: Option<Address>,
    /// An http(s) URL.
    #[serde(default)]
    #[schema(pattern = "^https?://")]
    return_url: Option<String>,
    /// Seconds the session lasts: 900 unless given, at most a day.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    expires_in: Option<u32>,
    #[serde(default)]
    psp_tokenization: Option<PspTokenization>,
    #[serde(default)]
    keep_alive: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::refused)]
    network_tokenization: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::refused)]
    tokenization_data: Option<IgnoredAny>,
}

impl FromBody for NewSession {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: PaymentMethodSessionRequest = part(body)?;
        bounds::address("billing.", req.billing.as_ref())?;
        bounds::url("", "return_url", req.return_url.as_deref())?;
        for (field, given) in [
            ("network_tokenization", req.network_tokenization.is_some()),
            ("tokenization_data", req.tokenization_data.is_some()),
        ] {
            if given {
                return Err(ApiError::NotSupported(format!("{field}: not supported by this switch")));
            }
        }
        let expires_in = req.expires_in.unwrap_or(EXPIRES_IN_DEFAULT);
        if !(1..=EXPIRES_IN_MAX).contains(&expires_in) {
            return Err(ApiError::InvalidRequest(format!(
                "expires_in: must be 1 to {EXPIRES_IN_MAX} seconds, got {expires_in}"
            )));
        }
        Ok(NewSession {
            customer_id: req.customer_id.into_string(),
            billing: req.billing,
            return_url: req.return_url,
            expires_in_secs: expires_in,
            storage_type: req.storage_type,
            psp_tokenization: req.psp_tokenization,
            keep_alive: req.keep_alive.unwrap_or(false),
        })
    }
}

/// What `PaymentMethodSessionConfirmRequest` adds to the card fields.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PaymentMethodSessionConfirmExtras)]
struct ConfirmExtras {
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "return_url")]
    _return_url: Option<IgnoredAny>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "customer_acceptance")]
    _customer_acceptance: Option<IgnoredAny>,
}

pub(super) struct SessionConfirmRequest(payment_methods::NewCard);

super::openapi::flat_request!(
    SessionConfirmRequest as "PaymentMethodSessionConfirmRequest",
    "The card to save for the session's customer.",
    [CardFields, ConfirmExtras]
);

impl FromBody for SessionConfirmRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CardFields>(), fields_of::<ConfirmExtras>()])?;
        let _: ConfirmExtras = part(body)?;
        let card: CardFields = part(body)?;
        Ok(Self(card.into_new_card()?))
    }
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodToken<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a str,
}

#[derive(Debug, Serialize, ToSchema)]
struct AssociatedPaymentMethod<'a> {
    payment_method_token: PaymentMethodToken<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodSessionResponse<'a> {
    id: &'a str,
    customer_id: &'a str,
    billing: Option<&'a Address>,
    psp_tokenization: Option<&'a PspTokenization>,
    network_tokenization: Option<Value>,
    tokenization_data: Option<Value>,
    #[serde(serialize_with = "time")]
    expires_at: DateTime<Utc>,
    client_secret: &'a str,
    return_url: Option<&'a str>,
    next_action: Option<Value>,
    authentication_details: Option<Value>,
    associated_payment_methods: Option<Vec<AssociatedPaymentMethod<'a>>>,
    associated_token_id: Option<&'a str>,
    storage_type: StorageType,
    card_cvc_token_storage: Option<CardCvcTokenStorage>,
    payment_method_data: Option<PaymentMethodData<'a>>,
    keep_alive: bool,
}

impl<'a> PaymentMethodSessionResponse<'a> {
    fn of(s: &'a MethodSession, saved: Option<&'a Shown>) -> Self {
        let (card, cvc) = match saved.map(PaymentMethodResponse::of) {
            Some(m) => (m.payment_method_data, m.card_cvc_token_storage),
            None => (None, None),
        };
        let associated: Vec<AssociatedPaymentMethod> = s
            .payment_method_ids
            .iter()
            .map(|id| AssociatedPaymentMethod {
                payment_method_token: PaymentMethodToken { kind: "payment_method_session_token", data: id },
            })
            .collect();
        Self {
            id: &s.id,
            customer_id: &s.customer_id,
            billing: s.billing.as_ref(),
            psp_tokenization: s.psp_tokenization.as_ref(),
            network_tokenization: None,
            tokenization_data: None,
            expires_at: s.expires_at,
            client_secret: &s.client_secret,
            return_url: s.return_url.as_deref(),
            next_action: None,
            authentication_details: None,
            associated_payment_methods: (!associated.is_empty()).then_some(associated),
            associated_token_id: None,
            storage_type: s.storage_type,
            card_cvc_token_storage: cvc,
            payment_method_data: card,
            keep_alive: s.keep_alive,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodListResponseForSession<'a> {
    payment_methods_enabled: Vec<ResponsePaymentMethodType>,
    customer_payment_methods: Vec<CustomerPaymentMethodResponseItem<'a>>,
}

// ---- handlers -------------------------------------------------------------------------------

async fn respond(state: &Call, session: &MethodSession) -> Result<Response, ApiError> {
    let saved = sessions::saved(&state.core, session).await?;
    Ok(Json(PaymentMethodSessionResponse::of(session, saved.as_ref())).into_response())
}

/// Payment Method Session - Create
///
/// A session in which client-side code saves a card for a customer.
#[utoipa::path(
    post,
    path = "/v2/payment-method-sessions",
    tag = "Payment Method Session",
    operation_id = "Create a payment method session",
    request_body(content = PaymentMethodSessionRequest, example = json!({
        "customer_id": "sy_cus_0196b3f0c7d07a41b5c1e2f3a4b5c6d7", "storage_type": "volatile",
        "return_url": "https://shop.example/saved", "expires_in": 600
    })),
    responses((status = 200, description = "The session, with its client secret", body = PaymentMethodSessionResponse)),
    security(("api_key" = []))
)]
async fn create(state: Call, caller: Scope, ApiJson(new): ApiJson<NewSession>) -> Result<Response, ApiError> {
    let session = sessions::create(&state.core, &caller, new).await?;
    respond(&state, &session).await
}

/// Payment Method Session - Retrieve
#[utoipa::path(
    get,
    path = "/v2/payment-method-sessions/{id}",
    tag = "Payment Method Session",
    operation_id = "Retrieve the payment method session",
    params(SessionPathId),
    responses((status = 200, description = "The session", body = PaymentMethodSessionResponse)),
    security(("api_key" = []))
)]
async fn retrieve(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let session = sessions::retrieve(&state.core, &caller, &id).await?;
    respond(&state, &session).await
}

/// Payment Method Session - Confirm
///
/// Saves a card for the session's customer, and tokenizes it at the session's PSP if it names one.
#[utoipa::path(
    post,
    path = "/v2/payment-method-sessions/{id}/confirm",
    tag = "Payment Method Session",
    operation_id = "Confirm the payment method session",
    params(SessionPathId),
    request_body(content = SessionConfirmRequest, example = json!({
        "payment_method_data": { "card": {
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "2035",
            "card_holder_name": "John Doe", "card_cvc": "123", "nick_name": "Work card"
        } },
        "payment_method_type": "card", "payment_method_subtype": "credit"
    })),
    responses(
        (status = 200, description = "The session, with the card saved", body = PaymentMethodSessionResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached; `HE_00` the security code store did not answer: a volatile method's code could not be kept, and nothing was saved", body = ErrorResponse),
    ),
    security(("publishable_key__client_secret" = []))
)]
async fn confirm(
    state: Call,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
    ApiJson(SessionConfirmRequest(card)): ApiJson<SessionConfirmRequest>,
) -> Result<Response, ApiError> {
    let (session, method) =
        sessions::confirm(&state.core, &caller.merchant_id, &caller.client_secret, &id, card).await?;
    Ok(Json(PaymentMethodSessionResponse::of(&session, Some(&method))).into_response())
}

/// Payment Method Session - List Payment Methods
///
/// The payment methods the session's profile takes, and the customer's saved ones.
#[utoipa::path(
    get,
    path = "/v2/payment-method-sessions/{id}/list-payment-methods",
    tag = "Payment Method Session",
    operation_id = "List Payment methods for a Payment Method Session",
    params(SessionPathId),
    responses((status = 200, description = "The payment methods", body = PaymentMethodListResponseForSession)),
    security(("publishable_key__client_secret" = []))
)]
async fn list_payment_methods(
    state: Call,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = sessions::open(&state.core, &caller.merchant_id, &caller.client_secret, &id).await?;
    // A session saves cards only.
    let mut offered = payment_methods::offered(&state.core, &session.merchant_id, &session.profile_id, None);
    offered.retain(|way| way.payment_method_type == "card");
    let (saved, default) =
        payment_methods::for_customer(&state.core, &session.merchant_id, &session.customer_id).await?;
    let (enabled, saved) = offer(offered, &saved, default.as_deref());
    Ok(Json(PaymentMethodListResponseForSession { payment_methods_enabled: enabled, customer_payment_methods: saved })
        .into_response())
}

/// Names a saved method of the session's customer.
#[derive(Debug, Deserialize, ToSchema)]
struct TokenField {
    /// A token the session handed out (the method's id).
    #[serde(default)]
    payment_method_token: Option<String>,
}

pub(super) struct SessionUpdateRequest {
    token: Option<String>,
    change: CardChange,
}

super::openapi::flat_request!(
    SessionUpdateRequest as "PaymentMethodSessionUpdateSavedPaymentMethod",
    "What changes in a saved card of the session's customer; the card the session saved unless the token names another.",
    [PaymentMethodUpdateFields, TokenField]
);

impl FromBody for SessionUpdateRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<PaymentMethodUpdateFields>(), fields_of::<TokenField>()])?;
        let TokenField { payment_method_token: token } = part(body)?;
        let change = part::<PaymentMethodUpdateFields>(body)?.into_change()?;
        Ok(Self { token, change })
    }
}

/// Payment Method Session - Update a saved payment method
///
/// Changes a saved card of the session's customer: the one the token names, or the one the
/// session saved.
#[utoipa::path(
    put,
    path = "/v2/payment-method-sessions/{id}/update-saved-payment-method",
    tag = "Payment Method Session",
    operation_id = "Update a saved payment method",
    params(SessionPathId),
    request_body(content = SessionUpdateRequest, example = json!({
        "payment_method_data": { "card": { "card_holder_name": "Jo Doe", "card_cvc": "456" } },
        "payment_method_token": "sy_pm_0196b3f0c7d07a41b5c1e2f3a4b5c6d7"
    })),
    responses(
        (status = 200, description = "The session, with the card as it now is", body = PaymentMethodSessionResponse),
        (status = 503, description = "`HE_00` the security code store did not answer: a volatile method's code could not be kept, and nothing changed", body = ErrorResponse),
    ),
    security(("publishable_key__client_secret" = []))
)]
async fn update_saved(
    state: Call,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SessionUpdateRequest>,
) -> Result<Response, ApiError> {
    let (session, method) = sessions::update_saved(
        &state.core,
        &caller.merchant_id,
        &caller.client_secret,
        &id,
        req.token.as_deref(),
        req.change,
    )
    .await?;
    Ok(Json(PaymentMethodSessionResponse::of(&session, Some(&method))).into_response())
}

/// Hyperswitch's `PaymentMethodSessionDeleteSavedPaymentMethod`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentMethodSessionDeleteSavedPaymentMethod {
    /// A token the session handed out (the method's id).
    payment_method_token: String,
}

impl FromBody for PaymentMethodSessionDeleteSavedPaymentMethod {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        part(body)
    }
}

/// Hyperswitch's `PaymentMethodDeleteSessionResponse`.
#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodDeleteSessionResponse {
    payment_method_token: String,
}

/// Payment Method Session - Delete a saved payment method
///
/// Deletes a saved method of the session's customer, named by its token, with its sealed card;
/// the session stays.
#[utoipa::path(
    delete,
    path = "/v2/payment-method-sessions/{id}",
    tag = "Payment Method Session",
    operation_id = "Delete a saved payment method",
    params(SessionPathId),
    request_body(content = PaymentMethodSessionDeleteSavedPaymentMethod, example = json!({
        "payment_method_token": "sy_pm_0196b3f0c7d07a41b5c1e2f3a4b5c6d7"
    })),
    responses((status = 200, description = "Deleted", body = PaymentMethodDeleteSessionResponse)),
    security(("publishable_key__client_secret" = []))
)]
async fn delete(
    state: Call,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PaymentMethodSessionDeleteSavedPaymentMethod>,
) -> Result<Response, ApiError> {
    let token = req.payment_method_token;
    sessions::delete_saved(&state.core, &caller.merchant_id, &caller.client_secret, &id, &token).await?;
    Ok(Json(PaymentMethodDeleteSessionResponse { payment_method_token: token }).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_are_documented_as_decoded() {
        crate::api::openapi::assert_flat::<super::SessionConfirmRequest>();
        crate::api::openapi::assert_flat::<super::SessionUpdateRequest>();
        crate::api::openapi::assert_flat::<crate::api::payment_methods::PaymentMethodUpdate>();
    }
}
