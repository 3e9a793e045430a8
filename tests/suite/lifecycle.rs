//! The life of a payment end to end, over HTTP: create-and-confirm, declines, expired cards,
//! manual capture, cancel, intents and their sessions, 3-D Secure through the sandbox page,
//! refunds, races that only database constraints can settle, and a restart in the middle.

use crate::common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const NO_FUNDS: &str = "4000000000009995";
const THREE_DS: &str = "4000002760003184";
const RETURN_URL: &str = "https://merchant.example/done";

// ---- helpers --------------------------------------------------------------------------------

/// A manual-capture payment with the Visa test card, left in `requires_capture`.
async fn authorized(app: &TestApp) -> String {
    let body = pay(app, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    assert_eq!(body["status"], "requires_capture", "{body}");
    id_of(&body)
}

/// A succeeded payment of 6540 with the Visa test card.
async fn succeeded(app: &TestApp) -> String {
    let body = pay(app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    id_of(&body)
}

async fn capture(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v2/payments/{id}/capture"), body).await
}

async fn cancel(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v2/payments/{id}/cancel"), body).await
}

async fn retrieve(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refund(app: &TestApp, payment_id: &str, reference: &str, amount: Option<i64>) -> (StatusCode, Value) {
    let mut body = json!({ "payment_id": payment_id, "merchant_reference_id": reference });
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    app.post("/v2/refunds", body).await
}

/// A refund that must succeed; returns the response.
async fn refunded(app: &TestApp, payment_id: &str, reference: &str, amount: Option<i64>) -> Value {
    let (status, body) = refund(app, payment_id, reference, amount).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    body
}

fn create_intent_body() -> Value {
    json!({ "amount_details": { "currency": "USD", "order_amount": 6540 } })
}

async fn create_intent(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/v2/payments/create-intent", body).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A client that shows redirects instead of following them, as a test of the 3-D Secure page wants.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The customer submits the sandbox authentication page with `outcome`.
async fn authenticate(app: &TestApp, id: &str, outcome: &str) -> reqwest::Response {
    browser()
        .post(format!("{}/sandbox/authenticate/{id}", app.base))
        .form(&[("outcome", outcome)])
        .send()
        .await
        .expect("page answers")
}

/// One request with no harness state, for tasks that race each other.
async fn send(
    client: reqwest::Client,
    url: String,
    key: &'static str,
    profile: &'static str,
    body: Value,
) -> (StatusCode, Value) {
    let res = client.post(url).header("api-key", key).header("X-Profile-Id", profile).json(&body).send().await;
    let res = res.expect("request sent");
    let status = res.status();
    let text = res.text().await.expect("body read");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Sends every body to `path` at once, as acme/web, and returns the answers in order.
async fn race(app: &TestApp, path: &str, bodies: Vec<Value>) -> Vec<(StatusCode, Value)> {
    let url = format!("{}{path}", app.base);
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| tokio::spawn(send(app.client.clone(), url.clone(), ACME_KEY, "web", body)))
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task completes"));
    }
    answers
}

// ---- create and confirm ---------------------------------------------------------------------

#[tokio::test]
async fn a_visa_payment_succeeds_and_shows_only_a_card_summary() {
    let app = TestApp::start().await;
    let (status, body) = app.post("/v2/payments", payment(VISA)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["order_amount"], 6540);
    assert_eq!(body["amount"]["currency"], "USD");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    assert_eq!(body["amount"]["net_amount"], 6540);
    assert_eq!(body["amount"]["amount_capturable"], 0);
    assert_eq!(body["connector"], "sandbox");
    assert_eq!(body["merchant_connector_id"], "sandbox");
    assert_eq!(body["profile_id"], "web");
    assert_eq!(body["processor_merchant_id"], "acme");
    assert!(body["error"].is_null(), "{body}");
    assert!(body["next_action"].is_null(), "{body}");

    let id = id_of(&body);
    assert!(id.starts_with("sy_pay_"), "{id}");
    assert!((32..=64).contains(&id.len()), "{id} has {} characters", id.len());

    let attempts = attempts(&body);
    assert_eq!(attempts.len(), 1, "{body}");
    assert_eq!(attempts[0]["status"], "charged");
    assert_eq!(attempts[0]["connector"], "sandbox");
    assert_eq!(attempts[0]["amount"]["net_amount"], 6540);
    assert_eq!(attempts[0]["amount"]["amount_captured"], 6540);
    assert!(attempts[0]["id"].as_str().unwrap().starts_with("sy_att_"), "{body}");

    let card = &body["payment_method_data"]["card"];
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["card_network"], "Visa");
    assert_eq!(card["card_exp_month"], "10");
    assert_eq!(card["card_exp_year"], "2035");
    assert_eq!(card["card_isin"], "424242");
    assert_eq!(card["card_holder_name"], "joseph Doe");
    assert!(card.get("card_number").is_none(), "{card}");
    assert!(card.get("card_cvc").is_none(), "{card}");
    assert!(card.as_object().unwrap().values().all(|v| v != "123"), "a card field holds the CVC: {card}");
    assert_eq!(attempts[0]["payment_method_data"]["card"], *card);
    let text = body.to_string();
    assert!(!text.contains(VISA), "the full PAN leaked: {text}");
    assert!(!text.contains("card_cvc"), "{text}");

    let got = retrieve(&app, &id).await;
    assert_eq!(got["id"], body["id"]);
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    assert_eq!(got["attempts"].as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(got["attempts"][0]["id"], attempts[0]["id"]);
    assert_eq!(got["attempts"][0]["status"], "charged");
    assert_eq!(got["payment_method_data"]["card"], *card);
    assert!(!got.to_string().contains(VISA), "{got}");
    app.stop().await;
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_with_the_decline_code() {
    let app = TestApp::start().await;
    let body = pay(&app, payment(DECLINED)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "card_declined", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0);
    assert_eq!(body["amount"]["amount_capturable"], 0);
    let attempts = attempts(&body);
    assert_eq!(attempts.len(), 1, "{body}");
    assert_eq!(attempts[0]["status"], "failure");
    assert_eq!(attempts[0]["error"]["code"], "card_declined");
    assert_eq!(body["payment_method_data"]["card"]["last4"], "0002");

    let got = retrieve(&app, &id_of(&body)).await;
    assert_eq!(got["status"], "failed");
    assert_eq!(got["error"]["code"], "card_declined");
    app.stop().await;
}

#[tokio::test]
async fn a_card_without_funds_fails_with_insufficient_funds() {
    let app = TestApp::start().await;
    let body = pay(&app, payment(NO_FUNDS)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "insufficient_funds", "{body}");
    assert_eq!(attempts(&body)[0]["status"], "failure");
    assert_eq!(body["amount"]["amount_captured"], 0);
    app.stop().await;
}

/// The documented request, whose card expired at the end of 10/2025.
fn seed_request() -> Value {
    let mut body = payment(VISA);
    body["payment_method_data"]["card"]["card_exp_year"] = json!("25");
    body
}

#[tokio::test]
async fn a_profile_that_refuses_expired_cards_refuses_the_seed_request_and_stores_nothing() {
    let app = TestApp::start().await;
    succeeded(&app).await;
    let before = app.count("payment_intents").await;
    let attempts_before = app.count("payment_attempts").await;
    let (status, body) = app.post("/v2/payments", seed_request()).await;
    let message = assert_error(status, &body, 400, "IR_16");
    assert!(message.contains("payment_method_data.card.card_exp_year"), "{message}");
    assert!(!body.to_string().contains(VISA), "{body}");
    assert_eq!(app.count("payment_intents").await, before);
    assert_eq!(app.count("payment_attempts").await, attempts_before);
    app.stop().await;
}

#[tokio::test]
async fn a_profile_that_accepts_expired_cards_takes_the_seed_request() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = common::config(dir.path());
    config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap().reject_expired_cards = false;
    let app = TestApp::start_with(dir, config).await;
    let body = pay(&app, seed_request()).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    assert_eq!(body["payment_method_data"]["card"]["card_exp_year"], "2025");
    assert_eq!(app.count("payment_intents").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn shipping_and_tax_add_up_to_the_net_amount_charged() {
    let app = TestApp::start().await;
    let mut body = payment(VISA);
    body["amount_details"]["shipping_cost"] = json!(500);
    body["amount_details"]["order_tax_amount"] = json!(100);
    let body = pay(&app, body).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["amount"]["order_amount"], 6540);
    assert_eq!(body["amount"]["shipping_cost"], 500);
    assert_eq!(body["amount"]["order_tax_amount"], 100);
    assert_eq!(body["amount"]["net_amount"], 7140);
    assert_eq!(body["amount"]["amount_captured"], 7140);
    assert_eq!(attempts(&body)[0]["amount"]["net_amount"], 7140);
    // What was captured, not the order amount, is what may be refunded.
    let refund = refunded(&app, &id_of(&body), "all", None).await;
    assert_eq!(refund["amount"], 7140);
    app.stop().await;
}

// ---- manual capture -------------------------------------------------------------------------

#[tokio::test]
async fn a_manual_payment_waits_for_capture_then_captures_everything() {
    let app = TestApp::start().await;
    let body = pay(&app, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    assert_eq!(body["status"], "requires_capture", "{body}");
    assert_eq!(body["amount"]["amount_capturable"], 6540);
    assert_eq!(body["amount"]["amount_captured"], 0);
    assert_eq!(attempts(&body)[0]["status"], "authorized");
    let id = id_of(&body);

    let (status, body) = capture(&app, &id, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    assert_eq!(body["amount"]["amount_capturable"], 0);
    assert_eq!(attempts(&body).len(), 1);
    assert_eq!(attempts(&body)[0]["status"], "charged");

    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn a_partial_capture_leaves_the_payment_partially_captured() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = capture(&app, &id, json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "partially_captured");
    assert_eq!(body["amount"]["amount_captured"], 4000);
    assert_eq!(body["amount"]["amount_capturable"], 0);
    assert_eq!(body["amount"]["net_amount"], 6540);
    assert_eq!(attempts(&body)[0]["status"], "partial_charged");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "partially_captured");
    assert_eq!(got["amount"]["amount_captured"], 4000);
    app.stop().await;
}

#[tokio::test]
async fn capturing_more_than_is_capturable_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = capture(&app, &id, json!({ "amount_to_capture": 6541 })).await;
    let message = assert_error(status, &body, 422, "IR_06");
    assert!(message.contains("amount_to_capture"), "{message}");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "requires_capture");
    assert_eq!(got["amount"]["amount_capturable"], 6540);
    assert_eq!(got["amount"]["amount_captured"], 0);
    assert_eq!(got["attempts"][0]["status"], "authorized");
    app.stop().await;
}

#[tokio::test]
async fn an_automatic_payment_cannot_be_captured_again() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_error(status, &body, 400, "IR_14");

    let id = authorized(&app).await;
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_error(status, &body, 400, "IR_14");
    assert_eq!(retrieve(&app, &id).await["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn a_capture_without_a_body_captures_the_whole_amount() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) =
        app.call(Method::POST, &format!("/v2/payments/{id}/capture"), Some(ACME_KEY), Some("web"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    app.stop().await;
}

// ---- cancel ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_authorized_payment_can_be_cancelled_once() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = cancel(&app, &id, json!({ "cancellation_reason": "customer asked" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["amount"]["amount_captured"], 0);
    assert_eq!(body["amount"]["amount_capturable"], 0);
    assert_eq!(attempts(&body).len(), 1);
    assert_eq!(attempts(&body)[0]["status"], "voided");
    assert_eq!(retrieve(&app, &id).await["status"], "cancelled");

    let (status, body) = cancel(&app, &id, json!({})).await;
    assert_error(status, &body, 400, "IR_14");
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_error(status, &body, 400, "IR_14");
    let (status, body) = refund(&app, &id, "after-cancel", Some(100)).await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

#[tokio::test]
async fn the_cancellation_reason_is_kept_on_the_attempt() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = cancel(&app, &id, json!({ "cancellation_reason": "customer asked" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attempts"][0]["cancellation_reason"], "customer asked", "{body}");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["attempts"][0]["cancellation_reason"], "customer asked", "{got}");
    app.stop().await;
}

#[tokio::test]
async fn a_succeeded_payment_cannot_be_cancelled() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let (status, body) = cancel(&app, &id, json!({ "cancellation_reason": "too late" })).await;
    assert_error(status, &body, 400, "IR_14");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["attempts"][0]["status"], "charged");
    app.stop().await;
}

#[tokio::test]
async fn an_unconfirmed_intent_is_cancelled_without_an_attempt() {
    let app = TestApp::start().await;
    let intent = create_intent(&app, create_intent_body()).await;
    let id = id_of(&intent);
    let (status, body) =
        app.call(Method::POST, &format!("/v2/payments/{id}/cancel"), Some(ACME_KEY), Some("web"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(attempts(&body).len(), 0, "{body}");
    assert_eq!(app.count("payment_attempts").await, 0);

    let (status, body) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method(VISA)).await;
    assert_error(status, &body, 400, "IR_14");
    assert_eq!(app.count("payment_attempts").await, 0);
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

// ---- intents --------------------------------------------------------------------------------

#[tokio::test]
async fn an_intent_answers_how_it_is_paid_as_asked_or_by_default() {
    let app = TestApp::start().await;
    let body = create_intent(&app, create_intent_body()).await;
    assert_eq!((&body["customer_present"], &body["setup_future_usage"]), (&json!("present"), &json!("on_session")));
    assert_eq!((&body["payment_type"], &body["split_txns_enabled"]), (&json!("normal"), &json!("skip")));
    assert!(body.get("created").is_none() && body.get("browser_info").is_none(), "{body}");
    let asked = json!({ "customer_present": "absent", "setup_future_usage": "off_session", "browser_info": {} });
    let id = id_of(&create_intent(&app, with(create_intent_body(), asked)).await);
    // Read as text: a field written twice would be read once by a JSON parser.
    let res = app
        .client
        .get(format!("{}/v2/payments/{id}/get-intent", app.base))
        .header("api-key", ACME_KEY)
        .header("X-Profile-Id", "web")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert_eq!(text.matches("\"setup_future_usage\"").count(), 1, "{text}");
    assert_eq!(text.matches("\"customer_present\"").count(), 1, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&got["customer_present"], &got["setup_future_usage"]), (&json!("absent"), &json!("off_session")));
    assert!(got.get("browser_info").is_none(), "{got}");
    // Shown back as given, so only Hyperswitch's values are taken.
    for (field, value) in [("setup_future_usage", json!("sometimes")), ("customer_present", json!(true))] {
        let (status, body) =
            app.post("/v2/payments/create-intent", with(create_intent_body(), json!({ field: value }))).await;
        assert!(assert_error(status, &body, 422, "IR_06").starts_with(field), "{body}");
    }
}

#[tokio::test]
async fn create_intent_answers_a_session_of_fifteen_minutes() {
    let app = TestApp::start().await;
    let body = create_intent(&app, with(create_intent_body(), json!({ "merchant_reference_id": "order-1" }))).await;
    assert_eq!(body["status"], "requires_payment_method");
    assert!(body["client_secret"].as_str().unwrap().starts_with("cs_"), "{body}");
    assert_eq!(body["amount_details"]["order_amount"], 6540);
    assert_eq!(body["amount_details"]["currency"], "USD");
    assert_eq!(body["amount_details"]["net_amount"], 6540);
    assert_eq!(body["merchant_reference_id"], "order-1");
    assert_eq!(body["capture_method"], "automatic");
    assert_eq!(body["profile_id"], "web");
    let id = id_of(&body);
    assert!(id.starts_with("sy_pay_") && (32..=64).contains(&id.len()), "{id}");

    // The intent's answer has no `created` (Hyperswitch's schema forbids it); the payment's does.
    let (status, payment) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{payment}");
    let created = chrono::DateTime::parse_from_rfc3339(payment["created"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_on"].as_str().unwrap()).unwrap();
    let session = (expires - created).num_milliseconds();
    assert!((899_000..=901_000).contains(&session), "session of {session} ms: {body}");

    let (status, got) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], body["id"]);
    assert_eq!(got["client_secret"], body["client_secret"]);
    assert_eq!(got["status"], "requires_payment_method");
    assert_eq!(got["expires_on"], body["expires_on"]);
    assert_eq!(app.count("payment_attempts").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_intent_is_confirmed_once() {
    let app = TestApp::start().await;
    let id = id_of(&create_intent(&app, create_intent_body()).await);
    let (status, body) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method(VISA)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    assert_eq!(attempts(&body).len(), 1);
    assert_eq!(attempts(&body)[0]["status"], "charged");
    assert_eq!(body["payment_method_data"]["card"]["last4"], "4242");

    let (status, again) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method(VISA)).await;
    assert_error(status, &again, 400, "IR_14");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(attempts(&got).len(), 1, "{got}");
    assert_eq!(app.count("payment_attempts").await, 1);

    let (status, intent) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(status, 200, "{intent}");
    assert_eq!(intent["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn an_intent_whose_session_ran_out_cannot_be_confirmed() {
    let app = TestApp::start().await;
    let id = id_of(&create_intent(&app, with(create_intent_body(), json!({ "session_expiry": 1 }))).await);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method(VISA)).await;
    assert_error(status, &body, 400, "IR_14");

    let (status, intent) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(status, 200, "{intent}");
    assert_eq!(intent["status"], "expired");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "expired");
    assert_eq!(attempts(&got).len(), 0, "{got}");
    assert_eq!(got["amount"]["amount_captured"], 0);
    assert_eq!(app.count("payment_attempts").await, 0);
    app.stop().await;
}

// ---- 3-D Secure -----------------------------------------------------------------------------

#[tokio::test]
async fn a_three_ds_card_sends_the_customer_to_the_sandbox_page() {
    let app = TestApp::start().await;
    let body = pay(&app, payment(THREE_DS)).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let id = id_of(&body);
    let url = format!("{}/sandbox/authenticate/{id}", app.base);
    assert_eq!(body["next_action"]["type"], "redirect_to_url");
    assert_eq!(body["next_action"]["redirect_to_url"], url.as_str());
    assert_eq!(body["amount"]["amount_captured"], 0);
    assert_eq!(attempts(&body)[0]["status"], "authentication_pending");
    assert_eq!(retrieve(&app, &id).await["next_action"]["redirect_to_url"], url.as_str());

    let page = reqwest::get(&url).await.expect("page answers");
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(html.contains(&id), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn completing_authentication_charges_and_returns_the_customer_to_the_merchant() {
    let app = TestApp::start().await;
    let id = id_of(&pay(&app, with(payment(THREE_DS), json!({ "return_url": RETURN_URL }))).await);
    let res = authenticate(&app, &id, "success").await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(RETURN_URL), "{location}");
    assert!(location.contains("status=succeeded"), "{location}");
    assert!(location.contains(&format!("id={id}")), "{location}");

    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    assert_eq!(attempts(&got).len(), 1);
    assert_eq!(got["attempts"][0]["status"], "charged");
    assert!(got["next_action"].is_null(), "{got}");
    app.stop().await;
}

#[tokio::test]
async fn a_payment_that_went_through_three_ds_says_so_after_success() {
    let app = TestApp::start().await;
    let body = pay(&app, payment(THREE_DS)).await;
    assert_eq!(body["authentication_type_applied"], "three_ds", "{body}");
    let id = id_of(&body);
    assert_eq!(authenticate(&app, &id, "success").await.status(), 200);
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["authentication_type_applied"], "three_ds", "{got}");
    app.stop().await;
}

#[tokio::test]
async fn completing_authentication_of_a_manual_payment_leaves_it_to_capture() {
    let app = TestApp::start().await;
    let body = with(payment(THREE_DS), json!({ "capture_method": "manual", "return_url": RETURN_URL }));
    let id = id_of(&pay(&app, body).await);
    let res = authenticate(&app, &id, "success").await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("status=requires_capture"), "{location}");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "requires_capture");
    assert_eq!(got["amount"]["amount_capturable"], 6540);
    assert_eq!(got["amount"]["amount_captured"], 0);
    assert_eq!(got["attempts"][0]["status"], "authorized");

    let (status, body) = capture(&app, &id, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn failing_authentication_fails_the_payment() {
    let app = TestApp::start().await;
    let id = id_of(&pay(&app, with(payment(THREE_DS), json!({ "return_url": RETURN_URL }))).await);
    let res = authenticate(&app, &id, "failure").await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("status=failed"), "{location}");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "failed");
    assert_eq!(got["error"]["code"], "authentication_failed");
    assert_eq!(got["attempts"][0]["status"], "authentication_failed");
    assert_eq!(got["amount"]["amount_captured"], 0);
    let (status, body) = refund(&app, &id, "r-failed", None).await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

#[tokio::test]
async fn authentication_completes_only_once() {
    let app = TestApp::start().await;
    let id = id_of(&pay(&app, payment(THREE_DS)).await);
    // Without a return_url the page itself says how it went.
    let first = authenticate(&app, &id, "success").await;
    assert_eq!(first.status(), 200);
    let html = first.text().await.unwrap();
    assert!(html.contains(&id) && html.contains("succeeded"), "{html}");

    // A second submission (a double click, a back button) changes nothing: the payer is shown
    // the status the payment already has.
    let second = authenticate(&app, &id, "failure").await;
    assert_eq!(second.status(), 200);
    let html = second.text().await.unwrap();
    assert!(html.contains(&id) && html.contains("succeeded") && !html.contains("failed"), "{html}");
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn asking_for_three_ds_sends_any_card_through_the_page() {
    let app = TestApp::start().await;
    let body = pay(&app, with(payment(VISA), json!({ "authentication_type": "three_ds" }))).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let id = id_of(&body);
    assert_eq!(body["next_action"]["redirect_to_url"], format!("{}/sandbox/authenticate/{id}", app.base).as_str());
    let res = authenticate(&app, &id, "success").await;
    assert_eq!(res.status(), 200);
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn a_return_url_given_at_confirm_intent_is_where_authentication_returns() {
    let app = TestApp::start().await;
    let id = id_of(&create_intent(&app, create_intent_body()).await);
    let body = with(card_method(THREE_DS), json!({ "return_url": RETURN_URL }));
    let (status, body) = app.post(&format!("/v2/payments/{id}/confirm-intent"), body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_customer_action");
    assert_eq!(body["return_url"], RETURN_URL);
    let res = authenticate(&app, &id, "success").await;
    assert_eq!(res.status(), 303, "the customer is not sent back to the return_url");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(RETURN_URL) && location.contains("status=succeeded"), "{location}");
    assert_eq!(retrieve(&app, &id).await["return_url"], RETURN_URL);
    app.stop().await;
}

// ---- refunds --------------------------------------------------------------------------------

#[tokio::test]
async fn a_refund_succeeds_and_can_be_read_back() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let body = refunded(&app, &id, "r1", Some(1000)).await;
    assert_eq!(body["amount"], 1000);
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["connector"], "sandbox");
    assert_eq!(body["merchant_connector_id"], "sandbox");
    assert_eq!(body["payment_id"], id.as_str());
    assert_eq!(body["merchant_reference_id"], "r1");
    assert_eq!(body["profile_id"], "web");
    let refund_id = id_of(&body);
    assert!(refund_id.starts_with("sy_ref_"), "{refund_id}");

    let (status, got) = app.get(&format!("/v2/refunds/{refund_id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], refund_id.as_str());
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"], 1000);
    assert_eq!(got["currency"], "USD");
    assert_eq!(got["payment_id"], id.as_str());
    assert_eq!(got["connector"], "sandbox");
    assert_eq!(got["merchant_connector_id"], "sandbox");
    assert_eq!(got["connector_refund_reference_id"], body["connector_refund_reference_id"]);
    // A refund leaves the payment as it was.
    let payment = retrieve(&app, &id).await;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["amount"]["amount_captured"], 6540);
    app.stop().await;
}

#[tokio::test]
async fn refunds_add_up_to_the_captured_amount_and_not_a_cent_more() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    refunded(&app, &id, "r1", Some(3000)).await;
    refunded(&app, &id, "r2", Some(3540)).await;
    let before = app.count("refunds").await;
    assert_eq!(before, 2);
    let (status, body) = refund(&app, &id, "r3", Some(1)).await;
    let message = assert_error(status, &body, 400, "IR_13");
    assert!(message.contains("amount"), "{message}");
    assert_eq!(app.count("refunds").await, before);
    let (status, body) = refund(&app, &id, "r4", None).await;
    assert_error(status, &body, 400, "IR_13");
    assert_eq!(app.count("refunds").await, before);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_without_an_amount_refunds_what_is_left() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    refunded(&app, &id, "r1", Some(1000)).await;
    let rest = refunded(&app, &id, "rest", None).await;
    assert_eq!(rest["amount"], 5540);
    app.stop().await;
}

#[tokio::test]
async fn a_partially_captured_payment_refunds_only_what_was_captured() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = capture(&app, &id, json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refund(&app, &id, "too-much", Some(4001)).await;
    assert_error(status, &body, 400, "IR_13");
    let all = refunded(&app, &id, "all", None).await;
    assert_eq!(all["amount"], 4000);
    let (status, body) = refund(&app, &id, "more", Some(1)).await;
    assert_error(status, &body, 400, "IR_13");
    assert_eq!(app.count("refunds").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn only_captured_payments_can_be_refunded() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let (status, body) = refund(&app, &id, "r-auth", Some(100)).await;
    assert_error(status, &body, 400, "IR_14");
    let failed = id_of(&pay(&app, payment(DECLINED)).await);
    let (status, body) = refund(&app, &failed, "r-failed", None).await;
    assert_error(status, &body, 400, "IR_14");
    let intent = id_of(&create_intent(&app, create_intent_body()).await);
    let (status, body) = refund(&app, &intent, "r-intent", Some(100)).await;
    assert_error(status, &body, 400, "IR_14");
    assert_eq!(app.count("refunds").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_reference_is_used_once_and_a_refused_duplicate_reserves_nothing() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let first = refunded(&app, &id, "r1", Some(1000)).await;
    let (status, body) = refund(&app, &id, "r1", Some(1000)).await;
    assert_error(status, &body, 400, "HE_01");
    assert_eq!(app.count("refunds").await, 1);
    // The same reference on another payment of the profile is a duplicate too.
    let other = succeeded(&app).await;
    let (status, body) = refund(&app, &other, "r1", Some(1000)).await;
    assert_error(status, &body, 400, "HE_01");
    assert_eq!(app.count("refunds").await, 1);
    // The refused duplicates took nothing from either payment's balance.
    assert_eq!(refunded(&app, &id, "rest", None).await["amount"], 5540);
    assert_eq!(refunded(&app, &other, "other-rest", None).await["amount"], 6540);
    let (status, got) = app.get(&format!("/v2/refunds/{}", id_of(&first))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["amount"], 1000);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_of_an_unknown_payment_is_not_found() {
    let app = TestApp::start().await;
    let (status, body) = refund(&app, "sy_pay_0000000000000000000000000000000000", "r1", Some(100)).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.get("/v2/refunds/sy_ref_00000000000000000000000000000000").await;
    assert_error(status, &body, 404, "HE_02");
    assert_eq!(app.count("refunds").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_of_nothing_is_refused() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let (status, body) = refund(&app, &id, "zero", Some(0)).await;
    let message = assert_error(status, &body, 422, "IR_06");
    assert!(message.contains("amount"), "{message}");
    let (status, body) = refund(&app, &id, "negative", Some(-5)).await;
    assert_error(status, &body, 422, "IR_06");
    assert_eq!(app.count("refunds").await, 0);
    app.stop().await;
}

// ---- races ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_intents_with_one_reference_store_one_payment() {
    let app = TestApp::start().await;
    let body = with(create_intent_body(), json!({ "merchant_reference_id": "order-race" }));
    let answers = race(&app, "/v2/payments/create-intent", vec![body; 10]).await;
    let winners: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let id = id_of(winners[0]);
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        let message = assert_error(*status, body, 400, "HE_01");
        assert!(message.contains(&id), "{message} does not name {id}");
    }
    assert_eq!(app.count("payment_intents").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refunds_never_refund_more_than_was_captured() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let bodies =
        (0..8).map(|i| json!({ "payment_id": id, "merchant_reference_id": format!("race-{i}"), "amount": 1000 }));
    let answers = race(&app, "/v2/refunds", bodies.collect()).await;
    let ok: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(ok.len(), 6, "{answers:?}");
    assert!(ok.iter().all(|b| b["status"] == "succeeded" && b["amount"] == 1000), "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_error(*status, body, 400, "IR_13");
    }
    let total: i64 = ok.iter().map(|b| b["amount"].as_i64().unwrap()).sum();
    assert!(total <= 6540, "refunded {total}");
    assert_eq!(app.count("refunds").await, 6);
    assert_eq!(refunded(&app, &id, "rest", None).await["amount"], 540);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_captures_capture_once() {
    let app = TestApp::start().await;
    let id = authorized(&app).await;
    let answers = race(&app, &format!("/v2/payments/{id}/capture"), vec![json!({}); 5]).await;
    let ok: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    assert_eq!(ok[0]["status"], "succeeded");
    assert_eq!(ok[0]["amount"]["amount_captured"], 6540);
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert!(status.is_client_error(), "{status}: {body}");
        assert_error(*status, body, 400, "IR_14");
    }
    let got = retrieve(&app, &id).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    assert_eq!(attempts(&got).len(), 1);
    app.stop().await;
}

// ---- restart --------------------------------------------------------------------------------

#[tokio::test]
async fn payments_and_refunds_survive_a_restart() {
    let app = TestApp::start().await;
    let paid = succeeded(&app).await;
    let held = authorized(&app).await;
    let refund = refunded(&app, &paid, "r1", Some(1000)).await;
    let refund_id = id_of(&refund);
    let before_paid = retrieve(&app, &paid).await;

    let app = app.restart().await;
    let got = retrieve(&app, &paid).await;
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"]["amount_captured"], 6540);
    assert_eq!(got["attempts"][0]["id"], before_paid["attempts"][0]["id"]);
    assert_eq!(got["payment_method_data"], before_paid["payment_method_data"]);
    let got = retrieve(&app, &held).await;
    assert_eq!(got["status"], "requires_capture");
    assert_eq!(got["amount"]["amount_capturable"], 6540);
    assert_eq!(got["amount"]["amount_captured"], 0);
    let (status, got) = app.get(&format!("/v2/refunds/{refund_id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "succeeded");
    assert_eq!(got["amount"], 1000);
    assert_eq!(got["payment_id"], paid.as_str());

    let (status, body) = capture(&app, &held, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount"]["amount_captured"], 6540);
    // The refunded balance survived too.
    assert_eq!(refunded(&app, &paid, "rest", None).await["amount"], 5540);
    app.stop().await;
}

// ---- profiles -------------------------------------------------------------------------------

#[tokio::test]
async fn a_merchant_reference_is_unique_per_profile_only() {
    let app = TestApp::start().await;
    let body = with(create_intent_body(), json!({ "merchant_reference_id": "order-7" }));
    let web = create_intent(&app, body.clone()).await;
    let (status, again) = app.post("/v2/payments/create-intent", body.clone()).await;
    let message = assert_error(status, &again, 400, "HE_01");
    assert!(message.contains(&id_of(&web)), "{message}");

    let (status, shop) =
        app.call(Method::POST, "/v2/payments/create-intent", Some(ACME_KEY), Some("shop"), Some(&body)).await;
    assert_eq!(status, 200, "{shop}");
    assert_eq!(shop["profile_id"], "shop");
    assert_eq!(shop["merchant_reference_id"], "order-7");
    assert_ne!(shop["id"], web["id"]);
    assert_eq!(app.count("payment_intents").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_payment_is_invisible_from_another_profile() {
    let app = TestApp::start().await;
    let id = succeeded(&app).await;
    let refund_id = id_of(&refunded(&app, &id, "r1", Some(100)).await);
    let shop = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &path, Some(ACME_KEY), Some("shop"), body.as_ref()).await }
    };
    let (status, body) = shop(Method::GET, format!("/v2/payments/{id}"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = shop(Method::GET, format!("/v2/payments/{id}/get-intent"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = shop(Method::GET, format!("/v2/refunds/{refund_id}"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let refund = json!({ "payment_id": id, "merchant_reference_id": "r2", "amount": 100 });
    let (status, body) = shop(Method::POST, "/v2/refunds".into(), Some(refund)).await;
    assert_error(status, &body, 404, "HE_02");
    // Nor from another merchant's profile of the same name.
    let (status, body) =
        app.call(Method::GET, &format!("/v2/payments/{id}"), Some(GLOBEX_KEY), Some("web"), None).await;
    assert_error(status, &body, 404, "HE_02");
    assert_eq!(app.count("refunds").await, 1);
    app.stop().await;
}

/// A payment whose connector account is gone from the configuration (or out of service) is not
/// the client's fault nor a crash: its capture answers 503 `CE_01` and changes nothing.
#[tokio::test]
async fn a_payment_on_an_account_no_longer_configured_waits_for_it() {
    let mut app = start_with_accounts(vec![sandbox_account("old")], &["old"]).await;
    let id = authorized(&app).await;
    let web = app.config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = vec![sandbox_account("new")];
    web.fallback = vec!["new".into()];
    let app = app.restart().await;
    let (status, body) = capture(&app, &id, json!({})).await;
    assert_error(status, &body, 503, "CE_01");
    assert_eq!(retrieve(&app, &id).await["status"], "requires_capture");
    app.stop().await;
}
