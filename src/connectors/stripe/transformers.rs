//! Stripe's wire format: the form bodies switchyard sends and the objects Stripe answers, and
//! how they map to attempt and refund outcomes. Parsing is lenient about what Stripe (or a test
//! double of it) leaves out.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::card::Expiry;
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::{NextAction, PaymentError};
use crate::domain::payment_method::CardDetails;
use crate::domain::status::{AttemptStatus, CaptureMethod, RefundStatus};

/// A form body: Stripe takes `application/x-www-form-urlencoded`, nested keys as `a[b]`.
pub type Form = Vec<(String, String)>;

fn field(form: &mut Form, key: &str, value: impl ToString) {
    form.push((key.to_string(), value.to_string()));
}

/// `POST /v1/payment_methods`: the card becomes a payment method. The only body that carries the
/// card number; it is never logged.
pub fn payment_method(card: &CardDetails) -> Form {
    let mut form = Form::new();
    field(&mut form, "type", "card");
    field(&mut form, "card[number]", card.number.expose());
    field(&mut form, "card[exp_month]", card.expiry.month_str());
    field(&mut form, "card[exp_year]", Expiry::year_str(&card.expiry));
    if let Some(cvc) = &card.cvc {
        field(&mut form, "card[cvc]", cvc.expose());
    }
    if let Some(name) = &card.holder_name {
        field(&mut form, "billing_details[name]", name);
    }
    form
}

/// `POST /v1/payment_intents`, confirmed at once.
pub fn payment_intent(
    amount: i64,
    currency: &str,
    payment_method: &str,
    customer: Option<&str>,
    capture_method: CaptureMethod,
    payment_id: &str,
    attempt_id: &str,
) -> Form {
    let mut form = Form::new();
    field(&mut form, "amount", amount);
    field(&mut form, "currency", currency.to_ascii_lowercase());
    field(&mut form, "payment_method", payment_method);
    if let Some(customer) = customer {
        field(&mut form, "customer", customer);
    }
    field(&mut form, "confirm", "true");
    field(&mut form, "capture_method", capture_method.as_str());
    field(&mut form, "payment_method_types[0]", "card");
    field(&mut form, "metadata[payment_id]", payment_id);
    field(&mut form, "metadata[attempt_id]", attempt_id);
    form
}

pub fn capture(amount: i64) -> Form {
    vec![("amount_to_capture".into(), amount.to_string())]
}

pub fn refund(payment_intent: &str, amount: i64, refund_id: &str) -> Form {
    let mut form = Form::new();
    field(&mut form, "payment_intent", payment_intent);
    field(&mut form, "amount", amount);
    field(&mut form, "metadata[refund_id]", refund_id);
    form
}

#[derive(Debug, Deserialize)]
pub struct PaymentMethodResponse {
    pub id: String,
}

/// `POST /v1/customers`: a customer to hold a saved card, which Stripe lets only a customer
/// reuse.
pub fn customer(payment_method_id: &str) -> Form {
    let mut form = Form::new();
    field(&mut form, "metadata[payment_method_id]", payment_method_id);
    form
}

/// `POST /v1/payment_methods/{id}/attach`.
pub fn attach(customer: &str) -> Form {
    let mut form = Form::new();
    field(&mut form, "customer", customer);
    form
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
