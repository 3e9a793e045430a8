//! Wallet session tokens: what a checkout page needs before the payer picks a wallet (Google
//! Pay's payment data request, Apple Pay's payment request). They follow Hyperswitch's
//! `SessionToken` shapes, tagged by `wallet_name`, so its client SDKs read them unchanged.
//!
//! Most of a token is the merchant's own wallet setup, kept in the connector account's metadata
//! in Hyperswitch's layout (`google_pay.merchant_info`, `google_pay.allowed_payment_methods`,
//! `apple_pay.payment_request_data`, `country_code`); the connector adds what only it knows, such as
//! its Google Pay gateway parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Account, ConnectorError, ConnectorResult};
use crate::money::{Amount, Currency};

/// What a connector is asked for: one wallet's token for one payment.
#[derive(Debug)]
pub struct SessionTokenRequest<'a> {
    pub payment_id: &'a str,
    pub wallet: &'a str,
    pub amount: Amount,
    pub currency: Currency,
}

/// One wallet's session token, as the response lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "wallet_name", rename_all = "snake_case")]
pub enum SessionToken {
    GooglePay(GooglePaySession),
    ApplePay(ApplePaySession),
    OpenBanking(OpenBankingSession),
    /// No account could give a token for the wallet asked for.
    NoSessionTokenReceived,
}

/// What the client SDK should call once the payer has used the wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SdkNextAction {
    pub next_action: NextActionCall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextActionCall {
    /// Confirm the payment with the wallet's data.
    Confirm,
}

impl SdkNextAction {
    pub const CONFIRM: SdkNextAction = SdkNextAction { next_action: NextActionCall::Confirm };
}

