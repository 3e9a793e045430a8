//! The wire shapes of the payments and refunds API, as Hyperswitch's v2 OpenAPI document names
//! them (`PaymentsRequest`, `PaymentsResponse`, `PaymentsIntentResponse`, `RefundResponse`, …),
//! and their conversions to and from the payment model.
//!
//! Create-intent, confirm-intent and create-and-confirm share groups of fields (`IntentFields`,
//! `MethodFields`, `IntentDetails`); each request is decoded from those parts (`FromBody`).

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::bounds::{self, TEXT_MAX};
use super::error::ApiError;
use super::extract::{fields_of, only_fields, part, FromBody};
use super::strict::Tree;
use crate::card::{CardNetwork, CardNumber, CardSummary, Cvc, Expiry, ExpiryMonth, ExpiryYear};
use crate::domain::decision::Decision;
use crate::domain::payment::Payment;
use crate::domain::payment::{
    Address, AmountDetails, CalculationOverride, CountryCode, IntentDetails, NextAction, PaymentAttempt, PaymentError,
    PaymentIntent, PaymentLink, Refund,
};
use crate::domain::payment_method::{CardDetails, PaymentMethod};
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, IntentStatus, RefundStatus};
use crate::events::Renderers;
use crate::ids::{CustomerId, MerchantReferenceId, RefundReferenceId};
use crate::money::{Amount, Currency};
use crate::payments::refunds::NewRefund;
use crate::payments::{AmountChange, Confirmation, IntentChange, NewIntent};

