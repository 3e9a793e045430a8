//! The payment-methods endpoints and their wire types (Hyperswitch v2 `PaymentMethodIntentCreate`,
//! `PaymentMethodIntentConfirm`, `PaymentMethodCreate`, `PaymentMethodResponse`,
//! `CustomerPaymentMethodsListResponse`, `PaymentMethodDeleteResponse`). Responses show a card's
//! network, last four digits and expiry; never its number, never its code.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use super::answer::Json;
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::bounds::{self, TEXT_MAX};
use super::error::{ApiError, ErrorResponse};
use super::extract::{fields_of, only_fields, part, ApiJson, FromBody};
use super::strict::Tree;
use super::types::time;
use crate::api::state::{AppState, Call};
use crate::card::{CardNetwork, CardNumber, Cvc, Expiry, ExpiryMonth, ExpiryYear};
use crate::domain::payment::{Address, CountryCode};
use crate::domain::payment_method::{SavedMethod, StorageType};
use crate::ids::MintedId;
use crate::payment_methods;
use crate::payment_methods::{CardChange, CodeState, MethodOwner, NewCard, Shown};
use crate::payments::Scope;
use crate::vault::VaultCard;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, create_intent, confirm_intent, retrieve, update, delete, token_details, saved))]
pub(super) struct Doc;

/// `id`, a saved payment method's id, in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct PaymentMethodPathId {
    /// The payment method's id.
    #[allow(dead_code)]
    id: String,
}

/// `id`, a customer's id, in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct CustomerPathId {
    /// The customer's id.
    #[allow(dead_code)]
    id: String,
}

/// A card's subtype: `credit` unless given.
pub(super) fn card_subtype() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::schema::nullable_string_enum("`credit` unless given.", &["credit", "debit"])
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/payment-methods", post(create))
        .route("/v2/payment-methods/create-intent", post(create_intent))
        .route("/v2/payment-methods/{id}/confirm-intent", post(confirm_intent))
        .route("/v2/payment-methods/{id}", get(retrieve).delete(delete))
        .route("/v2/payment-methods/{id}/update-saved-payment-method", put(update))
        .route("/v2/payment-methods/token/{payment_method_temporary_token}/details", get(token_details))
        .route("/v2/customers/{id}/saved-payment-methods", get(saved))
}

// ---- requests -------------------------------------------------------------------------------

/// `POST /v2/payment-methods/create-intent`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentMethodIntentCreate {
    #[schema(inline)]
    customer_id: MintedId,
    #[serde(default)]
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    billing: Option<Address>,
}

impl FromBody for PaymentMethodIntentCreate {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: Self = part(body)?;
        bounds::metadata(req.metadata.as_ref())?;
        bounds::address("billing.", req.billing.as_ref())?;
        Ok(req)
    }
}

/// A card handed over to be saved (Hyperswitch's `CardDetail`); the code is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardDetail {
    card_number: CardNumber,
    card_exp_month: ExpiryMonth,
    card_exp_year: ExpiryYear,
    card_holder_name: String,
    #[serde(default)]
    card_cvc: Option<Cvc>,
    #[serde(default)]
    card_issuing_country: Option<CountryCode>,
    #[serde(default)]
    #[schema(max_length = 64)]
    nick_name: Option<String>,
    // Derived from the number instead.
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_network")]
    _card_network: Option<IgnoredAny>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_issuer")]
    _card_issuer: Option<IgnoredAny>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_type")]
    _card_type: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentMethodCreateData)]
struct PaymentMethodCreateData {
    card: CardDetail,
}

#[derive(Debug, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
/// Only cards can be saved.
enum PaymentMethodKind {
    Card,
}

/// The card fields confirm-intent, create and a session's confirm share.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct CardFields {
    payment_method_data: PaymentMethodCreateData,
    #[serde(rename = "payment_method_type")]
    _payment_method_type: PaymentMethodKind,
    #[serde(default)]
    #[schema(schema_with = card_subtype)]
    payment_method_subtype: Option<String>,
}

