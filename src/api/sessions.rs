//! `POST /payments/session_tokens`: wallet session tokens for client-side code, authenticated by
//! the merchant's publishable key and the payment's client secret. Wire types are Hyperswitch's
//! `PaymentsSessionRequest` and `PaymentsSessionResponse`.

use axum::routing::post;
use axum::Router;

use super::answer::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::ClientCaller;
use super::error::ApiError;
use super::extract::{part, ApiJson, FromBody};
use super::strict::Tree;
use crate::api::state::{AppState, Call};
use crate::connectors::session::SessionToken;
use crate::payments::sessions::{self, ConnectorOverride, SessionTokensRequest};
use crate::secret::Secret;

/// Hyperswitch's `PaymentMethodType`: the names a client may ask tokens for. Most have no
/// session token anywhere and answer `no_session_token_received`.
const PAYMENT_METHOD_TYPES: &[&str] = &[
    "ach",
    "affirm",
    "afterpay_clearpay",
    "alfamart",
    "ali_pay",
    "ali_pay_hk",
    "alma",
    "amazon_pay",
    "paysera",
    "apple_pay",
    "atome",
    "bacs",
    "bancontact_card",
    "becs",
    "benefit",
    "bizum",
    "blik",
    "bluecode",
    "boleto",
    "bca_bank_transfer",
    "bni_va",
    "breadpay",
    "bri_va",
    "bhn_card_network",
    "card_redirect",
    "cimb_va",
    "classic",
    "credit",
    "crypto_currency",
    "cashapp",
    "dana",
    "danamon_va",
    "debit",
    "duit_now",
    "efecty",
    "eft",
    "eft_debit_order",
    "eps",
    "flexiti",
    "fps",
    "evoucher",
    "giropay",
    "givex",
    "google_pay",
    "go_pay",
    "gcash",
    "ideal",
    "interac",
    "indomaret",
    "klarna",
    "kakao_pay",
    "local_bank_redirect",
    "mandiri_va",
    "knet",
    "mb_way",
    "mobile_pay",
    "momo",
    "momo_atm",
    "multibanco",
    "online_banking_thailand",
    "online_banking_czech_republic",
    "online_banking_finland",
    "online_banking_fpx",
    "online_banking_poland",
    "online_banking_slovakia",
    "oxxo",
    "pago_efectivo",
    "permata_bank_transfer",
    "open_banking_uk",
    "pay_bright",
    "payjustnow",
    "paypal",
    "paze",
    "pix",
    "pix_key",
    "pix_emv",
    "pix_qr",
    "pix_automatico_qr",
    "pix_automatico_push",
    "pay_safe_card",
    "przelewy24",
    "prompt_pay",
    "pse",
    "qris",
    "red_compra",
    "red_pagos",
    "samsung_pay",
    "sepa",
    "sepa_bank_transfer",
    "sepa_guarenteed_debit",
    "skrill",
    "sofort",
    "swish",
    "touch_n_go",
    "trustly",
    "twint",
    "upi_collect",
    "upi_intent",
    "upi_qr",
    "vipps",
    "viet_qr",
    "venmo",
    "walley",
    "we_chat_pay",
    "seven_eleven",
    "lawson",
    "mini_stop",
    "family_mart",
    "seicomart",
    "pay_easy",
    "local_bank_transfer",
    "mifinity",
    "open_banking_pis",
    "direct_carrier_billing",
    "instant_bank_transfer",
    "instant_bank_transfer_finland",
    "instant_bank_transfer_poland",
    "revolut_pay",
    "indonesian_bank_transfer",
    "open_banking",
    "network_token",
];

#[derive(utoipa::OpenApi)]
#[openapi(paths(session_tokens))]
pub(super) struct Doc;

/// At least one of Hyperswitch's payment method types.
fn wallets_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::schema::string_enum("A payment method type.", PAYMENT_METHOD_TYPES))
        .min_items(Some(1))
        .into()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/payments/session_tokens", post(session_tokens))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentsSessionRequest {
    payment_id: String,
    /// The payment's client secret: left out, the call is refused (`IR_08`).
    #[serde(default)]
    #[schema(required = true, value_type = String)]
    client_secret: Option<String>,
    #[schema(schema_with = wallets_schema)]
    wallets: Vec<String>,
    #[serde(default)]
    merchant_connector_details: Option<MerchantConnectorDetailsWrap>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantConnectorDetailsWrap {
    /// Names the credentials for the caller's own bookkeeping: required, checked, not used.
    #[serde(rename = "creds_identifier")]
    _creds_identifier: String,
    #[serde(default)]
    encoded_data: Option<MerchantConnectorDetails>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantConnectorDetails {
    /// Credentials, each a string.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    connector_account_details: Option<Map<String, Value>>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

impl FromBody for SessionTokensRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let req: PaymentsSessionRequest = part(body)?;
        if req.wallets.is_empty() {
            return Err(ApiError::InvalidRequest("wallets: name at least one wallet".into()));
        }
        let mut wallets: Vec<String> = Vec::with_capacity(req.wallets.len());
        for (i, wallet) in req.wallets.into_iter().enumerate() {
            if !PAYMENT_METHOD_TYPES.contains(&wallet.as_str()) {
                return Err(ApiError::InvalidRequest(format!("wallets[{i}]: unknown payment method type `{wallet}`")));
            }
            if !wallets.contains(&wallet) {
                wallets.push(wallet);
            }
        }
        let details = req.merchant_connector_details.and_then(|d| d.encoded_data);
        let connector_override = details.map(|d| -> Result<ConnectorOverride, ApiError> {
            let mut credentials = std::collections::BTreeMap::new();
            for (name, value) in d.connector_account_details.unwrap_or_default() {
                let Value::String(value) = value else {
                    return Err(ApiError::InvalidRequest(format!(
                        "merchant_connector_details.encoded_data.connector_account_details.{name}: must be a string"
                    )));
                };
                credentials.insert(name, Secret::new(value));
            }
            Ok(ConnectorOverride { credentials, metadata: d.metadata.unwrap_or_default() })
        });
        Ok(SessionTokensRequest {
            payment_id: req.payment_id,
            client_secret: req.client_secret,
            wallets,
            connector_override: connector_override.transpose()?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct PaymentsSessionResponse {
    payment_id: String,
    client_secret: String,
    session_token: Vec<SessionToken>,
}

/// Payments - Session token
///
/// Wallet session tokens for a payment, for client-side code: the body names the payment and
/// its client secret.
#[utoipa::path(
    post,
    path = "/payments/session_tokens",
    tag = "Payments",
    operation_id = "Create Session tokens for a Payment",
    request_body(content = PaymentsSessionRequest, example = json!({
        "payment_id": "sy_pay_0196b3f0c7d07a41b5c1e2f3a4b5c6d7",
        "client_secret": "cs_0f1e2d3c4b5a69788796a5b4c3d2e1f0", "wallets": ["google_pay", "apple_pay"]
    })),
    responses((status = 200, description = "A token for each wallet asked for", body = PaymentsSessionResponse)),
    security(("publishable_key" = []))
)]
async fn session_tokens(
    state: Call,
    caller: ClientCaller,
    ApiJson(req): ApiJson<SessionTokensRequest>,
) -> Result<Json<PaymentsSessionResponse>, ApiError> {
    let (intent, tokens) = sessions::session_tokens(&state.core, &caller.merchant_id, &req).await?;
    Ok(Json(PaymentsSessionResponse {
        payment_id: intent.id,
        client_secret: intent.client_secret,
        session_token: tokens,
    }))
}