/// Times go out to the millisecond, as the store keeps them, so an answer and every later read
/// of the same object agree.
pub(crate) fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`, as RFC 3339 with milliseconds has it, written in place: an
    // answer carries several, and chrono's writer goes through a string and its formatter.
    // Years of other widths, and leap seconds, are rare enough to take chrono's way.
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        return s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let millis = t.nanosecond() / 1_000_000;
    for (at, width, n) in [
        (0, 4, year as u32),
        (5, 2, t.month()),
        (8, 2, t.day()),
        (11, 2, t.hour()),
        (14, 2, t.minute()),
        (17, 2, t.second()),
        (20, 3, millis),
    ] {
        let mut n = n;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    s.serialize_str(std::str::from_utf8(&text).expect("ASCII digits"))
}

// ---- requests -------------------------------------------------------------------------------

/// The fields that define an intent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IntentFields {
    pub amount_details: AmountDetails,
    #[serde(default)]
    #[schema(inline)]
    pub merchant_reference_id: Option<MerchantReferenceId>,
    #[serde(default)]
    pub capture_method: Option<CaptureMethod>,
    #[serde(default)]
    pub authentication_type: Option<AuthenticationType>,
    #[serde(default)]
    #[schema(inline)]
    pub customer_id: Option<CustomerId>,
    /// Seconds the intent may wait to be confirmed: the profile's own unless given.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u32)]
    pub session_expiry: Option<u32>,
    /// `Enable`: the intent has a hosted page to pay on (`GET /v2/payments/{id}/payment-link`).
    #[serde(default)]
    pub payment_link_enabled: Option<PaymentLink>,
}

impl IntentFields {
    fn into_new_intent(self, mut details: IntentDetails) -> Result<NewIntent, ApiError> {
        self.amount_details.check_net().map_err(ApiError::InvalidRequest)?;
        details.payment_link_enabled = self.payment_link_enabled;
        Ok(NewIntent {
            amount: self.amount_details,
            merchant_reference_id: self.merchant_reference_id.map(MerchantReferenceId::into_string),
            capture_method: self.capture_method.unwrap_or(CaptureMethod::Automatic),
            authentication_type: self.authentication_type.unwrap_or(AuthenticationType::NoThreeDs),
            customer_id: self.customer_id.map(CustomerId::into_string),
            session_expiry_secs: self.session_expiry,
            details,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PaymentMethod)]
pub enum PaymentMethodType {
    Card,
    OpenBanking,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Card)]
pub struct CardRequest {
    pub card_number: CardNumber,
    pub card_exp_month: ExpiryMonth,
    pub card_exp_year: ExpiryYear,
    pub card_holder_name: String,
    pub card_cvc: Cvc,
    // Documented fields the network and issuer are derived from the number instead of.
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_issuer")]
    _card_issuer: Option<IgnoredAny>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_network")]
    _card_network: Option<IgnoredAny>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_type")]
    _card_type: Option<IgnoredAny>,
    /// Passed on to routing scripts as `card.issuing_country`.
    #[serde(default)]
    pub card_issuing_country: Option<CountryCode>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "card_issuing_country_code")]
    _card_issuing_country_code: Option<IgnoredAny>,
    /// Accepted and ignored: derived from the card number.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "bank_code")]
    _bank_code: Option<IgnoredAny>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "nick_name")]
    _nick_name: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentMethodData)]
pub struct PaymentMethodDataRequest {
    #[serde(default)]
    pub card: Option<CardRequest>,
    /// `{"open_banking_pis": {}}`: the payer picks their bank on the provider's page.
    #[serde(default)]
    pub open_banking: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub billing: Option<Address>,
}

/// The fields that say how the customer pays: with the method's data, or with a saved method.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MethodFields {
    #[serde(default)]
    pub payment_method_data: Option<PaymentMethodDataRequest>,
    pub payment_method_type: PaymentMethodType,
    #[serde(default)]
    pub payment_method_subtype: Option<String>,
    #[serde(default)]
    pub payment_method_id: Option<String>,
}

/// How a payment is to be paid, as the request says it.
#[derive(Debug)]
pub enum MethodChoice {
    Given(Confirmation),
    /// A saved payment method, whose card the vault holds.
    Saved {
        payment_method_id: String,
        billing: Option<Address>,
        return_url: Option<String>,
    },
}

impl MethodFields {
    /// The text a method brings: the card holder's name and the billing address.
    fn check_bounds(&self) -> Result<(), ApiError> {
        let Some(data) = &self.payment_method_data else { return Ok(()) };
        let holder = data.card.as_ref().map(|c| c.card_holder_name.as_str());
        bounds::text("payment_method_data.card.", "card_holder_name", holder, TEXT_MAX)?;
        bounds::address("payment_method_data.billing.", data.billing.as_ref())
    }

    fn into_choice(self, return_url: Option<String>) -> Result<MethodChoice, ApiError> {
        let Some(payment_method_id) = self.payment_method_id else {
            return self.into_confirmation(return_url).map(MethodChoice::Given);
        };
        if self.payment_method_type != PaymentMethodType::Card {
            return Err(ApiError::InvalidRequest("payment_method_id: only saved cards can be paid with".into()));
        }
        let data = self.payment_method_data;
        if data.as_ref().is_some_and(|d| d.card.is_some() || d.open_banking.is_some()) {
            return Err(ApiError::InvalidRequest(
                "payment_method_data: give the method's data or a payment_method_id, not both".into(),
            ));
        }
        Ok(MethodChoice::Saved { payment_method_id, billing: data.and_then(|d| d.billing), return_url })
    }

    fn into_confirmation(self, return_url: Option<String>) -> Result<Confirmation, ApiError> {
        let data = self.payment_method_data.ok_or_else(|| ApiError::MissingField("payment_method_data".into()))?;
        let subtype = self.payment_method_subtype;
        let (payment_method, kind) = match self.payment_method_type {
            PaymentMethodType::Card => {
                let card = data.card.ok_or_else(|| ApiError::MissingField("payment_method_data.card".into()))?;
                if let Some(subtype) = subtype.as_deref().filter(|s| !matches!(*s, "credit" | "debit")) {
                    return Err(ApiError::InvalidRequest(format!(
                        "payment_method_subtype: `{subtype}` is not a card subtype (credit or debit)"
                    )));
                }
                let holder = card.card_holder_name.trim();
                let details = CardDetails {
                    number: card.card_number,
                    cvc: Some(card.card_cvc),
                    expiry: Expiry { month: card.card_exp_month, year: card.card_exp_year },
                    holder_name: (!holder.is_empty()).then(|| holder.to_string()),
                    issuing_country: card.card_issuing_country.map(|c| c.as_str().to_string()),
                    connector_tokens: Default::default(),
                };
                (PaymentMethod::Card(details), "card")
            }
            PaymentMethodType::OpenBanking => {
                let method = data
                    .open_banking
                    .ok_or_else(|| ApiError::MissingField("payment_method_data.open_banking".into()))?;
                if !method.contains_key("open_banking_pis") || method.len() != 1 {
                    return Err(ApiError::InvalidRequest(
                        "payment_method_data.open_banking: must be {\"open_banking_pis\": {}}".into(),
                    ));
                }
                if subtype.as_deref().is_some_and(|s| s != "open_banking_pis") {
                    return Err(ApiError::InvalidRequest(
                        "payment_method_subtype: open banking takes `open_banking_pis`".into(),
                    ));
                }
                (PaymentMethod::OpenBanking, "open_banking")
            }
        };
        let subtype = match &payment_method {
            PaymentMethod::OpenBanking => Some("open_banking_pis".to_string()),
            PaymentMethod::Card(_) => subtype,
        };
        Ok(Confirmation {
            payment_method,
            payment_method_type: kind.into(),
            payment_method_subtype: subtype,
            billing: data.billing,
            return_url,
            kept_code: None,
        })
    }
}

/// `POST /v2/payments`: create and confirm.
#[derive(Debug)]
pub struct PaymentsRequest {
    pub intent: IntentFields,
    pub method: MethodFields,
    pub details: IntentDetails,
}

impl FromBody for PaymentsRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<IntentFields>(), fields_of::<MethodFields>(), fields_of::<IntentDetails>()])?;
        let request = Self { intent: part(body)?, method: part(body)?, details: part(body)? };
        bounds::intent_details(&request.details)?;
        request.method.check_bounds()?;
        Ok(request)
    }
}

super::openapi::flat_request!(
    PaymentsRequest as "PaymentsRequest",
    "Create and confirm a payment: the intent's fields and how the customer pays.",
    [IntentFields, MethodFields, IntentDetails]
);

impl PaymentsRequest {
    pub fn into_parts(self) -> Result<(NewIntent, MethodChoice), ApiError> {
        let choice = self.method.into_choice(self.details.return_url.clone())?;
        Ok((self.intent.into_new_intent(self.details)?, choice))
    }
}

/// `POST /v2/payments/create-intent`.
#[derive(Debug)]
pub struct CreateIntentRequest {
    pub intent: IntentFields,
    pub details: IntentDetails,
}

impl FromBody for CreateIntentRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<IntentFields>(), fields_of::<IntentDetails>()])?;
        let request = Self { intent: part(body)?, details: part(body)? };
        bounds::intent_details(&request.details)?;
        Ok(request)
    }
}

super::openapi::flat_request!(
    CreateIntentRequest as "PaymentsCreateIntentRequest",
    "Create a payment intent, to be confirmed later.",
    [IntentFields, IntentDetails]
);

impl CreateIntentRequest {
    pub fn into_new_intent(self) -> Result<NewIntent, ApiError> {
        self.intent.into_new_intent(self.details)
    }
}

/// The amounts an update gives (Hyperswitch's `AmountDetailsUpdate`); those left out stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountDetailsUpdate {
    #[serde(default)]
    order_amount: Option<Amount>,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default)]
    shipping_cost: Option<crate::money::MinorUnit>,
    #[serde(default)]
    order_tax_amount: Option<crate::money::MinorUnit>,
    #[serde(default)]
    skip_external_tax_calculation: Option<CalculationOverride>,
    #[serde(default)]
    skip_surcharge_calculation: Option<CalculationOverride>,
    #[serde(default)]
    surcharge_amount: Option<crate::money::MinorUnit>,
    #[serde(default)]
    tax_on_surcharge: Option<crate::money::MinorUnit>,
}

/// The fields of an intent an update may change, beside its details.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IntentUpdateFields {
    #[serde(default)]
    amount_details: Option<AmountDetailsUpdate>,
    #[serde(default)]
    capture_method: Option<CaptureMethod>,
    #[serde(default)]
    authentication_type: Option<AuthenticationType>,
    /// Seconds from the intent's creation it may wait to be confirmed.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u32)]
    session_expiry: Option<u32>,
}

/// `PUT /v2/payments/{id}/update-intent`.
#[derive(Debug)]
pub struct UpdateIntentRequest {
    fields: IntentUpdateFields,
    details: IntentDetails,
}

impl FromBody for UpdateIntentRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<IntentUpdateFields>(), fields_of::<IntentDetails>()])?;
        // Stored with the details, but whether an intent has a link is settled when it is made.
        if body.get("payment_link_enabled").is_some() {
            return Err(ApiError::Undecodable("payment_link_enabled: unknown field".into()));
        }
        let request = Self { fields: part(body)?, details: part(body)? };
        bounds::intent_details(&request.details)?;
        Ok(request)
    }
}

super::openapi::flat_request!(
    UpdateIntentRequest as "PaymentsUpdateIntentRequest",
    "Change an intent that waits for its payment method: the fields given replace the intent's.",
    [IntentUpdateFields, IntentDetails],
    except ["payment_link_enabled"]
);

impl UpdateIntentRequest {
    pub fn into_change(self) -> IntentChange {
        let amount = self.fields.amount_details.map(|a| AmountChange {
            order_amount: a.order_amount,
            currency: a.currency,
            shipping_cost: a.shipping_cost,
            order_tax_amount: a.order_tax_amount,
            surcharge_amount: a.surcharge_amount,
            tax_on_surcharge: a.tax_on_surcharge,
            external_tax_calculation: a.skip_external_tax_calculation,
            surcharge_calculation: a.skip_surcharge_calculation,
        });
        IntentChange {
            amount: amount.unwrap_or_default(),
            capture_method: self.fields.capture_method,
            authentication_type: self.fields.authentication_type,
            session_expiry_secs: self.fields.session_expiry,
            details: self.details,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmExtras {
    #[serde(default)]
    pub return_url: Option<String>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "browser_info")]
    _browser_info: Option<IgnoredAny>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "customer_acceptance")]
    _customer_acceptance: Option<IgnoredAny>,
}

/// `POST /v2/payments/{id}/confirm-intent`.
#[derive(Debug)]
pub struct ConfirmIntentRequest {
    pub method: MethodFields,
    pub extras: ConfirmExtras,
}

impl FromBody for ConfirmIntentRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        only_fields(body, &[fields_of::<MethodFields>(), fields_of::<ConfirmExtras>()])?;
        let request = Self { method: part(body)?, extras: part(body)? };
        request.method.check_bounds()?;
        bounds::url("", "return_url", request.extras.return_url.as_deref())?;
        Ok(request)
    }
}

super::openapi::flat_request!(
    ConfirmIntentRequest as "PaymentsConfirmIntentRequest",
    "Confirm a payment intent with how the customer pays.",
    [MethodFields, ConfirmExtras]
);

impl ConfirmIntentRequest {
    pub fn into_choice(self) -> Result<MethodChoice, ApiError> {
        self.method.into_choice(self.extras.return_url)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentsCaptureRequest {
    #[serde(default)]
    pub amount_to_capture: Option<Amount>,
    #[serde(default, rename = "return_raw_connector_response")]
    _return_raw_connector_response: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentsCancelRequest)]
pub struct CancelRequest {
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default, rename = "return_raw_connector_response")]
    _return_raw_connector_response: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundsCreateRequest {
    pub payment_id: String,
    #[schema(inline)]
    pub merchant_reference_id: RefundReferenceId,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub amount: Option<Amount>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    #[serde(default, rename = "refund_type")]
    _refund_type: Option<IgnoredAny>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "return_raw_connector_response")]
    _return_raw_connector_response: Option<bool>,
}

impl RefundsCreateRequest {
    pub fn into_new_refund(self, merchant_id: &str) -> Result<NewRefund, ApiError> {
        if self.merchant_id.as_deref().is_some_and(|m| m != merchant_id) {
            return Err(ApiError::InvalidRequest("merchant_id: does not match the API key's merchant".into()));
        }
        bounds::text("", "reason", self.reason.as_deref(), TEXT_MAX)?;
        bounds::metadata(self.metadata.as_ref())?;
        Ok(NewRefund {
            payment_id: self.payment_id,
            merchant_reference_id: self.merchant_reference_id.into_string(),
            amount: self.amount,
            reason: self.reason,
            metadata: self.metadata,
        })
    }
}

/// Requests that are one struct, which refuses unknown fields itself.
macro_rules! whole_body {
    ($($t:ty),+) => {$(
        impl FromBody for $t {
            fn from_body(body: &Tree) -> Result<Self, ApiError> {
                part(body)
            }
        }
    )+};
}
whole_body!(RefundsCreateRequest);

/// A body that may be left out: a JSON `null` is left out too, as the document's optional
/// request body has it.
fn optional<'t, 'b>(body: &'t Tree<'b>) -> Cow<'t, Tree<'b>> {
    match body {
        Tree::Null => Cow::Owned(Tree::empty()),
        body => Cow::Borrowed(body),
    }
}

impl FromBody for PaymentsCaptureRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        part(&optional(body))
    }
}

impl FromBody for CancelRequest {
    fn from_body(body: &Tree) -> Result<Self, ApiError> {
        let request: Self = part(&optional(body))?;
        bounds::text("", "cancellation_reason", request.cancellation_reason.as_deref(), TEXT_MAX)?;
        Ok(request)
    }
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentAmountDetailsResponse)]
pub struct AmountResponse {
    pub order_amount: Amount,
    pub currency: Currency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_cost: Option<crate::money::MinorUnit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_tax_amount: Option<crate::money::MinorUnit>,
    pub external_tax_calculation: CalculationOverride,
    pub surcharge_calculation: CalculationOverride,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surcharge_amount: Option<crate::money::MinorUnit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_on_surcharge: Option<crate::money::MinorUnit>,
    pub net_amount: i64,
    pub amount_capturable: i64,
    pub amount_captured: i64,
}

impl AmountResponse {
    fn of(intent: &PaymentIntent) -> Self {
        let a = &intent.amount;
        Self {
            order_amount: a.order_amount,
            currency: a.currency,
            shipping_cost: a.shipping_cost,
            order_tax_amount: a.order_tax_amount,
            external_tax_calculation: a.external_tax_calculation,
            surcharge_calculation: a.surcharge_calculation,
            surcharge_amount: a.surcharge_amount,
            tax_on_surcharge: a.tax_on_surcharge,
            net_amount: a.net_amount(),
            amount_capturable: intent.amount_capturable(),
            amount_captured: intent.amount_captured,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardResponse<'a> {
    pub last4: &'a str,
    pub card_network: Option<CardNetwork>,
    pub card_isin: &'a str,
    pub card_exp_month: &'a str,
    pub card_exp_year: &'a str,
    pub card_holder_name: Option<&'a str>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentMethodDataResponseWithBilling)]
pub struct PaymentMethodDataResponse<'a> {
    pub card: CardResponse<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<&'a Address>,
}

impl<'a> PaymentMethodDataResponse<'a> {
    fn of(attempt: &'a PaymentAttempt) -> Option<Self> {
        let card: &CardSummary = attempt.card.as_ref()?;
        Some(Self {
            card: CardResponse {
                last4: &card.last4,
                card_network: card.card_network,
                card_isin: &card.card_isin,
                card_exp_month: &card.card_exp_month,
                card_exp_year: &card.card_exp_year,
                card_holder_name: card.card_holder_name.as_deref(),
            },
            billing: attempt.payment_method_billing.as_ref(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentAttemptAmountDetails)]
pub struct AttemptAmountResponse {
    pub net_amount: i64,
    pub amount_capturable: i64,
    pub amount_captured: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentAttemptResponse)]
pub struct AttemptResponse<'a> {
    pub id: &'a str,
    pub status: AttemptStatus,
    pub amount: AttemptAmountResponse,
    pub connector: &'a str,
    pub merchant_connector_id: &'a str,
    pub error: Option<&'a PaymentError>,
    pub authentication_type: AuthenticationType,
    #[serde(serialize_with = "time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time")]
    pub modified_at: DateTime<Utc>,
    pub cancellation_reason: Option<&'a str>,
    pub payment_method_type: &'a str,
    pub payment_method_subtype: Option<&'a str>,
    pub connector_payment_id: Option<&'a str>,
    pub connector_reference_id: Option<&'a str>,
    pub payment_method_data: Option<PaymentMethodDataResponse<'a>>,
    pub routing: Option<RoutingResponse<'a>>,
}

/// How routing chose an attempt's account (switchyard's own addition to the attempt).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoutingDecision)]
pub struct RoutingResponse<'a> {
    pub script: Option<&'a str>,
    pub script_hash: Option<&'a str>,
    pub candidates: &'a [String],
    pub reason: Option<&'a str>,
    /// Why the profile's fallback list decided instead of its script.
    pub fallback: Option<&'a str>,
    pub duration_us: f64,
    /// The configuration version the payment was routed on (as `/health` shows the serving one).
    pub config_version: Option<&'a str>,
}

impl<'a> RoutingResponse<'a> {
    fn of(d: &'a Decision) -> Self {
        Self {
            script: d.script.as_deref(),
            script_hash: d.script_hash.as_deref(),
            candidates: &d.candidates,
            reason: d.reason.as_deref(),
            fallback: d.fallback.as_deref(),
            duration_us: d.duration_us,
            config_version: d.config_version.as_deref(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentsResponse<'a> {
    pub id: &'a str,
    pub status: IntentStatus,
    pub amount: AmountResponse,
    pub customer_id: Option<&'a str>,
    pub processor_merchant_id: &'a str,
    pub profile_id: &'a str,
    pub connector: Option<&'a str>,
    #[serde(serialize_with = "time")]
    pub created: DateTime<Utc>,
    #[serde(serialize_with = "time")]
    pub modified_at: DateTime<Utc>,
    pub payment_method_data: Option<PaymentMethodDataResponse<'a>>,
    pub payment_method_type: Option<&'a str>,
    pub payment_method_subtype: Option<&'a str>,
    pub connector_transaction_id: Option<&'a str>,
    pub connector_reference_id: Option<&'a str>,
    pub merchant_connector_id: Option<&'a str>,
    pub browser_info: Option<&'a Value>,
    pub error: Option<&'a PaymentError>,
    pub shipping: Option<&'a Address>,
    pub billing: Option<&'a Address>,
    pub attempts: Vec<AttemptResponse<'a>>,
    pub next_action: Option<&'a NextAction>,
    pub return_url: Option<&'a str>,
    pub authentication_type: AuthenticationType,
    pub authentication_type_applied: Option<AuthenticationType>,
    pub merchant_reference_id: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Map<String, Value>>,
}

impl<'a> PaymentsResponse<'a> {
    pub fn of(view: &'a Payment) -> Self {
        let intent = &view.intent;
        let active = view.active_attempt();
        let applied = active.filter(|a| a.status != AttemptStatus::Pending).map(|a| {
            match a.next_action.is_some() || a.status == AttemptStatus::AuthenticationFailed {
                true => AuthenticationType::ThreeDs,
                false => a.authentication_type,
            }
        });
        Self {
            id: &intent.id,
            status: intent.status,
            amount: AmountResponse::of(intent),
            customer_id: intent.customer_id.as_deref(),
            processor_merchant_id: &intent.merchant_id,
            profile_id: &intent.profile_id,
            connector: active.map(|a| a.connector.as_str()),
            created: intent.created_at,
            modified_at: intent.modified_at,
            payment_method_data: active.and_then(PaymentMethodDataResponse::of),
            payment_method_type: active.map(|a| a.payment_method_type.as_str()),
            payment_method_subtype: active.and_then(|a| a.payment_method_subtype.as_deref()),
            connector_transaction_id: active.and_then(|a| a.connector_payment_id.as_deref()),
            connector_reference_id: active.and_then(|a| a.connector_reference_id.as_deref()),
            merchant_connector_id: active.map(|a| a.connector_account.as_str()),
            browser_info: intent.details.browser_info.as_ref(),
            error: active.and_then(|a| a.error.as_ref()),
            shipping: intent.details.shipping.as_ref(),
            billing: intent.details.billing.as_ref(),
            attempts: view.attempts.iter().map(|a| AttemptResponse::of(a, intent)).collect(),
            next_action: active
                .filter(|_| intent.status == IntentStatus::RequiresCustomerAction)
                .and_then(|a| a.next_action.as_ref()),
            return_url: intent.details.return_url.as_deref(),
            authentication_type: intent.authentication_type,
            authentication_type_applied: applied,
            merchant_reference_id: intent.merchant_reference_id.as_deref(),
            metadata: intent.details.metadata.as_ref(),
        }
    }
}

impl<'a> AttemptResponse<'a> {
    fn of(a: &'a PaymentAttempt, intent: &PaymentIntent) -> Self {
        let active = intent.active_attempt_id.as_deref() == Some(a.id.as_str());
        Self {
            id: &a.id,
            status: a.status,
            amount: AttemptAmountResponse {
                net_amount: a.net_amount,
                amount_capturable: if active { intent.amount_capturable() } else { 0 },
                amount_captured: if active { intent.amount_captured } else { 0 },
            },
            connector: &a.connector,
            merchant_connector_id: &a.connector_account,
            error: a.error.as_ref(),
            authentication_type: a.authentication_type,
            created_at: a.created_at,
            modified_at: a.modified_at,
            cancellation_reason: a.cancellation_reason.as_deref(),
            payment_method_type: &a.payment_method_type,
            payment_method_subtype: a.payment_method_subtype.as_deref(),
            connector_payment_id: a.connector_payment_id.as_deref(),
            connector_reference_id: a.connector_reference_id.as_deref(),
            payment_method_data: PaymentMethodDataResponse::of(a),
            routing: a.routing.as_deref().map(RoutingResponse::of),
        }
    }
}

/// `PaymentsIntentResponse`: an intent as create-intent and get-intent show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentsIntentResponse<'a> {
    pub id: &'a str,
    pub status: IntentStatus,
    pub amount_details: AmountResponse,
    pub client_secret: &'a str,
    pub profile_id: &'a str,
    pub merchant_reference_id: Option<&'a str>,
    pub capture_method: CaptureMethod,
    pub authentication_type: AuthenticationType,
    pub customer_id: Option<&'a str>,
    #[serde(serialize_with = "time")]
    pub expires_on: DateTime<Utc>,
    /// As the request gave it, else `present`: the customer confirms the payment (Hyperswitch's
    /// default).
    #[schema(schema_with = customer_present)]
    pub customer_present: Value,
    /// As the request gave it, else `on_session`: a payment does not save its method for later ones.
    #[schema(schema_with = setup_future_usage)]
    pub setup_future_usage: Value,
    #[serde(flatten)]
    pub shown: ShownDetails<'a>,
    /// `Enable` when the intent has a payment link (`GET /v2/payments/{id}/payment-link`).
    pub payment_link_enabled: PaymentLink,
    #[serde(flatten)]
    pub practice: IntentPractice,
}

fn customer_present() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::schema::string_enum("Whether the customer takes part in the payment.", &["present", "absent"])
}

fn setup_future_usage() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::schema::string_enum(
        "Whether the method is kept for payments without the customer.",
        &["off_session", "on_session"],
    )
}

/// The intent's details the answer shows back, as given: those Hyperswitch's intent answer has.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownDetails<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<&'a Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping: Option<&'a Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_descriptor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub order_details: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_payment_method_types: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub connector_metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub feature_metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub frm_metadata: Option<&'a Value>,
}

impl<'a> ShownDetails<'a> {
    fn of(d: &'a IntentDetails) -> Self {
        Self {
            billing: d.billing.as_ref(),
            shipping: d.shipping.as_ref(),
            description: d.description.as_deref(),
            return_url: d.return_url.as_deref(),
            metadata: d.metadata.as_ref(),
            statement_descriptor: d.statement_descriptor.as_deref(),
            order_details: d.order_details.as_ref(),
            allowed_payment_method_types: d.allowed_payment_method_types.as_ref(),
            connector_metadata: d.connector_metadata.as_ref(),
            feature_metadata: d.feature_metadata.as_ref(),
            frm_metadata: d.frm_metadata.as_ref(),
        }
    }
}

/// What every intent does, in the fields Hyperswitch's intent answer requires: a request cannot
/// choose otherwise, so each is the value that says what switchyard does (and Hyperswitch's
/// default when a request leaves the field out). `customer_present` and `setup_future_usage`
/// are shown as the request gave them, else as their defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentPractice {
    /// `Skip`: no exemption for merchant-initiated payments is asked.
    #[schema(examples("Skip"))]
    pub apply_mit_exemption: &'static str,
    /// `false`: no incremental authorization is asked.
    #[schema(examples("false"))]
    pub request_incremental_authorization: &'static str,
    /// `skip`: an intent is paid by one method.
    #[schema(examples("skip"))]
    pub split_txns_enabled: &'static str,
    /// `Skip`: no external 3-D Secure server.
    #[schema(examples("Skip"))]
    pub request_external_three_ds_authentication: &'static str,
    /// `normal`: no mandates.
    #[schema(examples("normal"))]
    pub payment_type: &'static str,
}

impl IntentPractice {
    const EVERY_INTENT: Self = Self {
        apply_mit_exemption: "Skip",
        request_incremental_authorization: "false",
        split_txns_enabled: "skip",
        request_external_three_ds_authentication: "Skip",
        payment_type: "normal",
    };
}

impl<'a> PaymentsIntentResponse<'a> {
    pub fn of(intent: &'a PaymentIntent) -> Self {
        Self {
            id: &intent.id,
            status: intent.status,
            amount_details: AmountResponse::of(intent),
            client_secret: &intent.client_secret,
            profile_id: &intent.profile_id,
            merchant_reference_id: intent.merchant_reference_id.as_deref(),
            capture_method: intent.capture_method,
            authentication_type: intent.authentication_type,
            customer_id: intent.customer_id.as_deref(),
            expires_on: intent.expires_at,
            customer_present: intent.details.customer_present.clone().unwrap_or_else(|| "present".into()),
            setup_future_usage: intent.details.setup_future_usage.clone().unwrap_or_else(|| "on_session".into()),
            shown: ShownDetails::of(&intent.details),
            payment_link_enabled: intent.details.payment_link_enabled.unwrap_or_default(),
            practice: IntentPractice::EVERY_INTENT,
        }
    }
}

/// One payment of a list (Hyperswitch's `PaymentsListResponseItem`): the intent, and what its
/// active attempt says.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentsListResponseItem)]
pub struct PaymentsListItem<'a> {
    pub id: &'a str,
    pub merchant_id: &'a str,
    pub profile_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub payment_method_id: Option<&'a str>,
    pub status: IntentStatus,
    pub amount: AmountResponse,
    #[serde(serialize_with = "time")]
    pub created: DateTime<Utc>,
    pub payment_method_type: Option<&'a str>,
    pub payment_method_subtype: Option<&'a str>,
    pub connector: Option<&'a str>,
    pub merchant_connector_id: Option<&'a str>,
    pub customer: Option<Value>,
    pub merchant_reference_id: Option<&'a str>,
    pub connector_payment_id: Option<&'a str>,
    pub connector_response_reference_id: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Map<String, Value>>,
    pub description: Option<&'a str>,
    pub authentication_type: AuthenticationType,
    pub capture_method: CaptureMethod,
    pub setup_future_usage: Option<&'a Value>,
    pub attempt_count: usize,
    pub error: Option<&'a PaymentError>,
    pub cancellation_reason: Option<&'a str>,
    pub order_details: Option<&'a Value>,
    pub return_url: Option<&'a str>,
    pub statement_descriptor: Option<&'a str>,
    pub allowed_payment_method_types: Option<&'a Value>,
    pub authorization_count: Option<u32>,
    #[serde(serialize_with = "time")]
    pub modified_at: DateTime<Utc>,
    pub is_split_payment: bool,
}

impl<'a> PaymentsListItem<'a> {
    pub fn of(view: &'a Payment) -> Self {
        let intent = &view.intent;
        let active = view.active_attempt();
        Self {
            id: &intent.id,
            merchant_id: &intent.merchant_id,
            profile_id: &intent.profile_id,
            customer_id: intent.customer_id.as_deref(),
            payment_method_id: None,
            status: intent.status,
            amount: AmountResponse::of(intent),
            created: intent.created_at,
            payment_method_type: active.map(|a| a.payment_method_type.as_str()),
            payment_method_subtype: active.and_then(|a| a.payment_method_subtype.as_deref()),
            connector: active.map(|a| a.connector.as_str()),
            merchant_connector_id: active.map(|a| a.connector_account.as_str()),
            customer: None,
            merchant_reference_id: intent.merchant_reference_id.as_deref(),
            connector_payment_id: active.and_then(|a| a.connector_payment_id.as_deref()),
            connector_response_reference_id: active.and_then(|a| a.connector_reference_id.as_deref()),
            metadata: intent.details.metadata.as_ref(),
            description: intent.details.description.as_deref(),
            authentication_type: intent.authentication_type,
            capture_method: intent.capture_method,
            setup_future_usage: intent.details.setup_future_usage.as_ref(),
            attempt_count: view.attempts.len(),
            error: active.and_then(|a| a.error.as_ref()),
            cancellation_reason: active.and_then(|a| a.cancellation_reason.as_deref()),
            order_details: intent.details.order_details.as_ref(),
            return_url: intent.details.return_url.as_deref(),
            statement_descriptor: intent.details.statement_descriptor.as_deref(),
            allowed_payment_method_types: intent.details.allowed_payment_method_types.as_ref(),
            authorization_count: None,
            modified_at: intent.modified_at,
            is_split_payment: false,
        }
    }
}

/// `GET /v2/payments/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentListResponse<'a> {
    /// How many are in this page.
    pub count: usize,
    /// How many the filter picks in all.
    pub total_count: i64,
    pub data: Vec<PaymentsListItem<'a>>,
}

