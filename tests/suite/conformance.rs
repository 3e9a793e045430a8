//! Conformance with Hyperswitch's v2 wire format: every endpoint switchyard serves, called on its
//! success and error paths, each JSON answer validated against the response schema the v2 OpenAPI
//! document (`tests/fixtures/hyperswitch/openapi_spec_v2.json`) gives for that path, method and
//! status, and each error against Hyperswitch's error format, statuses and codes.
//!
//! The calls are a table, one row each, run in order against one daemon: a row can use what an
//! earlier row's answer named (`{customer}` is the `id` the row named `customer` answered,
//! `{customer.secret}` its `client_secret`). Adding an endpoint is adding its rows.
//!
//! Every violation is collected and the test fails listing them all. What the answers cannot say
//! honestly within the schema is in `ALLOWED`, one field of one operation each, with the reason.
//! An entry that no answer needs any more is a violation too, so the list shrinks as the answers
//! improve. Every error's status and code must be Hyperswitch's for the same fault.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use jsonschema::error::ValidationErrorKind;
use serde_json::{json, Value};
use tempfile::TempDir;

const SPEC: &str = "tests/fixtures/hyperswitch/openapi_spec_v2.json";

/// How a row's call authenticates.
#[derive(Clone, Copy)]
enum Auth {
    /// No key at all.
    Anonymous,
    /// A key no merchant has.
    WrongKey,
    /// acme's secret key, acting for profile `web`.
    Secret,
    /// acme's secret key without `X-Profile-Id`.
    SecretOnly,
    /// acme's publishable key in the `api-key` header.
    Publishable,
    /// `Authorization: publishable-key=…,client-secret=…`, the secret being the variable named.
    ClientSecret(&'static str),
}

/// What a row expects: a success status, or the status and code Hyperswitch answers with.
#[derive(Clone, Copy)]
enum Want {
    Answer(u16),
    Error(u16, &'static str),
}

struct Row {
    /// Names the row in violations, and the variables its answer sets.
    name: &'static str,
    /// `METHOD /path`, with `{variable}`s.
    call: &'static str,
    auth: Auth,
    /// The JSON body, with `{variable}`s; empty for none.
    body: &'static str,
    want: Want,
    /// Where in the answer the id the row's name stands for is (empty: `/id`, when there is one).
    id_at: &'static str,
}

const fn row(name: &'static str, call: &'static str, auth: Auth, body: &'static str, want: Want) -> Row {
    Row { name, call, auth, body, want, id_at: "" }
}

use Auth::*;
use Want::{Answer, Error};

macro_rules! card_body {
    ($($field:literal),*) => {
        concat!("{", $($field, ", ",)* r#""payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "35", "card_holder_name": "Joseph Doe", "card_cvc": "123"}}"#, "}")
    };
}

/// The calls, in the order they run: one line each.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Customers.
    row("customer", "POST /v2/customers", Secret, r#"{"name": "John Doe", "email": "john@example.com", "phone": "999999999", "phone_country_code": "+65", "description": "First customer"}"#, Answer(200)),
    row("customer with addresses", "POST /v2/customers", Secret, r#"{"name": "Jane Doe", "email": "jane@example.com", "merchant_reference_id": "cust_1001", "metadata": {"tier": "gold"}, "default_billing_address": {"city": "New York", "country": "US", "line1": "123, King Street", "zip": "08807", "first_name": "Jane", "last_name": "Doe"}, "default_shipping_address": {"city": "New York", "country": "US", "zip": "08807"}}"#, Answer(200)),
    row("customer get", "GET /v2/customers/{customer}", Secret, "", Answer(200)),
    row("customer update", "PUT /v2/customers/{customer}", Secret, r#"{"name": "John Roe", "email": "john@example.com"}"#, Answer(200)),
    row("customer list", "GET /v2/customers/list", Secret, "", Answer(200)),
    row("customer unknown", "GET /v2/customers/12345_cus_0000000000000000000000000000", Secret, "", Error(404, "HE_02")),
    row("customer no name", "POST /v2/customers", Secret, r#"{"email": "john@example.com"}"#, Error(400, "IR_06")),
    // Payments: the seed's create-and-confirm, a guest's.
    row("guest payment", "POST /v2/payments", Secret, card_body!(r#""amount_details": {"currency": "USD", "order_amount": 6540}"#), Answer(200)),
    row("payment", "POST /v2/payments", Secret, card_body!(r#""amount_details": {"currency": "USD", "order_amount": 6540}"#, r#""customer_id": "{customer}""#), Answer(200)),
    row("declined payment", "POST /v2/payments", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4000000000000002", "card_exp_month": "10", "card_exp_year": "35", "card_holder_name": "Joseph Doe", "card_cvc": "123"}}}"#, Answer(200)),
    row("three ds payment", "POST /v2/payments", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "authentication_type": "three_ds", "return_url": "https://shop.example/checkout/done", "payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4000002760003184", "card_exp_month": "10", "card_exp_year": "35", "card_holder_name": "Joseph Doe", "card_cvc": "123"}}}"#, Answer(200)),
    row("three ds payment get", "GET /v2/payments/{three ds payment}", Secret, "", Answer(200)),
    row("detailed payment", "POST /v2/payments", Secret, card_body!(r#""amount_details": {"currency": "EUR", "order_amount": 1000, "shipping_cost": 100, "order_tax_amount": 50}"#, r#""customer_id": "{customer}", "merchant_reference_id": "order_1001_conformance_0000001", "description": "Two books", "metadata": {"order": "42"}, "billing": {"address": {"city": "Paris", "country": "FR", "line1": "1 rue de Rivoli", "zip": "75001"}, "email": "john@example.com"}, "shipping": {"address": {"city": "Paris", "country": "FR", "zip": "75001"}, "phone": {"number": "612345678", "country_code": "+33"}}"#), Answer(200)),
    row("duplicate reference", "POST /v2/payments", Secret, card_body!(r#""amount_details": {"currency": "EUR", "order_amount": 1000}"#, r#""merchant_reference_id": "order_1001_conformance_0000001""#), Error(400, "HE_01")),
    row("expired card payment", "POST /v2/payments", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "customer_id": "{customer}", "payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4242424242424242", "card_exp_month": "01", "card_exp_year": "20", "card_holder_name": "Joseph Doe", "card_cvc": "123"}}}"#, Error(400, "IR_16")),
    row("payment get", "GET /v2/payments/{payment}", Secret, "", Answer(200)),
    row("declined payment", "POST /v2/payments", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4000000000000002", "card_exp_month": "10", "card_exp_year": "35", "card_holder_name": "Joseph Doe", "card_cvc": "123"}}}"#, Answer(200)),
    row("declined payment get", "GET /v2/payments/{declined payment}", Secret, "", Answer(200)),
    row("guest payment get", "GET /v2/payments/{guest payment}", Secret, "", Answer(200)),
    row("intent", "POST /v2/payments/create-intent", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "customer_id": "{customer}", "capture_method": "manual"}"#, Answer(200)),
    row("intent get", "GET /v2/payments/{intent}/get-intent", Secret, "", Answer(200)),
    row("detailed intent", "POST /v2/payments/create-intent", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 6540}, "customer_id": "{customer}", "customer_present": "absent", "setup_future_usage": "off_session", "description": "Two books", "return_url": "https://shop.example/done", "statement_descriptor": "SHOP", "metadata": {"order": "42"}, "billing": {"address": {"city": "New York", "country": "US", "line1": "123, King Street", "zip": "08807", "first_name": "John", "last_name": "Doe"}, "email": "john@example.com"}, "shipping": {"address": {"city": "New York", "country": "US", "zip": "08807"}}, "order_details": [{"product_name": "Book", "quantity": 2, "amount": 3270}], "browser_info": {"user_agent": "Mozilla/5.0"}}"#, Answer(200)),
    row("detailed intent get", "GET /v2/payments/{detailed intent}/get-intent", Secret, "", Answer(200)),
    row("guest intent", "POST /v2/payments/create-intent", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 100}}"#, Answer(200)),
    row("guest intent get", "GET /v2/payments/{guest intent}/get-intent", Secret, "", Answer(200)),
    row("session tokens", "POST /payments/session_tokens", Publishable, r#"{"payment_id": "{intent}", "client_secret": "{intent.secret}", "wallets": ["google_pay"]}"#, Answer(200)),
    row("intent methods", "GET /v2/payments/{intent}/payment-methods", ClientSecret("intent.secret"), "", Answer(200)),
    row("intent methods wrong secret", "GET /v2/payments/{intent}/payment-methods", ClientSecret("guest intent.secret"), "", Error(400, "IR_09")),
    row("intent update", "PUT /v2/payments/{intent}/update-intent", Secret, r#"{"amount_details": {"order_amount": 6540, "currency": "USD"}, "metadata": {"order": "43"}}"#, Answer(200)),
    row("external sdk tokens", "POST /v2/payments/{intent}/create-external-sdk-tokens", ClientSecret("intent.secret"), "", Error(400, "IR_20")),
    row("intent confirm", "POST /v2/payments/{intent}/confirm-intent", Secret, card_body!(), Answer(200)),
    row("intent methods once confirmed", "GET /v2/payments/{intent}/payment-methods", ClientSecret("intent.secret"), "", Error(400, "IR_14")),
    row("update once confirmed", "PUT /v2/payments/{intent}/update-intent", Secret, r#"{"metadata": {"order": "44"}}"#, Error(400, "IR_14")),
    // A browser's confirmation, with the publishable key and the intent's client secret.
    row("browser intent", "POST /v2/payments/create-intent", Secret, r#"{"amount_details": {"currency": "EUR", "order_amount": 1999}, "customer_id": "{customer}"}"#, Answer(200)),
    row("browser confirm wrong secret", "POST /v2/payments/{browser intent}/confirm-intent", ClientSecret("intent.secret"), card_body!(), Error(400, "IR_09")),
    row("browser confirm", "POST /v2/payments/{browser intent}/confirm-intent", ClientSecret("browser intent.secret"), card_body!(), Answer(200)),
    row("payments list", "GET /v2/payments/list", Secret, "", Answer(200)),
    row("payments list filtered", "GET /v2/payments/list?status=succeeded&currency=USD&limit=2&order_on=amount&order_by=asc", Secret, "", Answer(200)),
    row("payments list no profile", "GET /v2/payments/list", SecretOnly, "", Error(422, "IR_06")),
    row("capture", "POST /v2/payments/{intent}/capture", Secret, r#"{"amount_to_capture": 6540}"#, Answer(200)),
    row("capture again", "POST /v2/payments/{intent}/capture", Secret, "{}", Error(400, "IR_14")),
    row("partial capture intent", "POST /v2/payments/create-intent", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 5000}, "capture_method": "manual"}"#, Answer(200)),
    row("partial capture confirm", "POST /v2/payments/{partial capture intent}/confirm-intent", Secret, card_body!(), Answer(200)),
    row("partial capture", "POST /v2/payments/{partial capture intent}/capture", Secret, r#"{"amount_to_capture": 2000}"#, Answer(200)),
    row("confirm again", "POST /v2/payments/{partial capture intent}/confirm-intent", Secret, card_body!(), Error(400, "IR_14")),
    row("cancel", "POST /v2/payments/{guest intent}/cancel", Secret, r#"{"cancellation_reason": "requested_by_customer"}"#, Answer(200)),
    row("cancel succeeded", "POST /v2/payments/{payment}/cancel", Secret, "{}", Error(400, "IR_14")),
    row("session tokens wrong secret", "POST /payments/session_tokens", Publishable, r#"{"payment_id": "{guest intent}", "client_secret": "{intent.secret}", "wallets": ["google_pay"]}"#, Error(400, "IR_09")),
    row("payment unknown", "GET /v2/payments/12345_pay_00000000000000000000000000000000", Secret, "", Error(404, "HE_02")),
    row("intent unknown", "GET /v2/payments/12345_pay_00000000000000000000000000000000/get-intent", Secret, "", Error(404, "HE_02")),
    row("payment no key", "GET /v2/payments/{payment}", Anonymous, "", Error(401, "IR_01")),
    row("payment wrong key", "POST /v2/payments", WrongKey, card_body!(r#""amount_details": {"currency": "USD", "order_amount": 6540}"#), Error(401, "IR_01")),
    row("payment no profile", "POST /v2/payments", SecretOnly, card_body!(r#""amount_details": {"currency": "USD", "order_amount": 6540}"#), Error(422, "IR_06")),
    row("payment malformed", "POST /v2/payments", Secret, r#"{"amount_details": "#, Error(400, "IR_06")),
    row("payment unknown field", "POST /v2/payments", Secret, card_body!(r#""amount_details": {"currency": "USD", "order_amount": 6540}"#, r#""colour": "blue""#), Error(400, "IR_06")),
    row("payment no amount", "POST /v2/payments", Secret, card_body!(), Error(400, "IR_06")),
    row("confirm unknown", "POST /v2/payments/12345_pay_00000000000000000000000000000000/confirm-intent", Secret, card_body!(), Error(404, "HE_02")),
    row("unknown route", "GET /v2/nothing-here", Secret, "", Error(404, "IR_02")),
    row("wrong method", "DELETE /v2/payments/{payment}", Secret, "", Error(405, "IR_03")),
    // Refunds.
    row("refund", "POST /v2/refunds", Secret, r#"{"payment_id": "{payment}", "merchant_reference_id": "ref_0001_conformance_000000001", "amount": 100, "reason": "Customer returned product"}"#, Answer(200)),
    row("refund get", "GET /v2/refunds/{refund}", Secret, "", Answer(200)),
    row("refund too much", "POST /v2/refunds", Secret, r#"{"payment_id": "{payment}", "merchant_reference_id": "ref_0002_conformance_000000002", "amount": 100000}"#, Error(400, "IR_13")),
    row("refund duplicate", "POST /v2/refunds", Secret, r#"{"payment_id": "{payment}", "merchant_reference_id": "ref_0001_conformance_000000001", "amount": 100}"#, Error(400, "HE_01")),
    row("refund metadata", "PUT /v2/refunds/{refund}/update-metadata", Secret, r#"{"reason": "Damaged in transit", "metadata": {"rma": "7"}}"#, Answer(200)),
    row("refund metadata unknown", "PUT /v2/refunds/12345_ref_00000000000000000000000000000000/update-metadata", Secret, r#"{"reason": "x"}"#, Error(404, "HE_02")),
    row("refunds list", "POST /v2/refunds/list", Secret, r#"{"payment_id": "{payment}", "limit": 5}"#, Answer(200)),
    row("refunds list bad", "POST /v2/refunds/list", Secret, r#"{"refund_status": ["maybe"]}"#, Error(400, "IR_06")),
    row("refund of unknown payment", "POST /v2/refunds", Secret, r#"{"payment_id": "12345_pay_00000000000000000000000000000000", "merchant_reference_id": "ref_0003_conformance_000000003"}"#, Error(404, "HE_02")),
    row("refund unknown", "GET /v2/refunds/12345_ref_00000000000000000000000000000000", Secret, "", Error(404, "HE_02")),
    // Payment methods.
    row("method", "POST /v2/payment-methods", Secret, r#"{"customer_id": "{customer}", "storage_type": "persistent", "payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "2035", "card_holder_name": "John Doe", "card_cvc": "123"}}}"#, Answer(200)),
    row("method get", "GET /v2/payment-methods/{method}", Secret, "", Answer(200)),
    row("saved methods", "GET /v2/customers/{customer}/saved-payment-methods", Secret, "", Answer(200)),
    row("paid with saved", "POST /v2/payments", Secret, r#"{"amount_details": {"currency": "USD", "order_amount": 700}, "customer_id": "{customer}", "payment_method_type": "card", "payment_method_id": "{method}"}"#, Answer(200)),
    row("method intent", "POST /v2/payment-methods/create-intent", Secret, r#"{"customer_id": "{customer}"}"#, Answer(200)),
    row("method intent confirm", "POST /v2/payment-methods/{method intent}/confirm-intent", Secret, r#"{"payment_method_type": "card", "payment_method_subtype": "credit", "payment_method_data": {"card": {"card_number": "5555555555554444", "card_exp_month": "11", "card_exp_year": "2034", "card_holder_name": "John Doe"}}}"#, Answer(200)),
    row("method unknown", "GET /v2/payment-methods/12345_pm_00000000000000000000000000000000", Secret, "", Error(404, "HE_02")),
    row("method update", "PUT /v2/payment-methods/{method}/update-saved-payment-method", Secret, r#"{"payment_method_data": {"card": {"card_holder_name": "Jane Doe"}}}"#, Answer(200)),
    row("method token details", "GET /v2/payment-methods/token/{method}/details", Secret, "", Answer(200)),
    row("method v1", "GET /v1/payment-methods/{method}", Secret, "", Answer(200)),
    row("method to delete", "POST /v2/payment-methods", Secret, r#"{"customer_id": "{customer}", "storage_type": "persistent", "payment_method_type": "card", "payment_method_subtype": "debit", "payment_method_data": {"card": {"card_number": "5555555555554444", "card_exp_month": "12", "card_exp_year": "2033", "card_holder_name": "John Doe"}}}"#, Answer(200)),
    row("method intent no customer", "POST /v2/payment-methods/create-intent", Secret, "{}", Error(400, "IR_06")),
    // Payment-method sessions.
    row("pm session", "POST /v2/payment-method-sessions", Secret, r#"{"customer_id": "{customer}", "storage_type": "persistent", "return_url": "https://shop.example/saved"}"#, Answer(200)),
    row("pm session get", "GET /v2/payment-method-sessions/{pm session}", Secret, "", Answer(200)),
    row("pm session methods", "GET /v2/payment-method-sessions/{pm session}/list-payment-methods", ClientSecret("pm session.secret"), "", Answer(200)),
    row("pm session confirm", "POST /v2/payment-method-sessions/{pm session}/confirm", ClientSecret("pm session.secret"), card_body!(), Answer(200)),
    row("pm session wrong secret", "GET /v2/payment-method-sessions/{pm session}/list-payment-methods", ClientSecret("intent.secret"), "", Error(400, "IR_09")),
    row("pm session unknown", "GET /v2/payment-method-sessions/12345_pms_00000000000000000000000000000000", Secret, "", Error(404, "HE_02")),
    row("pm session update", "PUT /v2/payment-method-sessions/{pm session}/update-saved-payment-method", ClientSecret("pm session.secret"), r#"{"payment_method_data": {"card": {"card_holder_name": "Jane Roe"}}}"#, Answer(200)),
    row("pm session delete", "DELETE /v2/payment-method-sessions/{pm session}", ClientSecret("pm session.secret"), r#"{"payment_method_token": "{method to delete}"}"#, Answer(200)),
    row("pm session delete again", "DELETE /v2/payment-method-sessions/{pm session}", ClientSecret("pm session.secret"), r#"{"payment_method_token": "{method to delete}"}"#, Error(404, "HE_02")),
    row("customer v1", "GET /v1/customers/{customer}", Secret, "", Answer(200)),
    // Events, of the payments above.
    Row { id_at: "/0/event_id", ..row("events", "GET /v2/events", Secret, "", Answer(200)) },
    row("event get", "GET /v2/events/{events}", Secret, "", Answer(200)),
    row("event attempts", "GET /v2/events/{events}/attempts", Secret, "", Answer(200)),
    row("events of a payment", "GET /v2/events?object_id={payment}", Secret, "", Answer(200)),
    row("event unknown", "GET /v2/events/evt_none", Secret, "", Error(404, "HE_02")),
    // Notifications from providers, to an account that does not exist.
    row("webhook unknown account", "POST /v2/webhooks/acme/web/nobody", Anonymous, r#"{"id": "evt_1"}"#, Error(404, "HE_02")),
    row("webhook unknown merchant account", "POST /v2/webhooks/acme/nobody", Anonymous, r#"{"id": "evt_1"}"#, Error(404, "HE_02")),
    // Ends, last: the method and the customer are gone after these.
    row("method delete", "DELETE /v2/payment-methods/{method}", Secret, "", Answer(200)),
    row("customer delete", "DELETE /v2/customers/{customer}", Secret, "", Answer(200)),
    row("method delete again", "DELETE /v2/payment-methods/{method}", Secret, "", Error(404, "HE_02")),
    row("customer delete again", "DELETE /v2/customers/{customer}", Secret, "", Error(404, "HE_02")),
];

/// Calls the v2 document has no operation for, and why: their answers are checked for their
/// status alone, their errors as every error is.
const NOT_IN_SPEC: &[(&str, &str)] = &[
    ("POST /v2/payments/{}/capture", "Hyperswitch's v2 capture is not in the document"),
    ("POST /v2/payments/{}/cancel", "Hyperswitch's v2 cancel is not in the document"),
    ("POST /payments/session_tokens", "the v1 path the SDK calls; the v2 document has create-external-sdk-tokens"),
    ("GET /v2/events", "switchyard's own: the document has no events paths"),
    ("GET /v2/events/{}", "switchyard's own: the document has no events paths"),
    ("GET /v2/events/{}/attempts", "switchyard's own: the document has no events paths"),
];

/// Fields of answers that deviate from the document, each by operation and JSON pointer (`*`
/// standing for any index of a list), and why.
const ALLOWED: &[(&str, &str, &str)] = &[
    // A guest's payment: the document wants a customer id, a payment without a customer has none.
    ("POST /v2/payments", "/customer_id", GUEST),
    ("GET /v2/payments/{id}", "/customer_id", GUEST),
    ("POST /v2/payments/create-intent", "/customer_id", GUEST),
    ("POST /v2/payments/{id}/confirm-intent", "/customer_id", GUEST),
    ("GET /v2/payments/{id}/get-intent", "/customer_id", GUEST),
    // The sandbox is switchyard's own connector, outside Hyperswitch's list of connectors.
    ("POST /v2/refunds", "/connector", SANDBOX),
    ("GET /v2/refunds/{id}", "/connector", SANDBOX),
    ("PUT /v2/refunds/{id}/update-metadata", "/connector", SANDBOX),
    ("POST /v2/refunds/list", "/data/*/connector", SANDBOX),
    ("GET /v2/payments/list", "/data/*/connector", SANDBOX),
    // The document requires a return URL of every listed payment, even one that has none.
    ("GET /v2/payments/list", "/data/*/return_url", NO_RETURN_URL),
    // What a payer's client may offer for a payment.
    ("GET /v2/payments/{id}/payment-methods", "/payment_methods_enabled/*/required_fields", REQUIRED_FIELDS),
    ("GET /v2/payments/{id}/payment-methods", "/payment_methods_enabled/*", NEITHER_CARD_NOR_BANK),
    // Required by the document, null in Hyperswitch's own answers too.
    ("POST /v2/payment-methods", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("GET /v2/payment-methods/{id}", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("POST /v2/payment-methods/create-intent", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("POST /v2/payment-methods/{id}/confirm-intent", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("POST /v2/payment-methods", "/raw_payment_method_data", RAW_CARD),
    ("GET /v2/payment-methods/{id}", "/raw_payment_method_data", RAW_CARD),
    ("POST /v2/payment-methods/create-intent", "/raw_payment_method_data", RAW_CARD),
    ("POST /v2/payment-methods/{id}/confirm-intent", "/raw_payment_method_data", RAW_CARD),
    ("PUT /v2/payment-methods/{id}/update-saved-payment-method", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("PUT /v2/payment-methods/{id}/update-saved-payment-method", "/raw_payment_method_data", RAW_CARD),
    ("GET /v1/payment-methods/{id}", "/network_transaction_id", NETWORK_TRANSACTION_ID),
    ("GET /v1/payment-methods/{id}", "/raw_payment_method_data", RAW_CARD),
];

const GUEST: &str = "a guest's payment (no customer_id in the request, as the walk-through's) answers customer_id null";
const SANDBOX: &str = "the sandbox connector is switchyard's own, not one of Hyperswitch's connectors";
const NETWORK_TRANSACTION_ID: &str =
    "the network gives this id to an off-session customer-initiated payment, which switchyard does not make: null";
const RAW_CARD: &str = "the raw card holds the number, which is never shown: null, as Hyperswitch answers unless asked";
const NO_RETURN_URL: &str = "a payment made without a return URL has none to list: null";
const REQUIRED_FIELDS: &str =
    "the document describes one required field, Hyperswitch's answer lists them: an empty list, none beyond the card's own";
const NEITHER_CARD_NOR_BANK: &str =
    "the document's entry names card networks or bank names; a wallet (or pay-by-bank) entry has neither";

/// `pointer` with each index of a list as `*`, as `ALLOWED` writes them.
fn any_index(pointer: &str) -> String {
    let segments =
        pointer.split('/').map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "*" } else { s });
    segments.collect::<Vec<_>>().join("/")
}

/// Hyperswitch's error answer: `{"error": {"type", "message", "code", …}}`, with the optional
/// `payment_id`, `data`, `connector` and `reason` of its `Extra`.
fn error_schema() -> Value {
    json!({
        "type": "object", "required": ["error"], "additionalProperties": false,
        "properties": { "error": {
            "type": "object", "required": ["type", "message", "code"], "additionalProperties": false,
            "properties": {
                "type": { "enum": ["invalid_request", "api", "connector"] },
                "message": { "type": "string", "minLength": 1 },
                "code": { "type": "string", "pattern": "^(IR|HE|CE|WE)_[0-9]{2}$" },
                "payment_id": { "type": "string" },
                "data": {},
                "connector": { "type": "string" },
                "reason": { "type": "string" }
            }
        }}
    })
}

/// The error type Hyperswitch gives a status and code: its connector errors (`CE_00`) are
/// `connector`, its 5xx `api`, every other `invalid_request`.
fn error_type(status: u16, code: &str) -> &'static str {
    match (status, code) {
        (_, "CE_00") => "connector",
        (500.., _) => "api",
        _ => "invalid_request",
    }
}

/// OpenAPI 3.0's `nullable: true`, in JSON Schema's terms: null, or what the schema says.
fn nullable_as_json_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(nullable_as_json_schema);
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                let rest = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([{ "type": "null" }, rest]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_as_json_schema),
        _ => {}
    }
}

struct Spec {
    doc: Value,
    /// The document's components, nullable rewritten, to resolve `$ref`s in.
    components: Value,
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl Spec {
    fn load() -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).expect("the document is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.0."), "nullable is read as OpenAPI 3.0 has it");
        let mut components = doc["components"].clone();
        nullable_as_json_schema(&mut components);
        Self { doc, components, validators: BTreeMap::new() }
    }

    /// The document's path for a call's (`/v2/payments/{}/capture`, placeholders as `{}`):
    /// the literal segments equal, a parameter wherever the call has a variable.
    fn operation(&self, method: &str, template: &str) -> Option<(String, Value)> {
        let segments: Vec<&str> = template.split('/').collect();
        self.doc["paths"].as_object()?.iter().find_map(|(path, ops)| {
            let theirs: Vec<&str> = path.split('/').collect();
            let same = theirs.len() == segments.len()
                && theirs.iter().zip(&segments).all(|(t, s)| match *s == "{}" {
                    true => t.starts_with('{'),
                    false => t == s,
                });
            let op = ops.get(method.to_lowercase())?;
            same.then(|| (format!("{method} {path}"), op.clone()))
        })
    }

    /// Validates `answer` against `schema` (a schema of the document's, `$ref`s into its
    /// components), as JSON Schema draft 4, which OpenAPI 3.0's schema objects extend.
    fn violations(&mut self, schema: &Value, answer: &Value) -> Vec<(String, String)> {
        let key = schema.to_string();
        let components = &self.components;
        let validator = self.validators.entry(key).or_insert_with(|| {
            let mut schema = schema.clone();
            nullable_as_json_schema(&mut schema);
            let root = json!({ "allOf": [schema], "components": components });
            jsonschema::draft4::options().should_validate_formats(true).build(&root).expect("the schema compiles")
        });
        validator
            .iter_errors(answer)
            .flat_map(|e| {
                let at = e.instance_path().as_str().to_string();
                // A missing or an unexpected field is named by its own pointer, so that an
                // allowance for it covers that field alone.
                let fields = match e.kind() {
                    ValidationErrorKind::Required { property } => {
                        vec![property.as_str().unwrap_or_default().to_string()]
                    }
                    ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.clone(),
                    _ => return vec![(at, e.to_string())],
                };
                fields.into_iter().map(|f| (format!("{at}/{f}"), e.to_string())).collect()
            })
            .collect()
    }
}

/// `text` with every `{name}` replaced by the variable's value.
fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The `{variable}`s `text` uses that are not set.
fn unset(text: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == ' ' || c == '.'))
        .filter(|name| !vars.contains_key(*name))
        .map(str::to_string)
        .collect()
}

/// The call's path as a template: each `{variable}` as `{}`, the query left out.
fn template(path: &str) -> String {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

async fn send(app: &TestApp, row: &Row, vars: &BTreeMap<String, String>) -> (u16, Value) {
    let (method, path) = row.call.split_once(' ').expect("METHOD /path");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = app.client.request(method, format!("{}{}", app.base, fill(path, vars)));
    req = match row.auth {
        Anonymous => req,
        WrongKey => req.header("api-key", "sy_sk_nobodyNobody000000000000000000000"),
        Secret => req.header("api-key", ACME_KEY).header("X-Profile-Id", "web"),
        SecretOnly => req.header("api-key", ACME_KEY),
        Publishable => req.header("api-key", ACME_PK),
        ClientSecret(var) => {
            let secret = vars.get(var).map_or("", String::as_str);
            req.header("Authorization", format!("publishable-key={ACME_PK},client-secret={secret}"))
        }
    };
    if !row.body.is_empty() {
        req = req.header("Content-Type", "application/json").body(fill(row.body, vars));
    }
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body read");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_follows_hyperswitchs_schemas() {
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    // Events are kept of what is sent; nothing listens on the discard port, so each try fails.
    send_webhooks(&mut config, "http://127.0.0.1:9/hooks", "hook-key");
    let app = TestApp::start_with(dir, config).await;
    let mut spec = Spec::load();
    let errors = error_schema();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut violations: Vec<String> = Vec::new();
    let mut allowed_used = vec![false; ALLOWED.len()];

    for row in ROWS {
        let (method, path) = row.call.split_once(' ').unwrap();
        let mut report = |what: String| violations.push(format!("{} ({}): {what}", row.name, row.call));
        let secret = match row.auth {
            ClientSecret(var) => format!("{{{var}}}"),
            _ => String::new(),
        };
        let missing = unset(&format!("{path}{}{secret}", row.body), &vars);
        if !missing.is_empty() {
            report(format!("not called: an earlier row was to set {missing:?}"));
            continue;
        }
        let (status, answer) = send(&app, row, &vars).await;
        let template = template(path);
        match row.want {
            Answer(want) => {
                if status != want {
                    report(format!("status {status}, not {want}: {answer}"));
                    continue;
                }
                let id = match row.id_at {
                    "" => "/id",
                    at => at,
                };
                if let Some(id) = answer.pointer(id).and_then(Value::as_str) {
                    vars.insert(row.name.to_string(), id.to_string());
                }
                if let Some(secret) = answer["client_secret"].as_str() {
                    vars.insert(format!("{}.secret", row.name), secret.to_string());
                }
                let Some((operation, op)) = spec.operation(method, &template) else {
                    if !NOT_IN_SPEC.iter().any(|(call, _)| *call == format!("{method} {template}")) {
                        report("the document has no such operation, and NOT_IN_SPEC does not name it".into());
                    }
                    continue;
                };
                let Some(schema) = op.pointer(&format!("/responses/{status}/content/application~1json/schema")) else {
                    report(format!("{operation} documents no JSON answer for {status}"));
                    continue;
                };
                for (pointer, message) in spec.violations(schema, &answer) {
                    let pattern = any_index(&pointer);
                    match ALLOWED.iter().position(|(op, at, _)| *op == operation && *at == pattern) {
                        Some(i) => allowed_used[i] = true,
                        None => report(format!("{pointer}: {message}")),
                    }
                }
            }
            Error(want_status, want_code) => {
                for (pointer, message) in spec.violations(&errors, &answer) {
                    report(format!("not Hyperswitch's error format at `{pointer}`: {message}: {answer}"));
                }
                let code = answer["error"]["code"].as_str().unwrap_or_default();
                let kind = answer["error"]["type"].as_str().unwrap_or_default();
                if (status, code) != (want_status, want_code) {
                    report(format!("{status} {code}, where Hyperswitch answers {want_status} {want_code}: {answer}"));
                }
                if kind != error_type(status, code) {
                    report(format!(
                        "error type `{kind}`, where Hyperswitch's {status} {code} is `{}`",
                        error_type(status, code)
                    ));
                }
            }
        }
    }
    for (i, (op, at, _)) in ALLOWED.iter().enumerate() {
        if !allowed_used[i] {
            violations.push(format!("ALLOWED names {op} {at}, which every answer now follows: remove it"));
        }
    }
    app.stop().await;
    assert!(violations.is_empty(), "{} violations:\n{}", violations.len(), violations.join("\n"));
}