impl CardFields {
    pub(super) fn into_new_card(self) -> Result<NewCard, ApiError> {
        let subtype = self.payment_method_subtype.unwrap_or_else(|| "credit".into());
        if !matches!(subtype.as_str(), "credit" | "debit") {
            return Err(ApiError::InvalidRequest(format!(
                "payment_method_subtype: `{subtype}` is not a card subtype (credit or debit)"
            )));
        }
        let card = self.payment_method_data.card;
        bounds::text("payment_method_data.card.", "card_holder_name", Some(&card.card_holder_name), TEXT_MAX)?;
        let holder = card.card_holder_name.trim();
        if let Some(name) = card.nick_name.as_ref().filter(|n| n.chars().count() > 64) {
            return Err(ApiError::InvalidRequest(format!(
                "payment_method_data.card.nick_name: at most 64 characters, got {}",
                name.chars().count()
            )));
        }
        Ok(NewCard {
            card: VaultCard {
                number: card.card_number,
                expiry: Expiry { month: card.card_exp_month, year: card.card_exp_year },
                holder_name: (!holder.is_empty()).then(|| holder.to_string()),
            },
            cvc: card.card_cvc,
            subtype,
            issuer_country: card.card_issuing_country.map(|c| c.as_str().to_string()),
            nick_name: card.nick_name,
        })
    }
}

/// What may change in a saved card (Hyperswitch's `CardDetailUpdate`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CardDetailUpdate {
    card_holder_name: String,
    #[serde(default)]
    #[schema(max_length = 64)]
    nick_name: Option<String>,
    /// Kept by a volatile method, as when it was saved; a persistent one refuses it.
    #[serde(default)]
    card_cvc: Option<Cvc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentMethodUpdateData {
    card: CardDetailUpdate,
}

/// The fields of Hyperswitch's `PaymentMethodUpdate`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct PaymentMethodUpdateFields {
    #[serde(default)]
    payment_method_data: Option<PaymentMethodUpdateData>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::refused)]
    connector_token_details: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::refused)]
    network_transaction_id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(schema_with = super::openapi::refused)]
    acknowledgement_status: Option<IgnoredAny>,
}

impl PaymentMethodUpdateFields {
    pub(super) fn into_change(self) -> Result<CardChange, ApiError> {
        for (field, given) in [
            ("connector_token_details", self.connector_token_details.is_some()),
            ("network_transaction_id", self.network_transaction_id.is_some()),
            ("acknowledgement_status", self.acknowledgement_status.is_some()),
        ] {
            if given {
                return Err(ApiError::NotSupported(format!("{field}: not supported by this switch")));
            }
        }
        let card = self.payment_method_data.ok_or_else(|| ApiError::MissingField("payment_method_data".into()))?.card;
        bounds::text("payment_method_data.card.", "card_holder_name", Some(&card.card_holder_name), TEXT_MAX)?;
        bounds::text("payment_method_data.card.", "nick_name", card.nick_name.as_deref(), 64)?;
        let holder = card.card_holder_name.trim();
        Ok(CardChange {
            holder_name: (!holder.is_empty()).then(|| holder.to_string()),
            nick_name: card.nick_name,
            cvc: card.card_cvc,
        })
    }
}

/// `PUT /v2/payment-methods/{id}/update-saved-payment-method`.
pub(super) struct PaymentMethodUpdate(CardChange);

super::openapi::flat_request!(
    PaymentMethodUpdate as "PaymentMethodUpdate",
    "What changes in a saved card.",
    [PaymentMethodUpdateFields]
);

impl FromBody for PaymentMethodUpdate {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<PaymentMethodUpdateFields>()])?;
        Ok(Self(part::<PaymentMethodUpdateFields>(body)?.into_change()?))
    }
}

/// `POST /v2/payment-methods/{id}/confirm-intent`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentMethodIntentConfirm {
    #[serde(default)]
    customer_id: Option<String>,
    payment_method_data: PaymentMethodCreateData,
    payment_method_type: PaymentMethodKind,
    #[serde(default)]
    #[schema(schema_with = card_subtype)]
    payment_method_subtype: Option<String>,
}

pub(super) struct ConfirmRequest {
    customer_id: Option<String>,
    card: NewCard,
}

impl FromBody for ConfirmRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: PaymentMethodIntentConfirm = part(body)?;
        let card = CardFields {
            payment_method_data: req.payment_method_data,
            _payment_method_type: req.payment_method_type,
            payment_method_subtype: req.payment_method_subtype,
        };
        Ok(Self { customer_id: req.customer_id, card: card.into_new_card()? })
    }
}