/// `POST /v2/refunds/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundListResponse<'a> {
    /// How many are in this page.
    pub count: usize,
    /// How many the filter picks in all.
    pub total_count: i64,
    pub data: Vec<RefundResponse<'a>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse<'a> {
    pub id: &'a str,
    pub payment_id: &'a str,
    pub merchant_reference_id: &'a str,
    pub amount: Amount,
    pub currency: Currency,
    pub status: RefundStatus,
    pub reason: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Map<String, Value>>,
    pub error_details: Option<&'a PaymentError>,
    #[serde(serialize_with = "time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time")]
    pub updated_at: DateTime<Utc>,
    pub connector: &'a str,
    pub profile_id: &'a str,
    pub merchant_connector_id: &'a str,
    pub connector_refund_reference_id: Option<&'a str>,
}

impl<'a> RefundResponse<'a> {
    pub fn of(r: &'a Refund) -> Self {
        Self {
            id: &r.id,
            payment_id: &r.payment_id,
            merchant_reference_id: &r.merchant_reference_id,
            amount: r.amount,
            currency: r.currency,
            status: r.status,
            reason: r.reason.as_deref(),
            metadata: r.metadata.as_ref(),
            error_details: r.error.as_ref(),
            created_at: r.created_at,
            updated_at: r.modified_at,
            connector: &r.connector,
            profile_id: &r.profile_id,
            merchant_connector_id: &r.connector_account,
            connector_refund_reference_id: r.connector_refund_id.as_deref(),
        }
    }
}