fn confirm() -> SdkNextAction {
    SdkNextAction::CONFIRM
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GpaySessionTokenResponse)]
pub struct GooglePaySession {
    pub merchant_info: GpayMerchantInfo,
    #[serde(default)]
    pub shipping_address_required: bool,
    #[serde(default)]
    pub email_required: bool,
    #[serde(default)]
    pub shipping_address_parameters: GpayShippingAddressParameters,
    pub allowed_payment_methods: Vec<GpayAllowedPaymentMethod>,
    pub transaction_info: GpayTransactionInfo,
    #[serde(default)]
    pub delayed_session_token: bool,
    /// Filled in by the host with the connector's name.
    #[serde(default)]
    pub connector: String,
    #[serde(default = "confirm")]
    pub sdk_next_action: SdkNextAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpayMerchantInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    pub merchant_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpayShippingAddressParameters {
    pub phone_number_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpayAllowedPaymentMethod {
    #[serde(rename = "type")]
    pub kind: String,
    pub parameters: GpayMethodParameters,
    /// Left out in metadata when the connector supplies its own gateway parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenization_specification: Option<GpayTokenizationSpecification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GpayMethodParameters {
    pub allowed_auth_methods: Vec<String>,
    pub allowed_card_networks: Vec<String>,
    /// Google's optional switches (`billing_address_required`, `allow_credit_cards`, …), as given.
    #[serde(flatten)]
    pub options: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpayTokenizationSpecification {
    /// `PAYMENT_GATEWAY` when a processor decrypts the token.
    #[serde(rename = "type")]
    pub kind: String,
    /// `gateway`, `gateway_merchant_id`, `stripe:publishableKey`, …
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpayTransactionInfo {
    pub country_code: String,
    pub currency_code: String,
    pub total_price_status: String,
    /// In major units: "65.40".
    pub total_price: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApplepaySessionTokenResponse)]
pub struct ApplePaySession {
    /// Apple's merchant session, when the connector validated the merchant with Apple already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_data: Option<ApplePayPaymentRequest>,
    #[serde(default)]
    pub connector: String,
    /// The merchant session comes later, from the merchant validation the SDK starts.
    #[serde(default)]
    pub delayed_session_token: bool,
    #[serde(default = "confirm")]
    pub sdk_next_action: SdkNextAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_merchant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplePayPaymentRequest {
    pub country_code: String,
    pub currency_code: String,
    pub total: AmountInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_capabilities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_networks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AmountInfo {
    /// The merchant's name, as the payment sheet shows it.
    pub label: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// In major units: "65.40".
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OpenBankingSessionToken)]
pub struct OpenBankingSession {
    /// Where the payer chooses their bank and approves the payment.
    pub open_banking_session_token: String,
}

/// A wallet set-up an account's metadata lacks or gets wrong: that account gives no token.
pub fn misconfigured(account: &Account, what: String) -> ConnectorError {
    ConnectorError::Refused {
        connector: account.connector.clone(),
        reason: format!("account `{}`: {what}", account.name),
    }
}

/// `metadata.<key>` read as `T`.
fn metadata<T: for<'de> Deserialize<'de>>(account: &Account, key: &str) -> ConnectorResult<T> {
    let value = account.metadata.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| misconfigured(account, format!("metadata.{key}: {e}")))
}

/// The country the merchant sells from, which both wallets' sheets need.
fn country(account: &Account) -> ConnectorResult<String> {
    let country: Option<String> = metadata(account, "country_code")?;
    country
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .ok_or_else(|| misconfigured(account, "metadata.country_code must be a two-letter country code".into()))
}

#[derive(Deserialize)]
struct GooglePayMetadata {
    merchant_info: GpayMerchantInfo,
    #[serde(default)]
    allowed_payment_methods: Option<Vec<GpayAllowedPaymentMethod>>,
}

/// The card networks and authentication methods offered when metadata names none.
fn default_card_method() -> GpayAllowedPaymentMethod {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    GpayAllowedPaymentMethod {
        kind: "CARD".into(),
        parameters: GpayMethodParameters {
            allowed_auth_methods: strings(&["PAN_ONLY", "CRYPTOGRAM_3DS"]),
            allowed_card_networks: strings(&["AMEX", "DISCOVER", "JCB", "MASTERCARD", "VISA"]),
            options: BTreeMap::new(),
        },
        tokenization_specification: None,
    }
}

/// Google Pay's session from the account's `metadata.google_pay`, with `gateway` as the
/// tokenization parameters of every method whose metadata does not give its own.
pub fn google_pay(
    account: &Account,
    req: &SessionTokenRequest<'_>,
    gateway: BTreeMap<String, String>,
) -> ConnectorResult<SessionToken> {
    let Some(setup) = metadata::<Option<GooglePayMetadata>>(account, "google_pay")? else {
        return Err(misconfigured(account, "metadata.google_pay is not set".into()));
    };
    let mut methods = setup.allowed_payment_methods.unwrap_or_else(|| vec![default_card_method()]);
    for method in &mut methods {
        method.tokenization_specification.get_or_insert_with(|| GpayTokenizationSpecification {
            kind: "PAYMENT_GATEWAY".into(),
            parameters: gateway.clone(),
        });
    }
    Ok(SessionToken::GooglePay(GooglePaySession {
        merchant_info: setup.merchant_info,
        shipping_address_required: false,
        email_required: false,
        shipping_address_parameters: GpayShippingAddressParameters::default(),
        allowed_payment_methods: methods,
        transaction_info: GpayTransactionInfo {
            country_code: country(account)?,
            currency_code: req.currency.code().to_string(),
            total_price_status: "FINAL".into(),
            total_price: req.currency.decimal(req.amount.minor()),
        },
        delayed_session_token: false,
        connector: account.connector.clone(),
        sdk_next_action: SdkNextAction::CONFIRM,
    }))
}

#[derive(Deserialize)]
struct ApplePayMetadata {
    payment_request_data: ApplePayRequestMetadata,
}

/// The merchant's part of an Apple Pay payment request; the amount comes from the payment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplePayRequestMetadata {
    /// The name on the payment sheet.
    label: String,
    #[serde(default)]
    merchant_identifier: Option<String>,
    #[serde(default)]
    supported_networks: Option<Vec<String>>,
    #[serde(default)]
    merchant_capabilities: Option<Vec<String>>,
}

/// Apple Pay's payment request from `metadata.apple_pay.payment_request_data`. Apple's merchant
/// session needs a call to Apple with the merchant's certificate, which the SDK starts once the
/// payer taps the button, so the token is delayed.
pub fn apple_pay(account: &Account, req: &SessionTokenRequest<'_>) -> ConnectorResult<SessionToken> {
    let Some(setup) = metadata::<Option<ApplePayMetadata>>(account, "apple_pay")? else {
        return Err(misconfigured(account, "metadata.apple_pay is not set".into()));
    };
    let request = setup.payment_request_data;
    Ok(SessionToken::ApplePay(ApplePaySession {
        session_token_data: None,
        payment_request_data: Some(ApplePayPaymentRequest {
            country_code: country(account)?,
            currency_code: req.currency.code().to_string(),
            total: AmountInfo {
                label: request.label,
                kind: Some("final".into()),
                amount: req.currency.decimal(req.amount.minor()),
            },
            merchant_capabilities: Some(request.merchant_capabilities.unwrap_or_else(|| vec!["supports3DS".into()])),
            supported_networks: Some(
                request
                    .supported_networks
                    .unwrap_or_else(|| ["visa", "masterCard", "amex", "discover"].map(String::from).to_vec()),
            ),
            merchant_identifier: request.merchant_identifier,
        }),
        connector: account.connector.clone(),
        delayed_session_token: true,
        sdk_next_action: SdkNextAction::CONFIRM,
        connector_merchant_id: None,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn account(metadata: Value) -> Account {
        Account {
            profile: "test".into(),
            name: "stripe_eu".into(),
            connector: "stripe".into(),
            enabled: true,
            base_url: None,
            credentials: BTreeMap::new(),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            health: Arc::default(),
            meters: Arc::default(),
        }
    }

    fn request() -> SessionTokenRequest<'static> {
        SessionTokenRequest {
            payment_id: "sy_pay_1",
            wallet: "google_pay",
            amount: Amount::new(6540).unwrap(),
            currency: Currency::parse("EUR").unwrap(),
        }
    }

    #[test]
    fn tokens_serialize_with_their_wallet_name() {
        let none = serde_json::to_value(SessionToken::NoSessionTokenReceived).unwrap();
        assert_eq!(none, json!({"wallet_name": "no_session_token_received"}));
        let open = SessionToken::OpenBanking(OpenBankingSession { open_banking_session_token: "https://x".into() });
        assert_eq!(
            serde_json::to_value(open).unwrap(),
            json!({"wallet_name": "open_banking", "open_banking_session_token": "https://x"})
        );
    }

    #[test]
    fn google_pay_fills_the_gateway_only_where_metadata_gives_none() {
        let own = json!({"type": "PAYMENT_GATEWAY", "parameters": {"gateway": "own"}});
        let account = account(json!({
            "country_code": "FR",
            "google_pay": {
                "merchant_info": {"merchant_name": "Shop"},
                "allowed_payment_methods": [
                    {"type": "CARD", "parameters": {"allowed_auth_methods": ["PAN_ONLY"], "allowed_card_networks": ["VISA"], "billing_address_required": true}},
                    {"type": "CARD", "parameters": {"allowed_auth_methods": ["PAN_ONLY"], "allowed_card_networks": ["AMEX"]}, "tokenization_specification": own},
                ]
            }
        }));
        let gateway = BTreeMap::from([("gateway".to_string(), "stripe".to_string())]);
        let token = serde_json::to_value(google_pay(&account, &request(), gateway).unwrap()).unwrap();
        assert_eq!(token["wallet_name"], "google_pay");
        assert_eq!(token["connector"], "stripe");
        assert_eq!(
            token["transaction_info"],
            json!({"country_code": "FR", "currency_code": "EUR", "total_price_status": "FINAL", "total_price": "65.40"})
        );
        let methods = token["allowed_payment_methods"].as_array().unwrap();
        assert_eq!(methods[0]["tokenization_specification"]["parameters"]["gateway"], "stripe");
        assert_eq!(methods[0]["parameters"]["billing_address_required"], true);
        assert_eq!(methods[1]["tokenization_specification"]["parameters"]["gateway"], "own");
        assert_eq!(token["sdk_next_action"], json!({"next_action": "confirm"}));
    }

    #[test]
    fn a_wallet_without_its_metadata_gives_no_token() {
        let bare = account(json!({"country_code": "FR"}));
        assert!(matches!(google_pay(&bare, &request(), BTreeMap::new()), Err(ConnectorError::Refused { .. })));
        assert!(matches!(apple_pay(&bare, &request()), Err(ConnectorError::Refused { .. })));
        let no_country = account(json!({"apple_pay": {"payment_request_data": {"label": "Shop"}}}));
        let err = apple_pay(&no_country, &request()).unwrap_err().to_string();
        assert!(err.contains("country_code"), "{err}");
    }

    #[test]
    fn apple_pay_takes_the_amount_from_the_payment_and_the_rest_from_metadata() {
        let account = account(json!({
            "country_code": "US",
            "apple_pay": {"payment_request_data": {"label": "Shop", "merchant_identifier": "merchant.com.shop"}}
        }));
        let token = serde_json::to_value(apple_pay(&account, &request()).unwrap()).unwrap();
        assert_eq!(token["delayed_session_token"], true);
        assert_eq!(
            token["payment_request_data"]["total"],
            json!({"label": "Shop", "type": "final", "amount": "65.40"})
        );
        assert_eq!(token["payment_request_data"]["merchant_identifier"], "merchant.com.shop");
        assert!(token.get("session_token_data").is_none());
    }
}
