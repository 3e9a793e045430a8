//! Stripe's wire format: the requests switchyard sends, typed and encoded as form bodies, and the
//! objects Stripe answers, and how they map to attempt and refund outcomes. Parsing is lenient
//! about what Stripe (or a test double of it) leaves out.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};

use crate::connectors::{AuthorizeRequest, CaptureRequest, RefundRequest, TokenizeRequest};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::{NextAction, PaymentError};
use crate::domain::payment_method::CardDetails;
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, RefundStatus};

// ---- requests ---------------------------------------------------------------------------------
//
// Stripe takes `application/x-www-form-urlencoded` bodies with nested keys written `a[b]`: each
// request is a flat struct whose fields are renamed to those keys, so the set of parameters sent
// is fixed by its type and the encoding is `serde_urlencoded`'s (what `RequestBuilder::form`
// uses).

/// A payment method's `type`, and the one entry of a payment intent's `payment_method_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodType {
    Card,
}

/// A payment intent's `capture_method`: Stripe's own names, so a renamed value in switchyard's
/// API cannot change what Stripe is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentCaptureMethod {
    Automatic,
    Manual,
}

impl From<CaptureMethod> for IntentCaptureMethod {
    fn from(method: CaptureMethod) -> Self {
        match method {
            CaptureMethod::Automatic => IntentCaptureMethod::Automatic,
            CaptureMethod::Manual => IntentCaptureMethod::Manual,
        }
    }
}

/// A card under Stripe's keys for a payment method: the body of `POST /v1/payment_methods`, or
/// the `payment_method_data` a payment intent carries inline. The only part of a body that holds
/// the card number and security code, which it borrows and exposes only while being encoded; a
/// code the card does not have is left out, never sent empty. It has no `Debug`, so it cannot
/// end up in a log line.
pub struct CardForm<'a> {
    card: &'a CardDetails,
    keys: &'static CardKeys,
}

/// The keys of a card's fields: its type, number, expiry month and year, code and holder's name.
struct CardKeys([&'static str; 6]);

/// At the top of `POST /v1/payment_methods`.
const PAYMENT_METHOD_KEYS: CardKeys =
    CardKeys(["type", "card[number]", "card[exp_month]", "card[exp_year]", "card[cvc]", "billing_details[name]"]);
/// Under a payment intent's `payment_method_data`.
const INLINE_KEYS: CardKeys = CardKeys([
    "payment_method_data[type]",
    "payment_method_data[card][number]",
    "payment_method_data[card][exp_month]",
    "payment_method_data[card][exp_year]",
    "payment_method_data[card][cvc]",
    "payment_method_data[billing_details][name]",
]);

impl<'a> CardForm<'a> {
    /// The body of `POST /v1/payment_methods`.
    pub fn payment_method(card: &'a CardDetails) -> Self {
        Self { card, keys: &PAYMENT_METHOD_KEYS }
    }

    /// A payment intent's `payment_method_data`.
    pub fn inline(card: &'a CardDetails) -> Self {
        Self { card, keys: &INLINE_KEYS }
    }
}

impl Serialize for CardForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (card, [kind, number, exp_month, exp_year, cvc, name]) = (self.card, &self.keys.0);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(kind, &PaymentMethodType::Card)?;
        map.serialize_entry(number, card.number.expose())?;
        map.serialize_entry(exp_month, &card.expiry.month_str())?;
        map.serialize_entry(exp_year, &card.expiry.year_str())?;
        if let Some(code) = &card.cvc {
            map.serialize_entry(cvc, code.expose())?;
        }
        if let Some(holder) = &card.holder_name {
            map.serialize_entry(name, holder)?;
        }
        map.end()
    }
}

/// What a payment intent charges.
pub enum Charged<'a> {
    /// The card itself, sent inline: Stripe makes its payment method as it confirms the intent.
    Card(&'a CardDetails),
    /// A payment method saved at Stripe, usable only with the customer it is attached to.
    Saved { payment_method: &'a str, customer: Option<&'a str> },
}

