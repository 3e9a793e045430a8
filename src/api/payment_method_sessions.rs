//! The payment-method-session endpoints and their wire types (Hyperswitch v2
//! `PaymentMethodSessionRequest`, `PaymentMethodSessionResponse`,
//! `PaymentMethodSessionConfirmRequest`, `PaymentMethodListResponseForSession`). The merchant's
//! server creates and reads a session with its secret key; client-side code confirms, lists and
//! deletes with `Authorization: publishable-key=…,client-secret=…`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::{Caller, ClientSecretCaller};
use super::bounds::{self, URL_MAX};
use super::error::ApiError;
use super::extract::{fields_of, only_fields, part, ApiJson, FromBody};
use super::payment_methods::{
    CardCvcTokenStorage, CardFields, PaymentMethodData, PaymentMethodResponse, PaymentMethodResponseItem,
};
use super::types::time;
use crate::app::AppState;
use crate::ids::MintedId;
use crate::payment_methods::sessions::{self, MethodSession, NewSession, PspTokenization};
use crate::payment_methods::{self, SavedMethod, StorageType};
use crate::payments::model::Address;

/// A session lasts 15 minutes unless the request says otherwise, and at most a day.
const EXPIRES_IN_DEFAULT: u32 = 900;
const EXPIRES_IN_MAX: u32 = 86_400;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/payment-method-sessions", post(create))
        .route("/v2/payment-method-sessions/{id}", get(retrieve).delete(delete))
        .route("/v2/payment-method-sessions/{id}/confirm", post(confirm))
        .route("/v2/payment-method-sessions/{id}/list-payment-methods", get(list_payment_methods))
}

// ---- requests -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentMethodSessionRequest {
    customer_id: MintedId,
    storage_type: StorageType,
    #[serde(default)]
    billing: Option<Address>,
    #[serde(default)]
    return_url: Option<String>,
    #[serde(default)]
    expires_in: Option<u32>,
    #[serde(default)]
    psp_tokenization: Option<PspTokenization>,
    #[serde(default)]
    keep_alive: Option<bool>,
    #[serde(default)]
    network_tokenization: Option<IgnoredAny>,
    #[serde(default)]
    tokenization_data: Option<IgnoredAny>,
}

impl FromBody for NewSession {
    fn from_body(body: &Value) -> Result<Self, ApiError> {
        let req: PaymentMethodSessionRequest = part(body)?;
        bounds::address("billing.", req.billing.as_ref())?;
        bounds::text("", "return_url", req.return_url.as_deref(), URL_MAX)?;
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
        if let Some(url) = req.return_url.as_deref().filter(|u| !u.starts_with("https://") && !u.starts_with("http://"))
        {
            return Err(ApiError::InvalidRequest(format!("return_url: `{url}` is not an http(s) URL")));
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
#[derive(Debug, Deserialize)]
struct ConfirmExtras {
    #[serde(default, rename = "return_url")]
    _return_url: Option<IgnoredAny>,
    #[serde(default, rename = "customer_acceptance")]
    _customer_acceptance: Option<IgnoredAny>,
}

pub(super) struct SessionConfirmRequest(payment_methods::NewCard);

impl FromBody for SessionConfirmRequest {
    fn from_body(body: &Value) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<CardFields>(), fields_of::<ConfirmExtras>()])?;
        let _: ConfirmExtras = part(body)?;
        let card: CardFields = part(body)?;
        Ok(Self(card.into_new_card()?))
    }
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct PaymentMethodToken<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a str,
}

#[derive(Debug, Serialize)]
struct AssociatedPaymentMethod<'a> {
    payment_method_token: PaymentMethodToken<'a>,
}

#[derive(Debug, Serialize)]
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
    fn of(state: &AppState, s: &'a MethodSession, saved: Option<&'a SavedMethod>) -> Self {
        let (card, cvc) = match saved.map(|m| PaymentMethodResponse::of(state, m)) {
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

#[derive(Debug, Serialize)]
struct ResponsePaymentMethodType {
    payment_method_type: String,
    payment_method_subtype: String,
    required_fields: Vec<Value>,
}

#[derive(Debug, Serialize)]
struct PaymentMethodListResponseForSession<'a> {
    payment_methods_enabled: Vec<ResponsePaymentMethodType>,
    customer_payment_methods: Vec<PaymentMethodResponseItem<'a>>,
}

// ---- handlers -------------------------------------------------------------------------------

async fn respond(state: &AppState, session: &MethodSession) -> Result<Response, ApiError> {
    let saved = sessions::saved(state, session).await?;
    Ok(Json(PaymentMethodSessionResponse::of(state, session, saved.as_ref())).into_response())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSession>,
) -> Result<Response, ApiError> {
    let session = sessions::create(&state, &caller, new).await?;
    respond(&state, &session).await
}

async fn retrieve(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let session = sessions::retrieve(&state, &caller, &id).await?;
    respond(&state, &session).await
}

async fn confirm(
    State(state): State<AppState>,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
    ApiJson(SessionConfirmRequest(card)): ApiJson<SessionConfirmRequest>,
) -> Result<Response, ApiError> {
    let (session, method) = sessions::confirm(&state, &caller.merchant_id, &caller.client_secret, &id, card).await?;
    Ok(Json(PaymentMethodSessionResponse::of(&state, &session, Some(&method))).into_response())
}

async fn list_payment_methods(
    State(state): State<AppState>,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = sessions::open(&state, &caller.merchant_id, &caller.client_secret, &id).await?;
    let mut enabled: Vec<(String, String)> = Vec::new();
    if let Some(profile) = state.directory.profile(&session.merchant_id, &session.profile_id) {
        for account in profile.accounts.iter().filter(|a| a.enabled) {
            for pair in state.registry.get(&account.connector).map(|c| c.payment_methods()).unwrap_or_default() {
                if !enabled.contains(&pair) {
                    enabled.push(pair);
                }
            }
        }
    }
    let (saved, default) = payment_methods::for_customer(&state, &session.merchant_id, &session.customer_id).await?;
    Ok(Json(PaymentMethodListResponseForSession {
        payment_methods_enabled: enabled
            .into_iter()
            .map(|(kind, subtype)| ResponsePaymentMethodType {
                payment_method_type: kind,
                payment_method_subtype: subtype,
                required_fields: Vec::new(),
            })
            .collect(),
        customer_payment_methods: PaymentMethodResponseItem::list(&state, &saved, default.as_deref()),
    })
    .into_response())
}

async fn delete(
    State(state): State<AppState>,
    caller: ClientSecretCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sessions::delete(&state, &caller.merchant_id, &caller.client_secret, &id).await?;
    Ok(Json(json!({ "id": id })).into_response())
}