/// How events show a payment and a refund: as the API does.
pub const EVENT_BODIES: Renderers = Renderers {
    payment: |payment| serde_json::json!(PaymentsResponse::of(payment)),
    refund: |refund| serde_json::json!(RefundResponse::of(refund)),
};

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

    #[test]
    fn times_read_as_chrono_writes_them() {
        let written = |t: DateTime<Utc>| {
            let mut out = Vec::new();
            super::time(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        let mut times: Vec<DateTime<Utc>> = [0, 1, 999, 1_000, 86_399_999, 1_764_888_338_123, 253_402_300_799_999]
            .into_iter()
            .map(|ms| Utc.timestamp_millis_opt(ms).unwrap())
            .collect();
        // Sub-millisecond parts are cut, not rounded; years past 9999 and before 0 and a leap
        // second go chrono's way.
        times.push(Utc.timestamp_opt(1_764_888_338, 999_999_999).unwrap());
        times.push(Utc.with_ymd_and_hms(12_345, 6, 7, 8, 9, 10).unwrap());
        times.push(Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap());
        times.push(Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap());
        for t in times {
            assert_eq!(written(t), format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Millis, true)), "{t:?}");
        }
        assert_eq!(written(Utc.timestamp_millis_opt(1_764_888_338_123).unwrap()), "\"2025-12-04T22:45:38.123Z\"");
    }
}