/// `payment_method_options[card][request_three_d_secure]`: `any` asks for 3-D Secure whenever
/// the card supports it; left out, Stripe decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreeDsRequest {
    Any,
}

/// `POST /v1/payment_intents`, confirmed at once: the one call that charges. The metadata is what
/// finds the intent again when its answer is lost. It may carry the card ([`CardForm`]), so it
/// has no `Debug`.
#[derive(Serialize)]
pub struct PaymentIntentForm<'a> {
    amount: i64,
    /// Stripe's currencies are lowercase ISO codes.
    currency: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    payment_method_data: Option<CardForm<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<&'a str>,
    confirm: bool,
    capture_method: IntentCaptureMethod,
    /// The card alone: without it Stripe enables the payment methods set in its dashboard, some of
    /// which need a redirect of their own.
    #[serde(rename = "payment_method_types[0]")]
    payment_method_type: PaymentMethodType,
    #[serde(rename = "payment_method_options[card][request_three_d_secure]", skip_serializing_if = "Option::is_none")]
    request_three_d_secure: Option<ThreeDsRequest>,
    /// Where Stripe sends the payer back after authenticating. With it, an authentication Stripe
    /// asks for is a redirect; without it, only Stripe.js can finish one in the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<&'a str>,
    #[serde(rename = "metadata[payment_id]")]
    payment_id: &'a str,
    #[serde(rename = "metadata[attempt_id]")]
    attempt_id: &'a str,
}

impl<'a> PaymentIntentForm<'a> {
    /// The intent charging `charged` for the attempt, asking for 3-D Secure when the payment
    /// does. `return_url` is the daemon's page the payer comes back to.
    pub fn new(req: &AuthorizeRequest<'a>, charged: Charged<'a>, return_url: Option<&'a str>) -> Self {
        let (payment_method_data, payment_method, customer) = match charged {
            Charged::Card(card) => (Some(CardForm::inline(card)), None, None),
            Charged::Saved { payment_method, customer } => (None, Some(payment_method), customer),
        };
        Self {
            amount: req.amount.minor(),
            currency: req.currency.code().to_ascii_lowercase(),
            payment_method_data,
            payment_method,
            customer,
            confirm: true,
            capture_method: req.capture_method.into(),
            payment_method_type: PaymentMethodType::Card,
            request_three_d_secure: (req.authentication_type == AuthenticationType::ThreeDs)
                .then_some(ThreeDsRequest::Any),
            return_url,
            payment_id: req.payment_id,
            attempt_id: req.attempt_id,
        }
    }
}

/// `POST /v1/payment_intents/{id}/capture`.
#[derive(Debug, Serialize)]
pub struct CaptureForm {
    amount_to_capture: i64,
}

impl CaptureForm {
    pub fn new(req: &CaptureRequest<'_>) -> Self {
        Self { amount_to_capture: req.amount_to_capture }
    }
}

/// `POST /v1/payment_intents/{id}/cancel`, with no parameters: Stripe takes only its own list of
/// reasons, so the merchant's stays with the attempt.
#[derive(Debug, Serialize)]
pub struct CancelForm;

/// `POST /v1/refunds`. The metadata is what finds the refund again when its answer is lost.
#[derive(Debug, Serialize)]
pub struct RefundForm<'a> {
    payment_intent: &'a str,
    amount: i64,
    #[serde(rename = "metadata[refund_id]")]
    refund_id: &'a str,
}

impl<'a> RefundForm<'a> {
    /// A refund of `payment_intent`, the intent `req` names.
    pub fn new(req: &RefundRequest<'a>, payment_intent: &'a str) -> Self {
        Self { payment_intent, amount: req.amount.minor(), refund_id: req.refund_id }
    }
}

/// `POST /v1/customers`: a customer to hold a saved card, which Stripe lets only a customer
/// reuse. The saved payment method's id ties it to switchyard's record.
#[derive(Debug, Serialize)]
pub struct CustomerForm<'a> {
    #[serde(rename = "metadata[payment_method_id]")]
    payment_method_id: &'a str,
}