/// `POST /v2/payment-methods`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentMethodCreate {
    #[schema(inline)]
    customer_id: MintedId,
    payment_method_type: PaymentMethodKind,
    #[serde(default)]
    #[schema(schema_with = card_subtype)]
    payment_method_subtype: Option<String>,
    payment_method_data: PaymentMethodCreateData,
    storage_type: StorageType,
    #[serde(default)]
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    billing: Option<Address>,
}

pub(super) struct CreateRequest {
    owner: MethodOwner,
    card: NewCard,
    storage_type: StorageType,
}

impl FromBody for CreateRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: PaymentMethodCreate = part(body)?;
        bounds::metadata(req.metadata.as_ref())?;
        bounds::address("billing.", req.billing.as_ref())?;
        let card = CardFields {
            payment_method_data: req.payment_method_data,
            _payment_method_type: req.payment_method_type,
            payment_method_subtype: req.payment_method_subtype,
        };
        Ok(Self {
            owner: MethodOwner {
                customer_id: req.customer_id.into_string(),
                billing: req.billing,
                metadata: req.metadata,
            },
            card: card.into_new_card()?,
            storage_type: req.storage_type,
        })
    }
}

// ---- responses ------------------------------------------------------------------------------

fn optional_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// Hyperswitch's `CardDetailFromLocker`.
#[derive(Debug, Serialize, ToSchema)]
struct CardDetailFromLocker<'a> {
    issuer_country: Option<&'a str>,
    last4_digits: &'a str,
    expiry_month: &'a str,
    expiry_year: &'a str,
    card_holder_name: Option<&'a str>,
    card_fingerprint: Option<&'a str>,
    nick_name: Option<&'a str>,
    card_network: Option<CardNetwork>,
    card_isin: &'a str,
    card_issuer: Option<&'a str>,
    card_type: Option<&'a str>,
    saved_to_locker: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentMethodResponseData)]
pub(super) struct PaymentMethodData<'a> {
    card: CardDetailFromLocker<'a>,
}

