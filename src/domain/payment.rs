//! A payment as switchyard keeps it: the intent (what the merchant asked for), its attempts (one
//! per connector call) and its refunds. These are the stored shapes; the wire shapes live in
//! `api::types` and are built from these.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::card::CardSummary;
use crate::domain::decision::Decision;
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, IntentStatus, RefundStatus};
use crate::money::{Amount, Currency, MinorUnit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalculationOverride {
    #[default]
    Skip,
    Calculate,
}

/// The amounts of a payment. The request names the overrides `skip_…`; responses drop the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountDetails {
    pub order_amount: Amount,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_cost: Option<MinorUnit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_tax_amount: Option<MinorUnit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surcharge_amount: Option<MinorUnit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_on_surcharge: Option<MinorUnit>,
    #[serde(default, alias = "skip_external_tax_calculation")]
    pub external_tax_calculation: CalculationOverride,
    #[serde(default, alias = "skip_surcharge_calculation")]
    pub surcharge_calculation: CalculationOverride,
}

impl AmountDetails {
    /// What the customer is charged: the order plus shipping, tax and surcharge.
    pub fn net_amount(&self) -> i64 {
        let extra = [self.shipping_cost, self.order_tax_amount, self.surcharge_amount, self.tax_on_surcharge];
        self.order_amount.minor() + extra.iter().flatten().map(|m| m.minor()).sum::<i64>()
    }

    /// Refused when the parts add up to more than a payment may be.
    pub fn check_net(&self) -> Result<(), String> {
        let net = self.net_amount();
        match net > crate::money::MAX_AMOUNT {
            true => Err(format!(
                "amount_details: order_amount, shipping_cost, order_tax_amount, surcharge_amount and tax_on_surcharge \
                 add up to {net}, more than the {} a payment may be",
                crate::money::MAX_AMOUNT
            )),
            false => Ok(()),
        }
    }
}

/// A postal address with contact details, as Hyperswitch's `Address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_zip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PhoneDetails)]
pub struct Phone {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// An ISO 3166-1 alpha-2 country code: two capital letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string("An ISO 3166-1 alpha-2 country code.", 2, Some(2), Some("^[A-Z]{2}$"))
    }
}

impl utoipa::ToSchema for CountryCode {
    fn name() -> std::borrow::Cow<'static, str> {
        "CountryAlpha2".into()
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CountryCode(s))
        } else {
            Err(serde::de::Error::custom(format!("`{s}` is not an ISO 3166-1 alpha-2 country code")))
        }
    }
}

/// What the merchant told us about a payment that switchyard keeps and shows back but does not
/// act on itself (connectors may read it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntentDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_descriptor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_future_usage: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_present: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_info: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_payment_method_types: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frm_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_iframe_redirection_enabled: Option<bool>,
    /// Whether the payer is sent a hosted page to pay on (`Enable`), rather than a page of the
    /// merchant's own. Given when the intent is made (`IntentFields`), never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub payment_link_enabled: Option<PaymentLink>,
}

/// Whether an intent has a payment link (Hyperswitch's `EnablePaymentLinkRequest`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = EnablePaymentLinkRequest)]
pub enum PaymentLink {
    Enable,
    #[default]
    Skip,
}

impl IntentDetails {
    /// Takes each detail `given` has; the others stay.
    pub fn overlay(&mut self, given: IntentDetails) {
        fn set<T>(field: &mut Option<T>, given: Option<T>) {
            if given.is_some() {
                *field = given;
            }
        }
        set(&mut self.billing, given.billing);
        set(&mut self.shipping, given.shipping);
        set(&mut self.description, given.description);
        set(&mut self.return_url, given.return_url);
        set(&mut self.metadata, given.metadata);
        set(&mut self.statement_descriptor, given.statement_descriptor);
        set(&mut self.setup_future_usage, given.setup_future_usage);
        set(&mut self.customer_present, given.customer_present);
        set(&mut self.browser_info, given.browser_info);
        set(&mut self.order_details, given.order_details);
        set(&mut self.allowed_payment_method_types, given.allowed_payment_method_types);
        set(&mut self.connector_metadata, given.connector_metadata);
        set(&mut self.feature_metadata, given.feature_metadata);
        set(&mut self.frm_metadata, given.frm_metadata);
        set(&mut self.is_iframe_redirection_enabled, given.is_iframe_redirection_enabled);
    }