impl<'a> CustomerForm<'a> {
    pub fn new(req: &TokenizeRequest<'a>) -> Self {
        Self { payment_method_id: req.payment_method_id }
    }
}

/// `POST /v1/payment_methods/{id}/attach`.
#[derive(Debug, Serialize)]
pub struct AttachForm<'a> {
    customer: &'a str,
}

impl<'a> AttachForm<'a> {
    pub fn new(customer: &'a str) -> Self {
        Self { customer }
    }
}

// ---- answers ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct PaymentMethodResponse {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct CustomerResponse {
    pub id: String,
}

/// Defines a Stripe enum read from its string, with `Other` for a value this version does not
/// know (Stripe adds values without a new API version).
macro_rules! stripe_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(from = "String")]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$variant,)+
                    _ => $name::Other(s),
                }
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s,
                }
            }
        }
    };
}

stripe_enum!(
    /// A payment intent's `status`.
    IntentStatus {
        RequiresPaymentMethod = "requires_payment_method",
        RequiresConfirmation = "requires_confirmation",
        RequiresAction = "requires_action",
        Processing = "processing",
        RequiresCapture = "requires_capture",
        Canceled = "canceled",
        Succeeded = "succeeded",
    }
);

stripe_enum!(
    /// A refund's `status`.
    RefundState {
        Pending = "pending",
        RequiresAction = "requires_action",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
);

stripe_enum!(
    /// An error's `type`.
    ErrorType {
        ApiError = "api_error",
        CardError = "card_error",
        IdempotencyError = "idempotency_error",
        InvalidRequestError = "invalid_request_error",
    }
);

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: IntentStatus,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub next_action: Option<Value>,
    #[serde(default)]
    pub last_payment_error: Option<StripeError>,
    /// An id, or (from some servers) the whole charge.
    #[serde(default)]
    pub latest_charge: Option<Value>,
    /// What switchyard put there (`payment_id`, `attempt_id`).
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: RefundState,
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// What switchyard put there (`refund_id`).
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// One page of a list (`GET /v1/payment_intents`, `GET /v1/refunds`), newest first.
#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// Whether `metadata` carries `key` = `value`, as switchyard sent it.
pub fn carries(metadata: &BTreeMap<String, Value>, key: &str, value: &str) -> bool {
    metadata.get(key).and_then(Value::as_str) == Some(value)
}

/// `{"error": {...}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: StripeError,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeError {
    #[serde(default, rename = "type")]
    pub kind: Option<ErrorType>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Value>,
}

impl StripeError {
    pub fn to_payment_error(&self) -> PaymentError {
        let code = self
            .code
            .clone()
            .or_else(|| self.kind.as_ref().map(|k| k.as_str().to_string()))
            .unwrap_or_else(|| "stripe_error".into());
        let mut error = PaymentError::new(&code, self.message.clone().unwrap_or_else(|| code.clone()));
        error.reason = self.decline_code.as_deref().map(|r| crate::text::clip(r, 64));
        error
    }

    /// The payment intent a declined confirmation left behind.
    pub fn payment_intent_id(&self) -> Option<String> {
        self.payment_intent.as_ref()?.get("id")?.as_str().map(str::to_string)
    }
}

impl PaymentIntent {
    /// What Stripe says has been captured: `amount_received`, or the charge's `amount_captured`.
    /// Unknown when both are left out; the flow then keeps what it knew.
    fn captured(&self) -> Option<i64> {
        self.amount_received.or_else(|| self.latest_charge.as_ref()?.get("amount_captured")?.as_i64())
    }