impl<'a> PaymentMethodData<'a> {
    fn of(m: &'a SavedMethod) -> Option<Self> {
        m.card.as_ref().map(|c| PaymentMethodData {
            card: CardDetailFromLocker {
                issuer_country: c.issuer_country.as_deref(),
                last4_digits: &c.summary.last4,
                expiry_month: &c.summary.card_exp_month,
                expiry_year: &c.summary.card_exp_year,
                card_holder_name: c.summary.card_holder_name.as_deref(),
                card_fingerprint: None,
                nick_name: c.nick_name.as_deref(),
                card_network: c.summary.card_network,
                card_isin: &c.summary.card_isin,
                card_issuer: None,
                card_type: m.payment_method_subtype.as_deref(),
                saved_to_locker: true,
            },
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct ConnectorTokenDetails<'a> {
    token: &'a str,
    connector_token_request_reference_id: Option<&'a str>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CardCVCTokenStorageDetails)]
pub(super) struct CardCvcTokenStorage {
    is_stored: bool,
    #[serde(serialize_with = "optional_time")]
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodResponse<'a> {
    id: &'a str,
    merchant_id: &'a str,
    customer_id: &'a str,
    payment_method_type: &'a str,
    payment_method_subtype: Option<&'a str>,
    recurring_enabled: bool,
    #[serde(serialize_with = "time")]
    created: DateTime<Utc>,
    #[serde(serialize_with = "time")]
    last_used_at: DateTime<Utc>,
    pub(super) payment_method_data: Option<PaymentMethodData<'a>>,
    connector_tokens: Option<Vec<ConnectorTokenDetails<'a>>>,
    network_token: Option<Value>,
    storage_type: StorageType,
    pub(super) card_cvc_token_storage: Option<CardCvcTokenStorage>,
    /// Always null, as Hyperswitch answers a method saved without an off-session payment: the
    /// network gives this id only to such a payment, which switchyard does not make.
    network_transaction_id: Option<&'a str>,
    /// Always null, as Hyperswitch answers unless asked to read the vault: its card carries the
    /// number, and a card goes in, only what may be shown of it comes out.
    raw_payment_method_data: Option<Value>,
    billing: Option<&'a Address>,
}

impl<'a> PaymentMethodResponse<'a> {
    pub fn of(shown: &'a Shown) -> Self {
        let m = &shown.method;
        let card = PaymentMethodData::of(m);
        // Whether a volatile method holds a code, when that can be told.
        let cvc = match shown.code {
            CodeState::NotKept | CodeState::Unknown => None,
            CodeState::Held(until) => Some(CardCvcTokenStorage { is_stored: true, expires_at: Some(until) }),
            CodeState::Gone => Some(CardCvcTokenStorage { is_stored: false, expires_at: None }),
        };
        let tokens = m
            .connector_tokens
            .iter()
            .map(|t| ConnectorTokenDetails { token: &t.token.token, connector_token_request_reference_id: None })
            .collect::<Vec<_>>();
        Self {
            id: &m.id,
            merchant_id: &m.merchant_id,
            customer_id: &m.customer_id,
            // A method not confirmed yet can only become a card: confirm-intent takes cards.
            payment_method_type: m.payment_method_type.as_deref().unwrap_or("card"),
            payment_method_subtype: m.payment_method_subtype.as_deref(),
            recurring_enabled: card.is_some(),
            created: m.created_at,
            // As Hyperswitch keeps it: a method is last used when it is saved, until it pays.
            last_used_at: m.last_used_at.unwrap_or(m.created_at),
            payment_method_data: card,
            connector_tokens: (!tokens.is_empty()).then_some(tokens),
            network_token: None,
            storage_type: m.storage_type,
            card_cvc_token_storage: cvc,
            network_transaction_id: None,
            raw_payment_method_data: None,
            billing: m.billing.as_ref(),
        }
    }
}

/// One saved method in a customer's list (Hyperswitch's `PaymentMethodResponseItem`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PaymentMethodResponseItem<'a> {
    #[serde(flatten)]
    method: PaymentMethodResponse<'a>,
    requires_cvv: bool,
    is_default: bool,
}

impl<'a> PaymentMethodResponseItem<'a> {
    /// `default` is the customer's default method.
    pub(super) fn of(shown: &'a Shown, default: Option<&str>) -> Self {
        // A saved card is charged with the code a volatile method still holds, or without.
        Self {
            requires_cvv: false,
            is_default: default == Some(shown.method.id.as_str()),
            method: PaymentMethodResponse::of(shown),
        }
    }

    /// A customer's saved methods, as their list shows them.
    pub(super) fn list(methods: &'a [Shown], default: Option<&str>) -> Vec<Self> {
        methods.iter().map(|m| Self::of(m, default)).collect()
    }
}

/// One of a customer's saved methods as a payer's client is offered it (Hyperswitch's
/// `CustomerPaymentMethodResponseItem`). Its token is the method's id, which a payment names as
/// `payment_method_id`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CustomerPaymentMethodResponseItem<'a> {
    payment_method_token: &'a str,
    customer_id: &'a str,
    payment_method_type: &'a str,
    payment_method_subtype: &'a str,
    recurring_enabled: bool,
    payment_method_data: Option<PaymentMethodData<'a>>,
    bank: Option<Value>,
    #[serde(serialize_with = "time")]
    created: DateTime<Utc>,
    requires_cvv: bool,
    /// When it was made, until it is first used.
    #[serde(serialize_with = "time")]
    last_used_at: DateTime<Utc>,
    is_default: bool,
    billing: Option<&'a Address>,
}

/// A way to pay that a profile's accounts take (Hyperswitch's `ResponsePaymentMethodTypes`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResponsePaymentMethodTypes)]
pub(super) struct ResponsePaymentMethodType {
    payment_method_type: String,
    payment_method_subtype: String,
    required_fields: Vec<Value>,
    /// For a card: the networks taken, each with the connectors that take it.
    #[serde(skip_serializing_if = "Option::is_none")]
    card_networks: Option<Vec<CardNetworkTypes>>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CardNetworkTypes {
    card_network: CardNetwork,
    eligible_connectors: Vec<String>,
}

/// What a payer's client may offer: the ways the profile's accounts take, and the customer's
/// saved methods (only cards are saved; each is listed once it has its card).
pub(super) fn offer<'a>(
    offered: Vec<payment_methods::Offered>,
    saved: &'a [SavedMethod],
    default: Option<&str>,
) -> (Vec<ResponsePaymentMethodType>, Vec<CustomerPaymentMethodResponseItem<'a>>) {
    let enabled = offered
        .into_iter()
        .map(|way| ResponsePaymentMethodType {
            // A connector takes a card of every network it is recognised as.
            card_networks: (way.payment_method_type == "card").then(|| {
                CardNetwork::ALL
                    .iter()
                    .map(|&card_network| CardNetworkTypes { card_network, eligible_connectors: way.connectors.clone() })
                    .collect()
            }),
            payment_method_type: way.payment_method_type,
            payment_method_subtype: way.payment_method_subtype,
            required_fields: Vec::new(),
        })
        .collect();
    let items = saved
        .iter()
        .filter_map(|m| {
            Some(CustomerPaymentMethodResponseItem {
                payment_method_token: &m.id,
                customer_id: &m.customer_id,
                payment_method_type: m.payment_method_type.as_deref()?,
                payment_method_subtype: m.payment_method_subtype.as_deref()?,
                recurring_enabled: true,
                payment_method_data: PaymentMethodData::of(m),
                bank: None,
                created: m.created_at,
                // A saved card is charged with the code a volatile method still holds, or without.
                requires_cvv: false,
                last_used_at: m.last_used_at.unwrap_or(m.created_at),
                is_default: default == Some(m.id.as_str()),
                billing: m.billing.as_ref(),
            })
        })
        .collect();
    (enabled, items)
}

/// What a delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PaymentMethodDeleteResponse {
    pub(super) id: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct CustomerPaymentMethodsListResponse<'a> {
    customer_payment_methods: Vec<PaymentMethodResponseItem<'a>>,
}

// ---- handlers -------------------------------------------------------------------------------

/// Payment Method - Create Intent
///
/// A payment method for a customer, without its card yet: confirm-intent gives the card.
#[utoipa::path(
    post,
    path = "/v2/payment-methods/create-intent",
    tag = "Payment Methods",
    operation_id = "Create Payment Method Intent",
    request_body(content = PaymentMethodIntentCreate, example = json!({
        "customer_id": "sy_cus_0196b3f0c7d07a41b5c1e2f3a4b5c6d7", "metadata": {}
    })),
    responses((status = 200, description = "The payment method", body = PaymentMethodResponse)),
    security(("api_key" = []))
)]
async fn create_intent(
    state: Call,
    caller: Scope,
    ApiJson(req): ApiJson<PaymentMethodIntentCreate>,
) -> Result<Response, ApiError> {
    let owner =
        MethodOwner { customer_id: req.customer_id.into_string(), billing: req.billing, metadata: req.metadata };
    let method = payment_methods::create_intent(&state.core, &caller.merchant_id, owner).await?;
    Ok(Json(PaymentMethodResponse::of(&method)).into_response())
}