    /// A payer who pays through a link may try another method after a decline: the link stays
    /// theirs to pay with until the intent expires.
    pub fn has_payment_link(&self) -> bool {
        self.payment_link_enabled == Some(PaymentLink::Enable)
    }
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub merchant_reference_id: Option<String>,
    pub status: IntentStatus,
    pub amount: AmountDetails,
    pub capture_method: CaptureMethod,
    pub authentication_type: AuthenticationType,
    pub customer_id: Option<String>,
    pub client_secret: String,
    pub expires_at: DateTime<Utc>,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub active_attempt_id: Option<String>,
    pub details: IntentDetails,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

impl PaymentIntent {
    /// What may still be captured: the whole net amount until the payment is captured or ends.
    pub fn amount_capturable(&self) -> i64 {
        match self.status {
            IntentStatus::RequiresPaymentMethod
            | IntentStatus::Processing
            | IntentStatus::RequiresCustomerAction
            | IntentStatus::RequiresCapture => self.amount.net_amount(),
            _ => 0,
        }
    }

    /// An unconfirmed intent whose session has run out can no longer be confirmed.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == IntentStatus::Expired
            || (self.status == IntentStatus::RequiresPaymentMethod && now >= self.expires_at)
    }
}

/// What a connector asks the customer to do before the payment can go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = NextActionData)]
pub enum NextAction {
    RedirectToUrl {
        redirect_to_url: String,
    },
    /// The provider's own client SDK finishes the payment in the browser (e.g. Stripe.js with
    /// the data here).
    InvokeSdkClient {
        next_action_data: Value,
    },
}

/// Why an attempt failed, as the connector said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ErrorDetails)]
pub struct PaymentError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_decline_code: Option<String>,
}

impl PaymentError {
    /// An error with a code and message and nothing more; the unified code is the code itself.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        // Codes and messages come from providers and plugins: bounded before they are stored.
        let message = crate::text::clip(&message.into(), 1000);
        let code = crate::text::clip(code, 64);
        Self {
            code: code.clone(),
            unified_code: Some(code),
            unified_message: Some(message.clone()),
            message,
            reason: None,
            network_decline_code: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentAttempt {
    pub id: String,
    pub payment_id: String,
    pub connector_account: String,
    pub connector: String,
    pub status: AttemptStatus,
    pub net_amount: i64,
    pub payment_method_type: String,
    pub payment_method_subtype: Option<String>,
    pub card: Option<CardSummary>,
    pub payment_method_billing: Option<Address>,
    pub authentication_type: AuthenticationType,
    pub connector_payment_id: Option<String>,
    pub connector_reference_id: Option<String>,
    pub next_action: Option<NextAction>,
    pub error: Option<PaymentError>,
    pub cancellation_reason: Option<String>,
    /// How routing chose this attempt's account.
    pub routing: Option<Arc<Decision>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub merchant_reference_id: String,
    pub amount: Amount,
    pub currency: Currency,
    pub status: RefundStatus,
    pub reason: Option<String>,
    pub metadata: Option<serde_json::Map<String, Value>>,
    pub connector: String,
    pub connector_account: String,
    pub connector_refund_id: Option<String>,
    pub error: Option<PaymentError>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// An intent with its attempts, oldest first.
#[derive(Debug)]
pub struct Payment {
    pub intent: PaymentIntent,
    pub attempts: Vec<PaymentAttempt>,
}

impl Payment {
    pub fn active_attempt(&self) -> Option<&PaymentAttempt> {
        let id = self.intent.active_attempt_id.as_deref()?;
        self.attempts.iter().find(|a| a.id == id)
    }
}