    pub fn outcome(&self) -> PaymentOutcome {
        let captured = self.captured();
        let status = match self.status {
            IntentStatus::Succeeded => match (captured, self.amount) {
                (Some(c), Some(a)) if c < a => AttemptStatus::PartialCharged,
                _ => AttemptStatus::Charged,
            },
            IntentStatus::RequiresCapture => AttemptStatus::Authorized,
            IntentStatus::RequiresAction => AttemptStatus::AuthenticationPending,
            IntentStatus::Canceled => AttemptStatus::Voided,
            IntentStatus::RequiresPaymentMethod => AttemptStatus::Failure,
            // Not settled yet, or a status this version does not know: nothing is concluded.
            IntentStatus::Processing | IntentStatus::RequiresConfirmation | IntentStatus::Other(_) => {
                AttemptStatus::Pending
            }
        };
        let error = match status {
            AttemptStatus::Failure => Some(
                self.last_payment_error
                    .as_ref()
                    .map(StripeError::to_payment_error)
                    .unwrap_or_else(|| PaymentError::new("payment_failed", "The payment was not completed.")),
            ),
            _ => None,
        };
        PaymentOutcome {
            status,
            amount_captured: match status {
                AttemptStatus::Charged | AttemptStatus::PartialCharged => captured,
                _ => None,
            },
            connector_payment_id: Some(self.id.clone()),
            connector_reference_id: self.latest_charge.as_ref().and_then(charge_id),
            next_action: (status == AttemptStatus::AuthenticationPending).then(|| self.next_action()).flatten(),
            error,
        }
    }

    /// A redirect when Stripe gives one; otherwise Stripe.js finishes the payment in the browser.
    fn next_action(&self) -> Option<NextAction> {
        let action = self.next_action.as_ref()?;
        if let Some(url) = action.pointer("/redirect_to_url/url").and_then(Value::as_str) {
            return Some(NextAction::RedirectToUrl { redirect_to_url: url.to_string() });
        }
        Some(NextAction::InvokeSdkClient {
            next_action_data: json!({ "sdk": "stripe", "client_secret": self.client_secret, "next_action": action }),
        })
    }
}

fn charge_id(charge: &Value) -> Option<String> {
    charge.as_str().or_else(|| charge.get("id")?.as_str()).map(str::to_string)
}

/// A declined confirmation: Stripe answers with an error, not a payment intent.
pub fn declined(error: &StripeError) -> PaymentOutcome {
    PaymentOutcome {
        status: AttemptStatus::Failure,
        amount_captured: None,
        connector_payment_id: error.payment_intent_id(),
        connector_reference_id: None,
        next_action: None,
        error: Some(error.to_payment_error()),
    }
}

impl Refund {
    pub fn outcome(&self) -> RefundOutcome {
        let status = match self.status {
            RefundState::Succeeded => RefundStatus::Succeeded,
            RefundState::Failed | RefundState::Canceled => RefundStatus::Failed,
            RefundState::Pending | RefundState::RequiresAction | RefundState::Other(_) => RefundStatus::Pending,
        };
        RefundOutcome {
            status,
            connector_refund_id: Some(self.id.clone()),
            error: (status == RefundStatus::Failed).then(|| {
                let reason = self.failure_reason.clone().unwrap_or_else(|| "refund_failed".into());
                PaymentError::new(&reason, "Stripe did not complete the refund.")
            }),
        }
    }
}

pub fn refund_refused(error: &StripeError) -> RefundOutcome {
    RefundOutcome { status: RefundStatus::Failed, connector_refund_id: None, error: Some(error.to_payment_error()) }
}

/// What an answer other than 2xx says about the call it answers.
#[derive(Debug)]
pub enum Failure {
    /// A definite refusal: Stripe looked at the call and did nothing (a declined card, a request
    /// it found invalid).
    Refused(StripeError),
    /// Stripe did not take the call (rate limited, credentials refused): nothing was done.
    NotTaken(String),
    /// It may have been acted on, or may still be: another request with the same idempotency
    /// key in progress (409, `idempotency_error`), an object locked (`lock_timeout`), a missing
    /// object, a server error, an error Stripe does not document or a body that cannot be read.
    Unclear(String),
}