/// Payment Method - Confirm Intent
///
/// Gives a payment method made with create-intent its card.
#[utoipa::path(
    post,
    path = "/v2/payment-methods/{id}/confirm-intent",
    tag = "Payment Methods",
    operation_id = "Confirm Payment Method Intent",
    params(PaymentMethodPathId),
    request_body(content = PaymentMethodIntentConfirm, example = json!({
        "payment_method_data": { "card": {
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "2035",
            "card_holder_name": "John Doe", "card_cvc": "123", "nick_name": "Work card"
        } },
        "payment_method_type": "card", "payment_method_subtype": "credit"
    })),
    responses((status = 200, description = "The payment method", body = PaymentMethodResponse)),
    security(("api_key" = []))
)]
async fn confirm_intent(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let method =
        payment_methods::confirm_intent(&state.core, &caller.merchant_id, &id, req.customer_id.as_deref(), req.card)
            .await?;
    Ok(Json(PaymentMethodResponse::of(&method)).into_response())
}

/// Payment Method - Create
///
/// Saves a card for a customer, in one call.
#[utoipa::path(
    post,
    path = "/v2/payment-methods",
    tag = "Payment Methods",
    operation_id = "Create Payment Method",
    request_body(content = PaymentMethodCreate, example = json!({
        "customer_id": "sy_cus_0196b3f0c7d07a41b5c1e2f3a4b5c6d7", "payment_method_type": "card",
        "payment_method_data": { "card": {
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "2035",
            "card_holder_name": "John Doe", "card_cvc": "123", "nick_name": "Work card"
        } }, "storage_type": "persistent"
    })),
    responses(
        (status = 200, description = "The payment method", body = PaymentMethodResponse),
        (status = 503, description = "`HE_00` the security code store did not answer: a volatile method's code could not be kept, and nothing was saved", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
async fn create(state: Call, caller: Scope, ApiJson(req): ApiJson<CreateRequest>) -> Result<Response, ApiError> {
    let method =
        payment_methods::create(&state.core, &caller.merchant_id, req.owner, req.card, req.storage_type, None).await?;
    Ok(Json(PaymentMethodResponse::of(&method)).into_response())
}

/// Payment Method - Retrieve
#[utoipa::path(
    get,
    path = "/v2/payment-methods/{id}",
    tag = "Payment Methods",
    operation_id = "Retrieve Payment Method",
    params(PaymentMethodPathId),
    responses((status = 200, description = "The payment method", body = PaymentMethodResponse)),
    security(("api_key" = []))
)]
async fn retrieve(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let method = payment_methods::retrieve(&state.core, &caller.merchant_id, &id).await?;
    let method = payment_methods::show(&state.core, method).await;
    Ok(Json(PaymentMethodResponse::of(&method)).into_response())
}

