//! Bad requests: every one is a clear 4xx in the wire format, names the field at fault, never
//! echoes card data, and stores nothing.

use crate::common;

use common::*;
use reqwest::{header, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// Rows in every table a request could write.
async fn counts(app: &TestApp) -> [i64; 4] {
    [
        app.count("payment_intents").await,
        app.count("payment_attempts").await,
        app.count("refunds").await,
        app.count("customers").await,
    ]
}

/// A request as acme/web, without a body yet.
fn acme(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.client.request(method, format!("{}{path}", app.base)).header("api-key", ACME_KEY).header("X-Profile-Id", "web")
}

/// Sends `req`, which must be refused with a 4xx in the wire format while nothing is stored.
/// Returns the status and the parsed body.
async fn refused(app: &TestApp, req: RequestBuilder) -> (StatusCode, Value) {
    let before = counts(app).await;
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let text = res.text().await.expect("body read");
    assert!(status.is_client_error(), "want a 4xx, got {status}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: body is not JSON: {text:?}"));
    assert_eq!(body["error"]["type"], "invalid_request", "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(counts(app).await, before, "a refused request stored something: {body}");
    (status, body)
}

/// POSTs `body` as JSON, as acme/web; it must be refused with `status` and `code`. Returns the message.
async fn post_refused(app: &TestApp, path: &str, body: &Value, status: u16, code: &str) -> String {
    let (got, body) = refused(app, acme(app, Method::POST, path).json(body)).await;
    assert_error(got, &body, status, code)
}

/// `value` with the field at JSON pointer `pointer` set to `to` (created when missing).
fn with(mut value: Value, pointer: &str, to: Value) -> Value {
    let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
    let parent = if parent.is_empty() { &mut value } else { value.pointer_mut(parent).expect("parent exists") };
    parent.as_object_mut().expect("an object").insert(field.to_string(), to);
    value
}

/// `value` without the field at JSON pointer `pointer`.
fn without(mut value: Value, pointer: &str) -> Value {
    let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
    let parent = if parent.is_empty() { &mut value } else { value.pointer_mut(parent).expect("parent exists") };
    parent.as_object_mut().expect("an object").remove(field).expect("field was there");
    value
}

fn card() -> Value {
    payment("4242424242424242")
}

/// A manual-capture payment waiting for capture, and an automatic one that succeeded.
async fn payments_to_act_on(app: &TestApp) -> (String, String) {
    let (status, body) = app.post("/v2/payments", with(card(), "/capture_method", json!("manual"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_capture");
    let manual = body["id"].as_str().unwrap().to_string();
    let (status, body) = app.post("/v2/payments", card()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    (manual, body["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn malformed_bodies_are_400_or_422() {
    let app = TestApp::start().await;
    let json_post = |body: &'static str| {
        acme(&app, Method::POST, "/v2/payments").header(header::CONTENT_TYPE, "application/json").body(body)
    };

    let (status, body) = refused(&app, json_post(r#"{"amount_details":"#)).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.starts_with("malformed JSON"), "{message}");

    let (status, body) = refused(&app, json_post("[1,2]")).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.contains("JSON object"), "{message}");

    for not_an_object in ["null", "\"a string\"", "42"] {
        let (status, body) = refused(&app, json_post(not_an_object)).await;
        assert_error(status, &body, 400, "IR_06");
    }

    for empty in ["", "   \n"] {
        let (status, body) = refused(&app, json_post(empty)).await;
        assert_error(status, &body, 400, "IR_06");
    }

    // Trailing garbage after a valid object.
    let (status, body) = refused(&app, json_post(r#"{"amount_details":{}} x"#)).await;
    assert_error(status, &body, 400, "IR_06");

    // Nesting deeper than the parser allows is malformed, not a crash.
    let deep: &'static str = Box::leak(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_boxed_str());
    let (status, body) = refused(&app, json_post(deep)).await;
    assert_error(status, &body, 400, "IR_06");

    // Bodies of the single-struct endpoints too.
    let (manual, _) = payments_to_act_on(&app).await;
    let capture = format!("/v2/payments/{manual}/capture");
    let req = acme(&app, Method::POST, &capture).header(header::CONTENT_TYPE, "application/json").body("{");
    let (status, body) = refused(&app, req).await;
    assert_error(status, &body, 400, "IR_06");
    let req = acme(&app, Method::POST, &capture).header(header::CONTENT_TYPE, "application/json").body("[1,2]");
    let (status, body) = refused(&app, req).await;
    assert_error(status, &body, 400, "IR_06");
    app.stop().await;
}

#[tokio::test]
async fn missing_fields_are_400_ir_04_naming_the_field() {
    let app = TestApp::start().await;
    let cases = [
        (without(card(), "/amount_details"), "amount_details"),
        (without(card(), "/amount_details/currency"), "amount_details.currency"),
        (without(card(), "/amount_details/order_amount"), "amount_details.order_amount"),
        (without(card(), "/payment_method_data/card/card_cvc"), "payment_method_data.card.card_cvc"),
        (without(card(), "/payment_method_data/card/card_number"), "payment_method_data.card.card_number"),
        (without(card(), "/payment_method_data/card/card_exp_month"), "payment_method_data.card.card_exp_month"),
        (without(card(), "/payment_method_type"), "payment_method_type"),
        (without(card(), "/payment_method_data"), "payment_method_data"),
        (without(card(), "/payment_method_data/card"), "payment_method_data.card"),
    ];
    for (body, field) in cases {
        let message = post_refused(&app, "/v2/payments", &body, 400, "IR_06").await;
        assert_eq!(message, format!("{field}: missing required field"), "{body}");
    }

    // A body-less POST reads as `{}`.
    let (status, body) = refused(&app, acme(&app, Method::POST, "/v2/payments")).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.contains("amount_details"), "{message}");

    // Refunds and create-intent name their required fields too.
    let message = post_refused(&app, "/v2/refunds", &json!({ "merchant_reference_id": "r1" }), 400, "IR_06").await;
    assert_eq!(message, "payment_id: missing required field");
    let message = post_refused(&app, "/v2/refunds", &json!({ "payment_id": "sy_pay_x" }), 400, "IR_06").await;
    assert_eq!(message, "merchant_reference_id: missing required field");
    let message = post_refused(&app, "/v2/payments/create-intent", &json!({}), 400, "IR_06").await;
    assert_eq!(message, "amount_details: missing required field");
    app.stop().await;
}

#[tokio::test]
async fn wrongly_typed_fields_are_400_and_values_out_of_range_422_naming_the_field() {
    let app = TestApp::start().await;
    // A value of the wrong JSON type, or a name outside an enumeration, is refused by the decoder
    // (400, as Hyperswitch's); a value the field may not hold, by the field's own check (422) —
    // card fields sent as numbers among them, whose check words its refusal without the number.
    let cases = [
        (with(card(), "/amount_details/order_amount", json!("ten")), "amount_details.order_amount", 400),
        (with(card(), "/amount_details/order_amount", json!(10.5)), "amount_details.order_amount", 400),
        (with(card(), "/amount_details/order_amount", json!(null)), "amount_details.order_amount", 400),
        (
            with(card(), "/payment_method_data/card/card_exp_month", json!(10)),
            "payment_method_data.card.card_exp_month",
            422,
        ),
        (
            with(card(), "/payment_method_data/card/card_exp_year", json!(35)),
            "payment_method_data.card.card_exp_year",
            422,
        ),
        (with(card(), "/capture_method", json!("sometimes")), "capture_method", 400),
        (with(card(), "/authentication_type", json!("maybe")), "authentication_type", 400),
        (with(card(), "/payment_method_data/card", json!("4242424242424242")), "payment_method_data.card", 400),
        (with(card(), "/amount_details/shipping_cost", json!(-1)), "amount_details.shipping_cost", 422),
        (with(card(), "/metadata", json!([1, 2])), "metadata", 400),
    ];
    for (body, field, status) in cases {
        let message = post_refused(&app, "/v2/payments", &body, status, "IR_06").await;
        assert!(message.starts_with(&format!("{field}: ")), "{message} (for {body})");
    }
    app.stop().await;
}

/// Found by schemathesis: serde's derive reads a struct from a JSON array too, by position, so
/// `"billing": [null]` was taken as an empty address. The document says objects, and so do the
/// decoders now.
#[tokio::test]
async fn objects_given_as_arrays_are_400_naming_the_field() {
    let app = TestApp::start().await;
    let card_fields = json!(["4242424242424242", "10", "35", "joseph Doe", "123"]);
    let cases = [
        ("/v2/payments", with(card(), "/amount_details", json!([6540, "USD"])), "amount_details"),
        ("/v2/payments", with(card(), "/billing", json!([null])), "billing"),
        ("/v2/payments", with(card(), "/shipping", json!([{ "city": "Paris" }])), "shipping"),
        ("/v2/payments", with(card(), "/payment_method_data/card", card_fields), "payment_method_data.card"),
        ("/v2/payments/create-intent", json!({ "amount_details": [100, "EUR"] }), "amount_details"),
    ];
    for (path, body, field) in cases {
        let message = post_refused(&app, path, &body, 400, "IR_06").await;
        assert!(message.starts_with(&format!("{field}: invalid type: sequence, expected struct")), "{message}");
    }
    app.stop().await;
}

/// Found by schemathesis: JSON Schema's `integer` takes `6540.0`, which the decoders refused.
/// A zero fraction is taken now; any other is still refused (above).
#[tokio::test]
async fn integers_with_a_zero_fraction_are_those_integers() {
    let app = TestApp::start().await;
    let body = with(card(), "/amount_details/order_amount", json!(6540.0));
    let payment = pay(&app, body).await;
    assert_eq!(payment["amount"]["order_amount"], 6540, "{payment}");
    let message =
        post_refused(&app, "/v2/payments", &with(card(), "/amount_details/order_amount", json!(65.4)), 400, "IR_06")
            .await;
    assert!(message.starts_with("amount_details.order_amount: "), "{message}");
    app.stop().await;
}

/// Found by schemathesis: the document lets capture and cancel go without a body, and a JSON
/// `null` is no body; it was refused as not being an object.
#[tokio::test]
async fn a_null_body_captures_and_cancels_like_no_body() {
    let app = TestApp::start().await;
    let (manual, _) = payments_to_act_on(&app).await;
    let res =
        acme(&app, Method::POST, &format!("/v2/payments/{manual}/capture")).json(&Value::Null).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "succeeded", "{body}");
    let (manual, _) = payments_to_act_on(&app).await;
    let res =
        acme(&app, Method::POST, &format!("/v2/payments/{manual}/cancel")).json(&Value::Null).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "cancelled", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_lowercase_currencies_are_422() {
    let app = TestApp::start().await;
    for currency in ["XYZ", "usd", "", "USDX", "US"] {
        let body = with(card(), "/amount_details/currency", json!(currency));
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with("amount_details.currency: "), "{message}");
        let body = json!({ "amount_details": { "currency": currency, "order_amount": 100 } });
        let message = post_refused(&app, "/v2/payments/create-intent", &body, 422, "IR_06").await;
        assert!(message.starts_with("amount_details.currency: "), "{message}");
    }
    let message =
        post_refused(&app, "/v2/payments", &with(card(), "/amount_details/currency", json!(840)), 400, "IR_06").await;
    assert!(message.starts_with("amount_details.currency: "), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn zero_negative_and_oversized_amounts_are_422() {
    let app = TestApp::start().await;
    for amount in [json!(0), json!(-100), json!(1_000_000_000_000i64), json!(i64::MAX), json!(u64::MAX)] {
        let body = with(card(), "/amount_details/order_amount", amount.clone());
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with("amount_details.order_amount: "), "{amount}: {message}");
        let body = json!({ "amount_details": { "currency": "USD", "order_amount": amount } });
        let message = post_refused(&app, "/v2/payments/create-intent", &body, 422, "IR_06").await;
        assert!(message.starts_with("amount_details.order_amount: "), "{amount}: {message}");
    }

    let (manual, succeeded) = payments_to_act_on(&app).await;
    for amount in [json!(0), json!(-1)] {
        let path = format!("/v2/payments/{manual}/capture");
        let message = post_refused(&app, &path, &json!({ "amount_to_capture": amount }), 422, "IR_06").await;
        assert!(message.starts_with("amount_to_capture: "), "{message}");
    }
    for amount in [json!(-5), json!(0)] {
        let body = json!({ "payment_id": succeeded, "merchant_reference_id": "r_bad", "amount": amount });
        let message = post_refused(&app, "/v2/refunds", &body, 422, "IR_06").await;
        assert!(message.starts_with("amount: "), "{message}");
    }
    // The payments those were aimed at are as they were.
    let (_, body) = app.get(&format!("/v2/payments/{manual}")).await;
    assert_eq!(body["status"], "requires_capture");
    assert_eq!(body["amount"]["amount_captured"], 0);
    let (_, body) = app.get(&format!("/v2/payments/{succeeded}")).await;
    assert_eq!(body["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_net_amount_over_the_maximum_is_refused_before_anything_is_stored() {
    let app = TestApp::start().await;
    // Each part is within bounds; their sum, 1_000_000_000_000, is not.
    let amounts = json!({ "currency": "USD", "order_amount": 999_999_999_999i64, "shipping_cost": 1 });
    let message =
        post_refused(&app, "/v2/payments", &with(card(), "/amount_details", amounts.clone()), 422, "IR_06").await;
    assert!(message.starts_with("amount_details"), "{message}");

    // Such an intent can never be confirmed: refusing it at creation is fine, and so is refusing
    // the confirmation, as long as the confirmation leaves the intent as it was.
    let req = acme(&app, Method::POST, "/v2/payments/create-intent").json(&json!({ "amount_details": amounts }));
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    if status.is_client_error() {
        assert_error(status, &body, 422, "IR_06");
        assert_eq!(counts(&app).await, [0, 0, 0, 0]);
    } else {
        assert_eq!(status, 200, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let confirm = format!("/v2/payments/{id}/confirm-intent");
        let message = post_refused(&app, &confirm, &card_method("4242424242424242"), 422, "IR_06").await;
        assert!(message.starts_with("amount_details"), "{message}");
        let (_, body) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
        assert_eq!(body["status"], "requires_payment_method", "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_card_numbers_are_422_and_never_echoed() {
    let app = TestApp::start().await;
    let cases = [
        (json!("4242424242424241"), "4242424242424241", "Luhn"),
        (json!("4242"), "4242", "12 to 19 digits"),
        (json!("42424242424242424242"), "42424242424242424242", "12 to 19 digits"),
        (json!("4242-4242-4242-4242"), "4242-4242-4242-4242", "only digits"),
        (json!(""), "", "12 to 19 digits"),
        (json!(4242424242424242u64), "4242424242424242", "string"),
        (json!(4242424242424241u64), "4242424242424241", "string"),
    ];
    for (number, sent, says) in cases {
        let body = with(card(), "/payment_method_data/card/card_number", number.clone());
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with("payment_method_data.card.card_number: "), "{message}");
        assert!(message.contains(says), "{number}: {message}");
        if !sent.is_empty() {
            assert!(!message.contains(sent), "the message echoes the number: {message}");
        }
        assert!(!message.contains("424242"), "the message echoes part of the number: {message}");
    }

    // The same through confirm-intent: the intent stays unconfirmed.
    let (status, body) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 100 } }))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let confirm = format!("/v2/payments/{id}/confirm-intent");
    let message = post_refused(&app, &confirm, &card_method("4242424242424241"), 422, "IR_06").await;
    assert_eq!(message, "payment_method_data.card.card_number: card number fails the Luhn check");
    let (_, body) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(body["status"], "requires_payment_method");
    app.stop().await;
}

#[tokio::test]
async fn bad_expiry_dates_are_422_naming_the_field() {
    let app = TestApp::start().await;
    let cases = [
        ("card_exp_month", json!("13")),
        ("card_exp_month", json!("00")),
        ("card_exp_month", json!("0")),
        ("card_exp_month", json!("")),
        ("card_exp_month", json!("123")),
        ("card_exp_month", json!("1a")),
        ("card_exp_year", json!("2")),
        ("card_exp_year", json!("203")),
        ("card_exp_year", json!("1999")),
        ("card_exp_year", json!("20355")),
        ("card_exp_year", json!("")),
    ];
    for (field, value) in cases {
        let body = with(card(), &format!("/payment_method_data/card/{field}"), value.clone());
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with(&format!("payment_method_data.card.{field}: ")), "{value}: {message}");
    }

    // Profile `web` refuses cards that have expired; it says which field is at fault.
    let body = with(card(), "/payment_method_data/card/card_exp_month", json!("01"));
    let body = with(body, "/payment_method_data/card/card_exp_year", json!("20"));
    let message = post_refused(&app, "/v2/payments", &body, 400, "IR_16").await;
    assert!(message.starts_with("payment_method_data.card.card_exp_year: "), "{message}");
    assert!(message.contains("expired"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn bad_security_codes_are_422_and_never_echoed() {
    let app = TestApp::start().await;
    for cvc in [json!("12"), json!("12345"), json!("abc"), json!("1 23"), json!(""), json!(123)] {
        let body = with(card(), "/payment_method_data/card/card_cvc", cvc.clone());
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with("payment_method_data.card.card_cvc: "), "{cvc}: {message}");
        let sent = match &cvc {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !sent.is_empty() {
            assert!(!message.contains(&sent), "the message echoes the code {sent}: {message}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_top_level_fields_are_400_naming_them() {
    let app = TestApp::start().await;
    let message = post_refused(&app, "/v2/payments", &with(card(), "/amout", json!(1)), 400, "IR_06").await;
    assert_eq!(message, "amout: unknown field");

    // Card fields do not belong in create-intent, nor intent fields in confirm-intent.
    let intent = json!({ "amount_details": { "currency": "USD", "order_amount": 100 }, "payment_method_type": "card" });
    let message = post_refused(&app, "/v2/payments/create-intent", &intent, 400, "IR_06").await;
    assert_eq!(message, "payment_method_type: unknown field");
    let (status, body) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 100 } }))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let message = post_refused(&app, &format!("/v2/payments/{id}/confirm-intent"), &card(), 400, "IR_06").await;
    assert_eq!(message, "amount_details: unknown field");
    let (_, body) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(body["status"], "requires_payment_method");
    app.stop().await;
}

/// Unknown fields that a struct refuses itself (`deny_unknown_fields`): inside the card, the
/// amounts, the payment method data, and at the top of capture, cancel and refund bodies.
#[tokio::test]
async fn unknown_nested_fields_are_named_once() {
    let app = TestApp::start().await;
    let (manual, succeeded) = payments_to_act_on(&app).await;
    let cases = [
        (
            "/v2/payments".to_string(),
            with(card(), "/payment_method_data/card/card_pin", json!("1234")),
            "payment_method_data.card.card_pin",
        ),
        (
            "/v2/payments".to_string(),
            with(card(), "/payment_method_data/wallet", json!({})),
            "payment_method_data.wallet",
        ),
        ("/v2/payments".to_string(), with(card(), "/amount_details/tip", json!(5)), "amount_details.tip"),
        (format!("/v2/payments/{manual}/capture"), json!({ "amount": 100 }), "amount"),
        (format!("/v2/payments/{manual}/cancel"), json!({ "reason": "x" }), "reason"),
        (
            "/v2/refunds".to_string(),
            json!({ "payment_id": succeeded, "merchant_reference_id": "r1", "amout": 5 }),
            "amout",
        ),
    ];
    for (path, body, field) in cases {
        let message = post_refused(&app, &path, &body, 400, "IR_06").await;
        assert_eq!(message, format!("{field}: unknown field"), "{path} {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn merchant_identifiers_and_addresses_are_checked() {
    let app = TestApp::start().await;
    let cases = [
        (with(card(), "/merchant_reference_id", json!("a".repeat(31))), "merchant_reference_id"),
        (with(card(), "/merchant_reference_id", json!("has space")), "merchant_reference_id"),
        (with(card(), "/merchant_reference_id", json!("")), "merchant_reference_id"),
        (with(card(), "/merchant_reference_id", json!("ünicode")), "merchant_reference_id"),
        (with(card(), "/customer_id", json!("c".repeat(65))), "customer_id"),
        (with(card(), "/billing", json!({ "address": { "country": "usa" } })), "billing.address.country"),
        (with(card(), "/billing", json!({ "address": { "country": "us" } })), "billing.address.country"),
        (with(card(), "/shipping", json!({ "address": { "country": "USA" } })), "shipping.address.country"),
        (
            with(card(), "/payment_method_data/billing", json!({ "address": { "country": "usa" } })),
            "payment_method_data.billing.address.country",
        ),
    ];
    for (body, field) in cases {
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with(&format!("{field}: ")), "{message} (for {body})");
    }

    // The longest identifiers accepted are accepted (a customer id that long is looked for).
    let body = with(card(), "/merchant_reference_id", json!("a".repeat(30)));
    let (status, body) = app.post("/v2/payments", body).await;
    assert_eq!(status, 200, "{body}");
    let body = with(card(), "/customer_id", json!("c".repeat(64)));
    post_refused(&app, "/v2/payments", &body, 404, "HE_02").await;

    // Refund references are bounded too.
    let (_, succeeded) = payments_to_act_on(&app).await;
    let refund = json!({ "payment_id": succeeded, "merchant_reference_id": "r".repeat(65) });
    let message = post_refused(&app, "/v2/refunds", &refund, 422, "IR_06").await;
    assert!(message.starts_with("merchant_reference_id: "), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_unread() {
    let app = TestApp::start().await;
    let limit = app.config.server.max_body_bytes;
    assert_eq!(limit, 65536);
    let padded = |len: usize| {
        // A payment whose serialized form is exactly `len` bytes: JSON may end in whitespace.
        let mut bytes = serde_json::to_vec(&card()).unwrap();
        bytes.resize(len, b' ');
        bytes
    };

    let req = acme(&app, Method::POST, "/v2/payments").header(header::CONTENT_TYPE, "application/json");
    let (status, body) = refused(&app, req.body(padded(limit + 1))).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.contains("65536"), "{message}");

    let req = acme(&app, Method::POST, "/v2/payments").header(header::CONTENT_TYPE, "application/json");
    let (status, body) = refused(&app, req.body(padded(70 * 1024))).await;
    assert_error(status, &body, 400, "IR_06");

    // Exactly at the limit is accepted.
    let res = acme(&app, Method::POST, "/v2/payments")
        .header(header::CONTENT_TYPE, "application/json")
        .body(padded(limit))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_refused() {
    let app = TestApp::start().await;
    let json_text = serde_json::to_string(&card()).unwrap();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut req = acme(&app, Method::POST, "/v2/payments").body(json_text.clone());
        if let Some(content_type) = content_type {
            req = req.header(header::CONTENT_TYPE, content_type);
        }
        let (status, body) = refused(&app, req).await;
        let message = assert_error(status, &body, 400, "IR_06");
        assert!(message.contains("application/json"), "{message}");
    }
    // A charset parameter or different case is still JSON.
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let res = acme(&app, Method::POST, "/v2/payments")
            .header(header::CONTENT_TYPE, content_type)
            .body(json_text.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{content_type}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_wire_format() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/v2/nope"),
        (Method::POST, "/v2/payments/sy_pay_x/refund"),
        (Method::GET, "/v1/payments"),
        (Method::GET, "/"),
    ] {
        let (status, body) = refused(&app, acme(&app, method.clone(), path)).await;
        let message = assert_error(status, &body, 404, "IR_02");
        assert!(message.contains(path), "{method} {path}: {message}");
    }
    // Unknown routes answer the same without a key.
    let (status, body) = app.call(Method::GET, "/v2/nope", None, None, None).await;
    assert_error(status, &body, 404, "IR_02");

    for (method, path) in [
        (Method::DELETE, "/v2/payments"),
        (Method::GET, "/v2/payments"),
        (Method::PUT, "/v2/refunds/sy_ref_x"),
        (Method::GET, "/v2/payments/sy_pay_x/capture"),
        (Method::POST, "/health"),
    ] {
        let (status, body) = refused(&app, acme(&app, method.clone(), path)).await;
        let message = assert_error(status, &body, 405, "IR_03");
        assert!(message.contains(method.as_str()) && message.contains(path), "{method} {path}: {message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn payment_methods_other_than_cards_are_refused() {
    let app = TestApp::start().await;
    for kind in ["wallet", "Card", "", "bank_transfer"] {
        let body = with(card(), "/payment_method_type", json!(kind));
        let message = post_refused(&app, "/v2/payments", &body, 400, "IR_06").await;
        assert!(message.starts_with("payment_method_type: "), "{kind}: {message}");
    }
    for subtype in ["klarna", "apple_pay", "CREDIT"] {
        let body = with(card(), "/payment_method_subtype", json!(subtype));
        let message = post_refused(&app, "/v2/payments", &body, 422, "IR_06").await;
        assert!(message.starts_with("payment_method_subtype: "), "{subtype}: {message}");
    }
    // Debit is a card subtype.
    let (status, body) = app.post("/v2/payments", with(card(), "/payment_method_subtype", json!("debit"))).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn over_long_reasons_are_422() {
    let app = TestApp::start().await;
    let (manual, succeeded) = payments_to_act_on(&app).await;
    let path = format!("/v2/payments/{manual}/cancel");
    let message = post_refused(&app, &path, &json!({ "cancellation_reason": "r".repeat(256) }), 422, "IR_06").await;
    assert!(message.starts_with("cancellation_reason: "), "{message}");
    let refund = json!({ "payment_id": succeeded, "merchant_reference_id": "r1", "reason": "r".repeat(256) });
    let message = post_refused(&app, "/v2/refunds", &refund, 422, "IR_06").await;
    assert!(message.starts_with("reason: "), "{message}");
    let refund = json!({ "payment_id": succeeded, "merchant_reference_id": "r1", "merchant_id": "globex" });
    let message = post_refused(&app, "/v2/refunds", &refund, 422, "IR_06").await;
    assert!(message.starts_with("merchant_id: "), "{message}");
    let (_, body) = app.get(&format!("/v2/payments/{manual}")).await;
    assert_eq!(body["status"], "requires_capture");
    app.stop().await;
}

/// Return URLs a payer's browser would be sent to as they are.
fn bad_urls() -> Vec<(String, &'static str)> {
    vec![
        ("javascript:alert(document.cookie)".into(), "must be an http:// or https:// URL"),
        ("data:text/html,<script>alert(1)</script>".into(), "must be an http:// or https:// URL"),
        ("ftp://shop.example/back".into(), "must be an http:// or https:// URL"),
        ("https://".into(), "must name a host"),
        ("http:///back".into(), "must name a host"),
        ("https://shop.example/back\r\nSet-Cookie: a=b".into(), "must not hold control characters or spaces"),
        ("https://shop.example/\u{7}back".into(), "must not hold control characters or spaces"),
        ("https://shop.example/a b".into(), "must not hold control characters or spaces"),
        (format!("https://shop.example/{}", "a".repeat(2048)), "must be at most 2048 characters"),
    ]
}

#[tokio::test]
async fn return_urls_are_http_urls_without_control_characters_and_bounded() {
    let app = TestApp::start().await;
    let (status, intent) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 500 } }))
        .await;
    assert_eq!(status, 200, "{intent}");
    let confirm = format!("/v2/payments/{}/confirm-intent", id_of(&intent));
    let (status, customer) =
        app.post("/v2/customers", json!({ "name": "John Doe", "email": "john@example.com" })).await;
    assert_eq!(status, 200, "{customer}");
    let session = json!({ "customer_id": id_of(&customer), "storage_type": "volatile" });
    let intent_body = json!({ "amount_details": { "currency": "USD", "order_amount": 500 } });
    let sessions = app.count("payment_method_sessions").await;
    for (url, why) in bad_urls() {
        for (path, body) in [
            ("/v2/payments", card()),
            ("/v2/payments/create-intent", intent_body.clone()),
            (confirm.as_str(), card_method("4242424242424242")),
            ("/v2/payment-method-sessions", session.clone()),
        ] {
            let body = with(body, "/return_url", json!(url));
            let message = post_refused(&app, path, &body, 422, "IR_06").await;
            assert_eq!(message, format!("return_url: {why}"), "{path} {url:?}");
        }
    }
    assert_eq!(app.count("payment_method_sessions").await, sessions);
    let (status, body) = app.get(&format!("/v2/payments/{}", id_of(&intent))).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("requires_payment_method")), "{body}");

    // Any http(s) URL with a host is taken, the scheme in any case.
    let paid = pay(&app, with(card(), "/return_url", json!("HTTPS://shop.example/back?order=1#done"))).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    app.stop().await;
}

#[tokio::test]
async fn an_object_with_a_key_twice_is_refused_at_any_depth() {
    let app = TestApp::start().await;
    let body = card().to_string();
    let amount = r#""order_amount":6540"#;
    assert!(body.contains(amount), "{body}");
    let twice = [
        // The amount a reader of the bytes sees first is not the one serde_json keeps.
        body.replacen(amount, r#""order_amount":1,"order_amount":777"#, 1),
        body.replacen('{', r#"{"capture_method":"manual","capture_method":"automatic","#, 1),
        with(card(), "/metadata", json!({ "order": { "items": [{ "sku": "a" }] } }))
            .to_string()
            .replace(r#""sku":"a""#, r#""sku":"a","sku":"b""#),
    ];
    for body in twice {
        let req = acme(&app, Method::POST, "/v2/payments")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        let (status, answer) = refused(&app, req).await;
        let message = assert_error(status, &answer, 400, "IR_06");
        assert!(message.contains("appears twice in one object"), "{body}: {message}");
    }
    // The same key in two different objects is no repeat.
    let body = with(card(), "/metadata", json!({ "a": { "id": 1 }, "b": { "id": 2 } }));
    assert_eq!(pay(&app, body).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_nul_character_anywhere_in_a_request_is_400_and_stores_nothing() {
    let app = TestApp::start().await;
    // No field, id or filter means a NUL, and PostgreSQL keeps none in text: the customer, the
    // refund and the three GETs failed there as a 500.
    let bodies = [
        ("/v2/customers", json!({ "name": "Ada", "email": "ada\u{0}@example.com" })),
        ("/v2/payments", with(card(), "/billing", json!({ "address": { "first_name": "A\u{0}da" } }))),
        ("/v2/payments", with(card(), "/metadata", json!({ "or\u{0}der": "1" }))),
        ("/v2/payments", with(card(), "/metadata", json!({ "order": ["\u{0}"] }))),
    ];
    for (path, body) in &bodies {
        let message = post_refused(&app, path, body, 400, "IR_06").await;
        assert!(message.contains("NUL"), "{path} {body}: {message}");
    }
    let (_, succeeded) = payments_to_act_on(&app).await;
    let reason = json!({ "payment_id": succeeded, "merchant_reference_id": "r1", "reason": "du\u{0}plicate" });
    post_refused(&app, "/v2/refunds", &reason, 400, "IR_06").await;
    for path in ["/v2/customers/cus%00x", "/v2/payments/pay%00x", "/v2/payments/list?customer_id=a%00"] {
        let (status, body) = refused(&app, acme(&app, Method::GET, path)).await;
        let message = assert_error(status, &body, 400, "IR_06");
        assert!(message.contains("NUL"), "{path}: {message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_payment_for_a_customer_the_merchant_does_not_have_is_404() {
    let app = TestApp::start().await;
    let (status, theirs) = app
        .call(
            Method::POST,
            "/v2/customers",
            Some(GLOBEX_KEY),
            Some("web"),
            Some(&json!({ "name": "Jane", "email": "jane@example.com" })),
        )
        .await;
    assert_eq!(status, 200, "{theirs}");
    let intent = json!({ "amount_details": { "currency": "USD", "order_amount": 500 } });
    for customer in ["cus_nobody".to_string(), id_of(&theirs)] {
        for (path, body) in [("/v2/payments", card()), ("/v2/payments/create-intent", intent.clone())] {
            let body = with(body, "/customer_id", json!(customer));
            let message = post_refused(&app, path, &body, 404, "HE_02").await;
            assert_eq!(message, format!("customer `{customer}` not found"), "{path}");
        }
    }
    let (status, ours) = app.post("/v2/customers", json!({ "name": "John", "email": "john@example.com" })).await;
    assert_eq!(status, 200, "{ours}");
    let paid = pay(&app, with(card(), "/customer_id", json!(id_of(&ours)))).await;
    assert_eq!(paid["customer_id"], id_of(&ours).as_str(), "{paid}");
    app.stop().await;
}

/// A return address stored before addresses were checked, and no page a browser can be sent to,
/// shows the payer the daemon's own page rather than an error.
#[tokio::test]
async fn a_stored_return_url_that_is_no_page_shows_the_payers_page_instead() {
    let app = TestApp::start().await;
    let body =
        pay(&app, common::with(payment("4000002760003184"), json!({ "return_url": "https://merchant.example/done" })))
            .await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let id = id_of(&body);
    let mut db = common::database::connect(app.database_url()).await;
    let details: String = sqlx::query_scalar("SELECT details FROM payment_intents WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let details = details.replace("https://merchant.example/done", "https://merchant.example/\\r\\nSet-Cookie: x=1");
    sqlx::query("UPDATE payment_intents SET details = $1 WHERE id = $2")
        .bind(&details)
        .bind(&id)
        .execute(&mut db)
        .await
        .unwrap();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/v2/payments/{id}/return", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get(header::LOCATION).is_none());
    let page = res.text().await.unwrap();
    assert!(page.contains(&id), "{page}");
    app.stop().await;
}