/// Classifies an answer with HTTP `status` (not 2xx) and the error its body carried, if any.
/// Only a card error, or an invalid request answered 400 (refused as asked) or 402 (valid, but
/// failed), is a refusal: anything else Stripe may still be acting on.
pub fn classify(status: u16, error: Option<StripeError>) -> Failure {
    let code = error.as_ref().and_then(|e| e.code.as_deref());
    let locked = matches!(code, Some("lock_timeout" | "idempotency_key_in_use"));
    let described = |error: &StripeError| {
        let kind = error.kind.as_ref().map_or("no error type", ErrorType::as_str);
        format!("HTTP {status} {kind}: {}", error.to_payment_error().message)
    };
    match (status, error) {
        (401 | 403, _) => Failure::NotTaken(format!("credentials refused ({status})")),
        (429, _) if !locked => Failure::NotTaken("rate limited".into()),
        (400..=499, Some(error)) if status != 409 && !locked => match error.kind {
            Some(ErrorType::CardError) => Failure::Refused(error),
            Some(ErrorType::InvalidRequestError) if matches!(status, 400 | 402) => Failure::Refused(error),
            _ => Failure::Unclear(described(&error)),
        },
        (_, Some(error)) => Failure::Unclear(described(&error)),
        (_, None) => Failure::Unclear(format!("HTTP {status}")),
    }
}

/// The error of an attempt or refund Stripe never received: nothing was charged or refunded.
fn not_received(what: &str) -> PaymentError {
    PaymentError::new("not_received", format!("Stripe has no {what} made for it: it never arrived, and nothing moved."))
}

/// An attempt Stripe never received.
pub fn payment_not_received() -> PaymentOutcome {
    PaymentOutcome {
        status: AttemptStatus::Failure,
        amount_captured: None,
        connector_payment_id: None,
        connector_reference_id: None,
        next_action: None,
        error: Some(not_received("payment intent")),
    }
}