/// Payment Method - Update
///
/// Changes a saved card: its holder's name (sealed with it again), and its nick name and, for a
/// volatile method, its security code when given.
#[utoipa::path(
    put,
    path = "/v2/payment-methods/{id}/update-saved-payment-method",
    tag = "Payment Methods",
    operation_id = "Update Payment Method",
    params(PaymentMethodPathId),
    request_body(content = PaymentMethodUpdate, example = json!({
        "payment_method_data": { "card": { "card_holder_name": "Jo Doe", "nick_name": "Work card" } }
    })),
    responses(
        (status = 200, description = "The payment method", body = PaymentMethodResponse),
        (status = 503, description = "`HE_00` the security code store did not answer: a volatile method's code could not be kept, and nothing was saved", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
async fn update(
    state: Call,
    caller: Scope,
    Path(id): Path<String>,
    ApiJson(PaymentMethodUpdate(change)): ApiJson<PaymentMethodUpdate>,
) -> Result<Response, ApiError> {
    let method = payment_methods::update_card(&state.core, &caller.merchant_id, &id, None, change).await?;
    Ok(Json(PaymentMethodResponse::of(&method)).into_response())
}

/// Hyperswitch's `PaymentMethodGetTokenDetailsResponse`.
#[derive(Debug, Serialize, ToSchema)]
struct PaymentMethodGetTokenDetailsResponse {
    id: String,
    payment_method_token: String,
}

/// Payment Method - Get Payment Method Token Data
///
/// The payment method a token names. The tokens switchyard hands out (a payment-method session's,
/// a payment's list of the customer's saved methods) are the methods' ids.
#[utoipa::path(
    get,
    path = "/v2/payment-methods/token/{payment_method_temporary_token}/details",
    tag = "Payment Methods",
    operation_id = "Get Payment Method Token Data",
    params(("payment_method_temporary_token" = String, Path, description = "The token.")),
    responses((status = 200, description = "The method it names", body = PaymentMethodGetTokenDetailsResponse)),
    security(("api_key" = []))
)]
async fn token_details(state: Call, caller: Scope, Path(token): Path<String>) -> Result<Response, ApiError> {
    let method = payment_methods::retrieve(&state.core, &caller.merchant_id, &token).await?;
    Ok(Json(PaymentMethodGetTokenDetailsResponse { id: method.id, payment_method_token: token }).into_response())
}

/// Payment Method - Delete
#[utoipa::path(
    delete,
    path = "/v2/payment-methods/{id}",
    tag = "Payment Methods",
    operation_id = "Delete Payment Method",
    params(PaymentMethodPathId),
    responses((status = 200, description = "Deleted", body = PaymentMethodDeleteResponse)),
    security(("api_key" = []))
)]
async fn delete(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    payment_methods::delete(&state.core, &caller.merchant_id, &id).await?;
    Ok(Json(PaymentMethodDeleteResponse { id }).into_response())
}

/// Payment Method - List Customer Saved Payment Methods
#[utoipa::path(
    get,
    path = "/v2/customers/{id}/saved-payment-methods",
    tag = "Payment Methods",
    operation_id = "List Customer Saved Payment Methods",
    params(CustomerPathId),
    responses((status = 200, description = "The customer's saved payment methods", body = CustomerPaymentMethodsListResponse)),
    security(("api_key" = []))
)]
async fn saved(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (methods, default) = payment_methods::for_customer(&state.core, &caller.merchant_id, &id).await?;
    let methods = payment_methods::shown(&state.core, methods).await;
    let items = PaymentMethodResponseItem::list(&methods, default.as_deref());
    Ok(Json(CustomerPaymentMethodsListResponse { customer_payment_methods: items }).into_response())
}