/// A refund Stripe never received.
pub fn refund_not_received() -> RefundOutcome {
    RefundOutcome { status: RefundStatus::Failed, connector_refund_id: None, error: Some(not_received("refund")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::card::{CardNumber, Expiry};
    use crate::connectors::PaymentMethod;
    use crate::domain::status::AuthenticationType;
    use crate::money::{Amount, Currency};

    /// The body's pairs as Stripe decodes them, in a fixed order: Stripe does not read the order.
    fn pairs(form: &impl Serialize) -> Vec<(String, String)> {
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
        pairs.sort();
        pairs
    }

    fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.sort();
        pairs
    }

    fn card(cvc: Option<&str>, holder_name: Option<&str>) -> CardDetails {
        CardDetails {
            number: CardNumber::parse("4242424242424242").unwrap(),
            cvc: cvc.map(|c| serde_json::from_value(json!(c)).unwrap()),
            expiry: Expiry {
                month: serde_json::from_value(json!("3")).unwrap(),
                year: serde_json::from_value(json!("35")).unwrap(),
            },
            holder_name: holder_name.map(str::to_string),
            issuing_country: None,
            connector_tokens: Default::default(),
        }
    }

    fn authorize<'a>(method: &'a PaymentMethod, capture_method: CaptureMethod) -> AuthorizeRequest<'a> {
        AuthorizeRequest {
            payment_id: "sy_pay_1",
            attempt_id: "sy_att_1",
            amount: Amount::new(1000).unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            capture_method,
            authentication_type: AuthenticationType::NoThreeDs,
            payment_method: method,
            return_url: Some("https://shop.example/back"),
            description: Some("an order"),
            billing: None,
        }
    }

    #[test]
    fn a_payment_method_carries_the_card_under_stripes_keys() {
        let card = card(Some("123"), Some("Joseph Doe"));
        assert_eq!(
            pairs(&CardForm::payment_method(&card)),
            expected(&[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "03"),
                ("card[exp_year]", "2035"),
                ("card[cvc]", "123"),
                ("billing_details[name]", "Joseph Doe"),
            ])
        );
    }

    #[test]
    fn a_payment_method_leaves_out_a_code_and_a_name_it_does_not_have() {
        let card = card(None, None);
        assert_eq!(
            pairs(&CardForm::payment_method(&card)),
            expected(&[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "03"),
                ("card[exp_year]", "2035"),
            ])
        );
    }

    /// Whether a type implements `Debug`, told apart by method resolution: the impl on `Probe<T>`
    /// is found before the one on `&Probe<T>`, but exists only when `T: Debug`.
    macro_rules! has_debug {
        ($t:ty) => {
            (&Probe::<$t>(std::marker::PhantomData)).has_debug()
        };
    }
    struct Probe<T>(std::marker::PhantomData<T>);
    trait HasDebug {
        fn has_debug(&self) -> bool {
            true
        }
    }
    impl<T: std::fmt::Debug> HasDebug for Probe<T> {}
    trait LacksDebug {
        fn has_debug(&self) -> bool {
            false
        }
    }
    impl<T> LacksDebug for &Probe<T> {}

    #[test]
    fn no_form_holding_the_card_can_be_debug_printed() {
        assert!(!has_debug!(CardForm<'_>));
        assert!(!has_debug!(PaymentIntentForm<'_>));
        assert!(has_debug!(CaptureForm), "the probe tells a Debug type");
    }

    #[test]
    fn a_card_payment_is_one_confirmed_intent_carrying_the_card_inline() {
        let card = card(Some("123"), Some("Joseph Doe"));
        let method = PaymentMethod::Card(card.clone());
        let form = PaymentIntentForm::new(&authorize(&method, CaptureMethod::Manual), Charged::Card(&card), None);
        assert_eq!(
            pairs(&form),
            expected(&[
                ("amount", "1000"),
                ("currency", "eur"),
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][number]", "4242424242424242"),
                ("payment_method_data[card][exp_month]", "03"),
                ("payment_method_data[card][exp_year]", "2035"),
                ("payment_method_data[card][cvc]", "123"),
                ("payment_method_data[billing_details][name]", "Joseph Doe"),
                ("confirm", "true"),
                ("capture_method", "manual"),
                ("payment_method_types[0]", "card"),
                ("metadata[payment_id]", "sy_pay_1"),
                ("metadata[attempt_id]", "sy_att_1"),
            ])
        );
    }

    #[test]
    fn a_card_without_its_code_sends_no_code_at_all() {
        let card = card(None, None);
        let method = PaymentMethod::Card(card.clone());
        let form = PaymentIntentForm::new(&authorize(&method, CaptureMethod::Automatic), Charged::Card(&card), None);
        let body = serde_urlencoded::to_string(&form).unwrap();
        assert!(!body.contains("cvc"), "{body}");
        assert!(body.contains("payment_method_data%5Bcard%5D%5Bnumber%5D=4242424242424242"), "{body}");
    }

    #[test]
    fn a_saved_card_is_charged_by_its_payment_method_with_its_customer() {
        let method = PaymentMethod::Card(card(Some("123"), None));
        let saved = Charged::Saved { payment_method: "pm_x", customer: Some("cus_x") };
        let form = PaymentIntentForm::new(&authorize(&method, CaptureMethod::Manual), saved, None);
        assert_eq!(
            pairs(&form),
            expected(&[
                ("amount", "1000"),
                ("currency", "eur"),
                ("payment_method", "pm_x"),
                ("customer", "cus_x"),
                ("confirm", "true"),
                ("capture_method", "manual"),
                ("payment_method_types[0]", "card"),
                ("metadata[payment_id]", "sy_pay_1"),
                ("metadata[attempt_id]", "sy_att_1"),
            ])
        );
        let unattached = Charged::Saved { payment_method: "pm_x", customer: None };
        let form = PaymentIntentForm::new(&authorize(&method, CaptureMethod::Automatic), unattached, None);
        assert!(pairs(&form).iter().all(|(k, _)| k != "customer" && !k.starts_with("payment_method_data")));
    }

    #[test]
    fn three_d_secure_is_asked_for_with_the_return_page() {
        let card = card(Some("123"), None);
        let method = PaymentMethod::Card(card.clone());
        let mut req = authorize(&method, CaptureMethod::Automatic);
        req.authentication_type = AuthenticationType::ThreeDs;
        let back = "http://127.0.0.1:8080/v2/payments/sy_pay_1/return";
        let form = PaymentIntentForm::new(&req, Charged::Card(&card), Some(back));
        let got = pairs(&form);
        assert!(got.contains(&("payment_method_options[card][request_three_d_secure]".into(), "any".into())));
        assert!(got.contains(&("return_url".into(), back.into())));
        // Without it, Stripe decides; without a return page, nothing names one.
        req.authentication_type = AuthenticationType::NoThreeDs;
        let form = PaymentIntentForm::new(&req, Charged::Card(&card), None);
        assert!(pairs(&form).iter().all(|(k, _)| !k.starts_with("payment_method_options") && k != "return_url"));
    }

    #[test]
    fn a_capture_names_the_amount_and_a_cancel_nothing() {
        let req = CaptureRequest {
            attempt_id: "sy_att_1",
            connector_payment_id: Some("pi_1"),
            amount_authorized: 1000,
            amount_to_capture: 600,
            currency: Currency::parse("EUR").unwrap(),
        };
        assert_eq!(pairs(&CaptureForm::new(&req)), expected(&[("amount_to_capture", "600")]));
        assert_eq!(serde_urlencoded::to_string(CancelForm).unwrap(), "");
    }

    #[test]
    fn a_refund_names_the_intent_the_amount_and_switchyards_id() {
        let req = RefundRequest {
            refund_id: "sy_ref_1",
            connector_payment_id: Some("pi_1"),
            amount: Amount::new(250).unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            reason: Some("returned"),
        };
        assert_eq!(
            pairs(&RefundForm::new(&req, "pi_1")),
            expected(&[("payment_intent", "pi_1"), ("amount", "250"), ("metadata[refund_id]", "sy_ref_1")])
        );
    }

    #[test]
    fn a_saved_cards_customer_carries_its_id_and_the_attach_names_the_customer() {
        let card = card(Some("123"), None);
        let req = TokenizeRequest { payment_method_id: "sy_pm_1", card: &card, reusable: true };
        assert_eq!(pairs(&CustomerForm::new(&req)), expected(&[("metadata[payment_method_id]", "sy_pm_1")]));
        assert_eq!(pairs(&AttachForm::new("cus_x")), expected(&[("customer", "cus_x")]));
    }

    fn intent(v: Value) -> PaymentIntent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn statuses_map_as_documented() {
        let cases = [
            ("succeeded", AttemptStatus::Charged),
            ("requires_capture", AttemptStatus::Authorized),
            ("requires_action", AttemptStatus::AuthenticationPending),
            ("processing", AttemptStatus::Pending),
            ("requires_confirmation", AttemptStatus::Pending),
            ("requires_payment_method", AttemptStatus::Failure),
            ("canceled", AttemptStatus::Voided),
        ];
        for (stripe, ours) in cases {
            assert_eq!(intent(json!({"id": "pi_1", "status": stripe})).outcome().status, ours, "{stripe}");
        }
    }

    #[test]
    fn a_partial_capture_is_read_from_what_was_received() {
        let full = intent(json!({"id": "pi_1", "status": "succeeded", "amount": 6540, "amount_received": 6540}));
        assert_eq!((full.outcome().status, full.outcome().amount_captured), (AttemptStatus::Charged, Some(6540)));
        let part = intent(json!({"id": "pi_1", "status": "succeeded", "amount": 6540,
            "latest_charge": {"id": "ch_1", "amount_captured": 4000}}));
        let outcome = part.outcome();
        assert_eq!((outcome.status, outcome.amount_captured), (AttemptStatus::PartialCharged, Some(4000)));
        assert_eq!(outcome.connector_reference_id.as_deref(), Some("ch_1"));
    }

    #[test]
    fn a_failed_intent_carries_stripes_error_and_a_decline_its_intent() {
        let failed = intent(json!({"id": "pi_1", "status": "requires_payment_method",
            "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."}}));
        let error = failed.outcome().error.unwrap();
        assert_eq!((error.code.as_str(), error.reason.as_deref()), ("card_declined", Some("insufficient_funds")));
        let body: ErrorBody = serde_json::from_value(json!({"error": {"type": "card_error", "code": "card_declined",
            "message": "Your card was declined.", "payment_intent": {"id": "pi_9", "status": "requires_payment_method"}}}))
        .unwrap();
        assert_eq!(declined(&body.error).connector_payment_id.as_deref(), Some("pi_9"));
    }

    #[test]
    fn authentication_is_a_redirect_when_stripe_gives_one_and_the_sdk_otherwise() {
        let redirect = intent(json!({"id": "pi_1", "status": "requires_action",
            "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.example/3ds"}}}));
        assert_eq!(
            redirect.outcome().next_action,
            Some(NextAction::RedirectToUrl { redirect_to_url: "https://hooks.example/3ds".into() })
        );
        let sdk = intent(json!({"id": "pi_1", "status": "requires_action", "client_secret": "pi_1_secret",
            "next_action": {"type": "use_stripe_sdk"}}));
        assert!(matches!(sdk.outcome().next_action, Some(NextAction::InvokeSdkClient { .. })));
    }

    fn error(kind: &str, code: Option<&str>) -> Option<StripeError> {
        serde_json::from_value(json!({"type": kind, "code": code, "message": "m"})).ok()
    }

    #[test]
    fn only_card_errors_and_invalid_requests_are_refusals() {
        let refused = |status, e| matches!(classify(status, e), Failure::Refused(_));
        let unclear = |status, e| matches!(classify(status, e), Failure::Unclear(_));
        let not_taken = |status, e| matches!(classify(status, e), Failure::NotTaken(_));
        assert!(refused(402, error("card_error", Some("card_declined"))));
        assert!(refused(400, error("card_error", Some("incorrect_number"))));
        assert!(refused(400, error("invalid_request_error", Some("parameter_missing"))));
        assert!(refused(402, error("invalid_request_error", Some("card_declined"))));
        // Another request with the same key is in flight: the charge may be under way.
        assert!(unclear(409, error("idempotency_error", None)));
        assert!(unclear(400, error("idempotency_error", None)));
        assert!(unclear(409, error("invalid_request_error", None)));
        assert!(unclear(409, None));
        assert!(unclear(429, error("invalid_request_error", Some("lock_timeout"))));
        assert!(unclear(400, error("invalid_request_error", Some("idempotency_key_in_use"))));
        assert!(unclear(404, error("invalid_request_error", Some("resource_missing"))));
        assert!(unclear(402, error("some_new_error", None)));
        assert!(unclear(400, None), "a 4xx that is not Stripe's");
        assert!(unclear(500, error("api_error", None)));
        assert!(not_taken(429, error("invalid_request_error", Some("rate_limit"))));
        assert!(not_taken(401, None));
        assert!(not_taken(403, error("invalid_request_error", None)));
    }

    #[test]
    fn unknown_statuses_conclude_nothing() {
        let unknown = intent(json!({"id": "pi_1", "status": "some_new_status"}));
        assert_eq!(unknown.status, IntentStatus::Other("some_new_status".into()));
        assert_eq!(unknown.outcome().status, AttemptStatus::Pending);
        let refund: Refund = serde_json::from_value(json!({"id": "re_1", "status": "requires_action"})).unwrap();
        assert_eq!(refund.outcome().status, RefundStatus::Pending);
        let refund: Refund = serde_json::from_value(json!({"id": "re_1", "status": "canceled"})).unwrap();
        assert_eq!(refund.outcome().status, RefundStatus::Failed);
    }
}
