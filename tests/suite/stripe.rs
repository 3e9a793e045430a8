//! The Stripe connector end to end, over switchyard's HTTP API: payments, captures, cancels,
//! refunds, declines, 3-D Secure and syncs against a real localstripe on loopback (whose own API
//! is read back to see what the connector made there), and against an in-process mock Stripe the
//! exact calls the connector sends (one per card payment, the card inline), 3-D Secure by
//! redirect through the daemon's return page, and how it survives a provider that rate-limits,
//! refuses the connection, fails, answers nonsense, answers too late, declines or answers 409 to
//! a repeat still in progress; attempts and refunds whose answer was lost (localstripe behind a proxy that
//! loses refunds' answers) found by switchyard's own ids or concluded never received; and
//! notifications that contradict a settled record, applied or raised.

use crate::common;

use axum::http::{HeaderMap, Method, Uri};
use common::localstripe::{self, stripe_account, API_KEY};
use common::mock::{answer, MockServer};
use common::recorder::Seen;
use common::stripe_mock::{complete_challenge, stripe_error, Fault, MockStripe};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::config::SecretValue;
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
/// localstripe declines this card (402 `card_declined`); real Stripe's 4000000000000002 succeeds there.
const LOCALSTRIPE_DECLINED: &str = "4000000000000341";
/// localstripe answers `requires_action` with `next_action.type = use_stripe_sdk` for this card.
const THREE_DS: &str = common::stripe_mock::THREE_DS_CARD;

// ---- helpers --------------------------------------------------------------------------------

/// A daemon whose acme/web pays through one Stripe account, `stripe`, on localstripe.
async fn localstripe_app() -> TestApp {
    start_with_accounts(vec![stripe_account("stripe", &localstripe::url())], &["stripe"]).await
}

/// A manual-capture Visa payment, expected to stop at `requires_capture`.
async fn authorized(app: &TestApp) -> Value {
    let body = pay(app, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    assert_eq!(body["status"], "requires_capture", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "authorized", "{body}");
    body
}

async fn capture(app: &TestApp, id: &str, body: Value) -> Value {
    let (status, body) = app.post(&format!("/v2/payments/{id}/capture"), body).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn cancel(app: &TestApp, id: &str, body: Value) -> Value {
    let (status, body) = app.post(&format!("/v2/payments/{id}/cancel"), body).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn retrieve(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refund(app: &TestApp, payment_id: &str, reference: &str, amount: i64) -> Value {
    let body = json!({ "payment_id": payment_id, "merchant_reference_id": reference, "amount": amount });
    let (status, body) = app.post("/v2/refunds", body).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An object read straight from localstripe's API.
async fn localstripe_get(path: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{}{path}", localstripe::url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("localstripe answers");
    let status = res.status();
    let body: Value = res.json().await.expect("localstripe answers JSON");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// What localstripe says has been captured on a payment intent: `amount_received` where it
/// gives it; otherwise (1.15.10 leaves it out and captures partially by refunding the rest of the
/// charge) the latest charge's amount less what was refunded from it.
fn localstripe_captured(pi: &Value) -> i64 {
    if let Some(received) = pi["amount_received"].as_i64() {
        return received;
    }
    let charge = &pi["latest_charge"];
    assert_eq!(charge["captured"], true, "the charge is not captured: {pi}");
    charge["amount"].as_i64().unwrap_or_else(|| panic!("no charge amount: {pi}"))
        - charge["amount_refunded"].as_i64().unwrap_or(0)
}

// ---- against localstripe --------------------------------------------------------------------

#[tokio::test]
async fn a_visa_payment_succeeds_at_stripe_with_its_ids_in_the_metadata() {
    let app = localstripe_app().await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["connector"], "stripe", "{body}");
    assert_eq!(body["merchant_connector_id"], "stripe", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 6540, "{body}");
    assert!(body["error"].is_null(), "{body}");
    let pi = str_of(&body, "/connector_transaction_id");
    assert!(pi.starts_with("pi_"), "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "charged", "{body}");
    assert_eq!(body["attempts"][0]["connector_payment_id"], pi, "{body}");
    assert!(!body.to_string().contains(VISA), "{body}");

    let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["id"], pi, "{at_stripe}");
    assert_eq!(at_stripe["status"], "succeeded", "{at_stripe}");
    assert_eq!(at_stripe["amount"], 6540, "{at_stripe}");
    assert_eq!(at_stripe["currency"], "usd", "{at_stripe}");
    assert_eq!(at_stripe["capture_method"], "automatic", "{at_stripe}");
    assert_eq!(at_stripe["metadata"]["payment_id"], body["id"], "{at_stripe}");
    assert_eq!(at_stripe["metadata"]["attempt_id"], body["attempts"][0]["id"], "{at_stripe}");

    // What the daemon shows later is what it stored.
    let got = retrieve(&app, &format!("/v2/payments/{}", id_of(&body))).await;
    assert_eq!(got["status"], "succeeded", "{got}");
    assert_eq!(got["connector_transaction_id"], pi, "{got}");
    app.stop().await;
}

#[tokio::test]
async fn manual_payments_capture_partly_and_fully_at_stripe() {
    let app = localstripe_app().await;
    let first = authorized(&app).await;
    let pi = str_of(&first, "/connector_transaction_id").to_string();
    assert!(pi.starts_with("pi_"), "{first}");
    assert_eq!(first["amount"]["amount_capturable"], 6540, "{first}");
    let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["status"], "requires_capture", "{at_stripe}");
    assert_eq!(at_stripe["capture_method"], "manual", "{at_stripe}");

    let captured = capture(&app, &id_of(&first), json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(captured["status"], "partially_captured", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 4000, "{captured}");
    assert_eq!(captured["attempts"][0]["status"], "partial_charged", "{captured}");
    let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["status"], "succeeded", "{at_stripe}");
    assert_eq!(localstripe_captured(&at_stripe), 4000, "{at_stripe}");

    let second = authorized(&app).await;
    let pi = str_of(&second, "/connector_transaction_id").to_string();
    let captured = capture(&app, &id_of(&second), json!({})).await;
    assert_eq!(captured["status"], "succeeded", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 6540, "{captured}");
    assert_eq!(captured["attempts"][0]["status"], "charged", "{captured}");
    let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["status"], "succeeded", "{at_stripe}");
    assert_eq!(localstripe_captured(&at_stripe), 6540, "{at_stripe}");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_manual_payment_cancels_its_intent_at_stripe() {
    let app = localstripe_app().await;
    // With no reason, and with the free-text reason a merchant may send (Stripe itself takes only
    // its own reasons, and localstripe none).
    for request in [json!({}), json!({ "cancellation_reason": "customer asked" })] {
        let body = authorized(&app).await;
        let pi = str_of(&body, "/connector_transaction_id").to_string();
        let cancelled = cancel(&app, &id_of(&body), request.clone()).await;
        assert_eq!(cancelled["status"], "cancelled", "{request}: {cancelled}");
        assert_eq!(cancelled["attempts"][0]["status"], "voided", "{request}: {cancelled}");
        let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
        assert_eq!(at_stripe["status"], "canceled", "{request}: {at_stripe}");
    }
    app.stop().await;
}

#[tokio::test]
async fn full_and_partial_refunds_reach_stripe() {
    let app = localstripe_app().await;
    for (reference, amount) in [("full-1", 6540), ("part-1", 2000)] {
        let payment = pay(&app, payment(VISA)).await;
        assert_eq!(payment["status"], "succeeded", "{payment}");
        let pi = str_of(&payment, "/connector_transaction_id");

        let created = refund(&app, &id_of(&payment), reference, amount).await;
        assert_eq!(created["status"], "succeeded", "{created}");
        assert_eq!(created["payment_id"], payment["id"], "{created}");
        assert_eq!(created["merchant_reference_id"], reference, "{created}");
        let refund_id = id_of(&created);
        assert!(refund_id.starts_with("sy_ref_"), "{created}");
        let re = str_of(&created, "/connector_refund_reference_id").to_string();
        assert!(re.starts_with("re_"), "{created}");

        let got = retrieve(&app, &format!("/v2/refunds/{refund_id}")).await;
        assert_eq!(got["status"], "succeeded", "{got}");
        assert_eq!(got["connector_refund_reference_id"], re.as_str(), "{got}");

        let at_stripe = localstripe_get(&format!("/v1/refunds/{re}")).await;
        assert_eq!(at_stripe["amount"], amount, "{at_stripe}");
        assert_eq!(at_stripe["payment_intent"], pi, "{at_stripe}");
        assert_eq!(at_stripe["status"], "succeeded", "{at_stripe}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_decline_at_stripe_fails_the_payment_with_stripes_code() {
    let app = localstripe_app().await;
    let body = pay(&app, payment(LOCALSTRIPE_DECLINED)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["connector"], "stripe", "{body}");
    assert_eq!(body["error"]["code"], "card_declined", "{body}");
    assert!(!str_of(&body, "/error/message").is_empty(), "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "failure", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn three_d_secure_at_stripe_hands_the_customer_to_stripes_sdk() {
    let app = localstripe_app().await;
    let body = pay(&app, payment(THREE_DS)).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"]["type"], "invoke_sdk_client", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "authentication_pending", "{body}");
    let pi = str_of(&body, "/attempts/0/connector_payment_id");
    assert!(pi.starts_with("pi_"), "{body}");
    let at_stripe = localstripe_get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["status"], "requires_action", "{at_stripe}");
    app.stop().await;
}

#[tokio::test]
async fn a_forced_sync_reads_the_payment_back_from_stripe() {
    let app = localstripe_app().await;
    let done = pay(&app, payment(VISA)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&done))).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    assert_eq!(synced["amount"]["amount_captured"], 6540, "{synced}");
    assert_eq!(synced["connector_transaction_id"], done["connector_transaction_id"], "{synced}");

    // Captured behind the daemon's back: only a sync can tell.
    let held = authorized(&app).await;
    let pi = str_of(&held, "/connector_transaction_id");
    let res = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents/{pi}/capture", localstripe::url()))
        .bearer_auth(API_KEY)
        .form(&[("amount_to_capture", "6540")])
        .send()
        .await
        .expect("localstripe answers");
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    let unsynced = retrieve(&app, &format!("/v2/payments/{}", id_of(&held))).await;
    assert_eq!(unsynced["status"], "requires_capture", "a plain read does not call Stripe: {unsynced}");
    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&held))).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    assert_eq!(synced["amount"]["amount_captured"], 6540, "{synced}");
    assert_eq!(synced["attempts"][0]["status"], "charged", "{synced}");
    let later = retrieve(&app, &format!("/v2/payments/{}", id_of(&held))).await;
    assert_eq!(later["status"], "succeeded", "the sync is stored: {later}");
    app.stop().await;
}

#[tokio::test]
async fn the_card_number_sent_to_stripe_is_never_stored() {
    let app = localstripe_app().await;
    assert_eq!(pay(&app, payment(VISA)).await["status"], "succeeded");
    let held = authorized(&app).await;
    capture(&app, &id_of(&held), json!({ "amount_to_capture": 1000 })).await;
    assert_eq!(pay(&app, payment(LOCALSTRIPE_DECLINED)).await["status"], "failed");
    app.stop_holding_none_of(&[VISA, LOCALSTRIPE_DECLINED]).await;
}

// ---- configuration --------------------------------------------------------------------------

#[test]
fn check_reports_a_stripe_account_without_an_api_key() {
    let dir = TempDir::new().expect("temp dir");
    let routing = dir.path().join("routing");
    std::fs::create_dir(&routing).expect("routing folder");
    let profiles = r#"
[merchants.acme.profiles.web]

[[merchants.acme.profiles.web.connector_accounts]]
name = "s"
connector = "stripe"
"#;
    let path = config_file(dir.path(), HASH_SECRET, &routing, profiles);
    let out = switchyard(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "merchants.acme.profiles.web.connector_accounts[0].credentials.api_key: missing"),
        "{}",
        show(&out)
    );
    assert!(!stdout.contains("unknown connector"), "{}", show(&out));

    // With the key, the same profile is sound.
    let with_key =
        profiles.replace("connector = \"stripe\"", "connector = \"stripe\"\ncredentials = { api_key = \"sk_test_x\" }");
    let path = config_file(dir.path(), HASH_SECRET, &routing, &with_key);
    let out = switchyard(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

// ---- against a mock Stripe ------------------------------------------------------------------

/// A daemon whose acme/web pays through the Stripe account `mock_stripe` at `url` first and the
/// sandbox account `sandbox` second.
async fn mock_then_sandbox(url: &str) -> TestApp {
    start_with_accounts(
        vec![stripe_account("mock_stripe", url), sandbox_account("sandbox")],
        &["mock_stripe", "sandbox"],
    )
    .await
}

/// Asserts every call the mock saw carries the key and a pinned API version, and every POST is
/// form-encoded and carries an idempotency key.
fn assert_well_formed(seen: &[Seen]) {
    assert!(!seen.is_empty(), "the mock saw nothing");
    for s in seen {
        let bearer = format!("Bearer {API_KEY}");
        assert_eq!(s.header("authorization"), Some(bearer.as_str()), "{s:#?}");
        assert!(s.header("stripe-version").is_some_and(|v| !v.is_empty()), "no Stripe-Version: {s:#?}");
        if s.method == "POST" {
            assert!(s.header("idempotency-key").is_some_and(|v| !v.is_empty()), "no Idempotency-Key: {s:#?}");
            assert!(
                s.header("content-type").is_some_and(|v| v.starts_with("application/x-www-form-urlencoded")),
                "not form-encoded: {s:#?}"
            );
        }
    }
}

/// Asserts the card number travels only in the form body of a payment intent's creation: never
/// in a URL, a header or any other body.
fn assert_pan_only_in_payment_intents(seen: &[Seen], pan: &str) {
    for s in seen {
        assert!(!s.path.contains(pan) && !s.query.as_deref().unwrap_or("").contains(pan), "PAN in a URL: {s:#?}");
        assert!(s.headers.iter().all(|(_, v)| !v.contains(pan)), "PAN in a header: {s:#?}");
        if !s.is("POST", "/v1/payment_intents") {
            assert!(!s.body.contains(pan), "PAN in another body: {s:#?}");
        }
    }
}

/// A daemon whose acme/web pays through one Stripe account, `stripe`, on a working mock Stripe.
async fn on_mock() -> (MockStripe, TestApp) {
    let mock = MockStripe::start(Fault::Works).await;
    let app = start_with_accounts(vec![stripe_account("stripe", &mock.server.url)], &["stripe"]).await;
    (mock, app)
}

/// The payment intent creations `mock` saw.
fn intent_calls(mock: &MockStripe) -> Vec<Seen> {
    mock.seen.all().into_iter().filter(|s| s.is("POST", "/v1/payment_intents")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_payment_is_one_call_to_stripe_carrying_the_card_inline() {
    let (mock, app) = on_mock().await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    let attempt = str_of(&body, "/attempts/0/id").to_string();

    let seen = mock.seen.all();
    assert_eq!(seen.len(), 1, "one call per card payment: {seen:#?}");
    let intent = mock.seen.only("POST", "/v1/payment_intents");
    assert_eq!(intent.header("idempotency-key"), Some(format!("{attempt}:payment_intent").as_str()), "{intent:#?}");
    for (key, value) in [
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", VISA),
        ("payment_method_data[card][exp_month]", "10"),
        ("payment_method_data[card][exp_year]", "2035"),
        ("payment_method_data[card][cvc]", "123"),
        ("payment_method_data[billing_details][name]", "joseph Doe"),
    ] {
        assert_eq!(intent.field(key).as_deref(), Some(value), "{key}: {intent:#?}");
    }
    assert_eq!(intent.field("payment_method"), None, "{intent:#?}");
    // No 3-D Secure asked for, and no return page where the payment has none.
    assert!(intent.form().iter().all(|(k, _)| !k.starts_with("payment_method_options") && k != "return_url"));
    assert!(!seen.iter().any(|s| s.path.starts_with("/v1/payment_methods")), "{seen:#?}");
    app.stop().await;
}

/// A three_ds payment with a return_url, through the mock: Stripe is asked for 3-D Secure and
/// given the daemon's return page, and the payer is sent to Stripe's challenge; its status.
async fn three_ds_payment(app: &TestApp, mock: &MockStripe, capture_method: &str) -> Value {
    let body = with(
        payment(VISA),
        json!({ "authentication_type": "three_ds", "return_url": "https://shop.example/back",
                "capture_method": capture_method }),
    );
    let body = pay(app, body).await;
    let id = id_of(&body);
    let calls = intent_calls(mock);
    let intent = calls.last().expect("a payment intent");
    assert_eq!(intent.field("payment_method_options[card][request_three_d_secure]").as_deref(), Some("any"));
    let back = format!("{}/v2/payments/{id}/return", app.base);
    assert_eq!(intent.field("return_url"), Some(back), "{intent:#?}");
    assert_eq!(intent.field("payment_method_data[card][number]").as_deref(), Some(VISA), "{intent:#?}");

    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"]["type"], "redirect_to_url", "{body}");
    let challenge = format!("{}/3ds/{}", mock.server.url, str_of(&body, "/attempts/0/connector_payment_id"));
    assert_eq!(body["next_action"]["redirect_to_url"], challenge.as_str(), "{body}");
    assert_eq!(body["attempts"][0]["status"], "authentication_pending", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    body
}

/// The daemon's answer to the payer's browser coming back at `url`, not followed.
async fn come_back(url: &str) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    client.get(url).send().await.expect("the return page answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_d_secure_is_asked_of_stripe_and_its_redirect_ends_in_the_real_outcome() {
    let (mock, app) = on_mock().await;
    let body = three_ds_payment(&app, &mock, "automatic").await;
    let (id, pi) = (id_of(&body), str_of(&body, "/attempts/0/connector_payment_id").to_string());
    let stored = retrieve(&app, &format!("/v2/payments/{id}")).await;
    assert_eq!(stored["status"], "requires_customer_action", "{stored}");

    // The payer completes the challenge; Stripe sends them to the daemon, which reads the intent
    // back and sends them on to the shop.
    let back = complete_challenge(str_of(&body, "/next_action/redirect_to_url"), "success").await;
    assert!(back.starts_with(&format!("{}/v2/payments/{id}/return?", app.base)), "{back}");
    let res = come_back(&back).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("https://shop.example/back?id={id}&status=succeeded"));
    mock.seen.only("GET", &format!("/v1/payment_intents/{pi}"));

    let got = retrieve(&app, &format!("/v2/payments/{id}")).await;
    assert_eq!(got["status"], "succeeded", "{got}");
    assert_eq!(got["amount"]["amount_captured"], 6540, "{got}");
    assert_eq!(got["attempts"][0]["status"], "charged", "{got}");
    assert!(got["next_action"].is_null(), "{got}");
    assert_eq!(intent_calls(&mock).len(), 1, "nothing charged twice");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_challenge_fails_the_payment_and_a_manual_one_waits_for_capture() {
    let (mock, app) = on_mock().await;
    let failed = three_ds_payment(&app, &mock, "automatic").await;
    let back = complete_challenge(str_of(&failed, "/next_action/redirect_to_url"), "failure").await;
    assert_eq!(come_back(&back).await.status(), 303);
    let got = retrieve(&app, &format!("/v2/payments/{}", id_of(&failed))).await;
    assert_eq!(got["status"], "failed", "{got}");
    assert_eq!(got["error"]["code"], "payment_intent_authentication_failure", "{got}");

    let held = three_ds_payment(&app, &mock, "manual").await;
    let back = complete_challenge(str_of(&held, "/next_action/redirect_to_url"), "success").await;
    assert_eq!(come_back(&back).await.status(), 303);
    let got = retrieve(&app, &format!("/v2/payments/{}", id_of(&held))).await;
    assert_eq!(got["status"], "requires_capture", "{got}");
    app.stop().await;
}

/// Without a return_url the payment has no page to come back to: Stripe is given none, and the
/// authentication it asks for is left to Stripe.js in the merchant's page.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_return_url_authentication_is_left_to_stripe_js() {
    let (mock, app) = on_mock().await;
    let body = pay(&app, with(payment(VISA), json!({ "authentication_type": "three_ds" }))).await;
    let intent = mock.seen.only("POST", "/v1/payment_intents");
    assert_eq!(intent.field("payment_method_options[card][request_three_d_secure]").as_deref(), Some("any"));
    assert_eq!(intent.field("return_url"), None, "{intent:#?}");
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"]["type"], "invoke_sdk_client", "{body}");
    assert_eq!(body["next_action"]["next_action_data"]["sdk"], "stripe", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_calls_carry_stripes_headers_idempotency_keys_and_form_fields() {
    let (mock, app) = on_mock().await;

    // Automatic capture: a confirmed payment intent carrying the card.
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 6540, "{body}");
    let payment_id = id_of(&body);
    let attempt = str_of(&body, "/attempts/0/id").to_string();
    let pi = str_of(&body, "/connector_transaction_id").to_string();
    assert!(pi.starts_with("pi_mock"), "{body}");

    let intent = mock.seen.only("POST", "/v1/payment_intents");
    assert_eq!(intent.header("idempotency-key"), Some(format!("{attempt}:payment_intent").as_str()), "{intent:#?}");
    assert_eq!(intent.field("amount").as_deref(), Some("6540"), "{intent:#?}");
    assert_eq!(intent.field("currency").as_deref(), Some("usd"), "{intent:#?}");
    assert_eq!(intent.field("confirm").as_deref(), Some("true"), "{intent:#?}");
    assert_eq!(intent.field("capture_method").as_deref(), Some("automatic"), "{intent:#?}");
    assert_eq!(intent.field("payment_method_data[card][number]").as_deref(), Some(VISA), "{intent:#?}");
    assert_eq!(intent.field("metadata[payment_id]").as_deref(), Some(payment_id.as_str()), "{intent:#?}");
    assert_eq!(intent.field("metadata[attempt_id]").as_deref(), Some(attempt.as_str()), "{intent:#?}");

    // A refund's idempotency key is switchyard's refund id.
    let refunded = refund(&app, &payment_id, "mock-refund", 1000).await;
    assert_eq!(refunded["status"], "succeeded", "{refunded}");
    assert!(str_of(&refunded, "/connector_refund_reference_id").starts_with("re_mock"), "{refunded}");
    let refund_id = id_of(&refunded);
    assert!(refund_id.starts_with("sy_ref_"), "{refunded}");
    let re = mock.seen.only("POST", "/v1/refunds");
    assert_eq!(re.header("idempotency-key"), Some(refund_id.as_str()), "{re:#?}");
    assert_eq!(re.field("payment_intent").as_deref(), Some(pi.as_str()), "{re:#?}");
    assert_eq!(re.field("amount").as_deref(), Some("1000"), "{re:#?}");

    // Manual capture, captured in part.
    let held = authorized(&app).await;
    let attempt = str_of(&held, "/attempts/0/id").to_string();
    let pi = str_of(&held, "/connector_transaction_id").to_string();
    let intents = intent_calls(&mock);
    assert_eq!(intents.len(), 2, "{intents:#?}");
    assert_eq!(intents[1].field("capture_method").as_deref(), Some("manual"), "{intents:#?}");
    assert_eq!(intents[1].header("idempotency-key"), Some(format!("{attempt}:payment_intent").as_str()));
    let captured = capture(&app, &id_of(&held), json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(captured["status"], "partially_captured", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 4000, "{captured}");
    let cap = mock.seen.only("POST", &format!("/v1/payment_intents/{pi}/capture"));
    assert_eq!(cap.header("idempotency-key"), Some(format!("{attempt}:capture:4000").as_str()), "{cap:#?}");
    assert_eq!(cap.field("amount_to_capture").as_deref(), Some("4000"), "{cap:#?}");

    // A forced sync reads the intent back, and Stripe's `amount_received` keeps the capture partial.
    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&held))).await;
    assert_eq!(synced["status"], "partially_captured", "{synced}");
    assert_eq!(synced["amount"]["amount_captured"], 4000, "{synced}");
    let read = mock.seen.only("GET", &format!("/v1/payment_intents/{pi}"));
    assert!(read.body.is_empty(), "{read:#?}");

    // Manual capture, cancelled.
    let held = authorized(&app).await;
    let attempt = str_of(&held, "/attempts/0/id").to_string();
    let pi = str_of(&held, "/connector_transaction_id").to_string();
    let cancelled = cancel(&app, &id_of(&held), json!({ "cancellation_reason": "customer asked" })).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let void = mock.seen.only("POST", &format!("/v1/payment_intents/{pi}/cancel"));
    assert_eq!(void.header("idempotency-key"), Some(format!("{attempt}:void").as_str()), "{void:#?}");

    let seen = mock.seen.all();
    assert_well_formed(&seen);
    assert_pan_only_in_payment_intents(&seen, VISA);
    assert_eq!(seen.iter().filter(|s| s.path.starts_with("/v1/payment_methods")).count(), 0, "{seen:#?}");
    app.stop().await;
}

/// Asserts the payment went to the sandbox after `mock_stripe` did not take it.
fn assert_fell_through(body: &Value) {
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "sandbox", "{body}");
    assert_eq!(body["connector"], "sandbox", "{body}");
    let tried = attempts(body);
    assert_eq!(tried.len(), 2, "{body}");
    assert_eq!(tried[0]["merchant_connector_id"], "mock_stripe", "{body}");
    assert_eq!(tried[0]["connector"], "stripe", "{body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_not_taken", "{body}");
    assert_eq!(tried[1]["merchant_connector_id"], "sandbox", "{body}");
    assert_eq!(tried[1]["status"], "charged", "{body}");
    assert!(body["error"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_payment_intent_falls_through_to_the_next_account() {
    let mock = MockStripe::start(Fault::RateLimited).await;
    let app = mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_fell_through(&body);
    mock.seen.only("POST", "/v1/payment_intents");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_falls_through_to_the_next_account() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = mock_then_sandbox(&format!("http://127.0.0.1:{closed}")).await;
    let body = pay(&app, payment(VISA)).await;
    assert_fell_through(&body);
    app.stop().await;
}

/// The payment intent calls `mock` got: the first, and its repeat with the same Idempotency-Key
/// (a call with no clear answer is made once more, which Stripe answers from its first outcome).
fn intent_calls_repeated(mock: &MockStripe) {
    let calls = intent_calls(mock);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let key = calls[0].header("idempotency-key").expect("an Idempotency-Key");
    assert_eq!(calls[1].header("idempotency-key"), Some(key), "the repeat reuses the key");
}

/// Asserts the payment is left `processing` on `mock_stripe`, which may have charged it, and no
/// other account was tried.
fn assert_left_processing(body: &Value) {
    assert_eq!(body["status"], "processing", "{body}");
    let tried = attempts(body);
    assert_eq!(tried.len(), 1, "the second account was tried: {body}");
    assert_eq!(tried[0]["merchant_connector_id"], "mock_stripe", "{body}");
    assert_eq!(tried[0]["connector"], "stripe", "{body}");
    assert_eq!(tried[0]["status"], "pending", "{body}");
    assert_eq!(body["merchant_connector_id"], "mock_stripe", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_on_the_payment_intent_leaves_the_payment_processing() {
    let mock = MockStripe::start(Fault::ServerError).await;
    let app = mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_left_processing(&body);
    intent_calls_repeated(&mock);
    let stored = retrieve(&app, &format!("/v2/payments/{}", id_of(&body))).await;
    assert_eq!(stored["status"], "processing", "{stored}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_once_is_resolved_by_asking_again_with_the_same_idempotency_key() {
    let mock = MockStripe::start(Fault::ServerErrorOnce).await;
    let app = mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(attempts(&body).len(), 1, "no other account was tried: {body}");
    assert_eq!(body["merchant_connector_id"], "mock_stripe", "{body}");
    intent_calls_repeated(&mock);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_answer_to_the_payment_intent_leaves_the_payment_processing() {
    let mock = MockStripe::start(Fault::Malformed).await;
    let app = mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_left_processing(&body);
    intent_calls_repeated(&mock);
    app.stop().await;
}

/// `mock_then_sandbox`, whose calls get no answer after 500 ms.
async fn impatient_mock_then_sandbox(url: &str) -> TestApp {
    let dir = TempDir::new().expect("temp dir");
    let mut config = config_with(
        dir.path(),
        vec![stripe_account("mock_stripe", url), sandbox_account("sandbox")],
        &["mock_stripe", "sandbox"],
    );
    config.http.request_timeout_ms = 500;
    TestApp::start_with(dir, config).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_later_than_the_timeout_leaves_the_payment_processing() {
    let mock = MockStripe::start(Fault::Slow).await;
    let app = impatient_mock_then_sandbox(&mock.server.url).await;
    // The mock would take the payment after 3 s: a payment left processing is the timeout's doing.
    let body = pay(&app, payment(VISA)).await;
    assert_left_processing(&body);
    intent_calls_repeated(&mock);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decline_from_stripe_is_final_and_keeps_its_decline_code() {
    let mock = MockStripe::start(Fault::Declined).await;
    let app = mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "card_declined", "{body}");
    assert_eq!(body["error"]["reason"], "insufficient_funds", "{body}");
    assert_eq!(body["error"]["message"], "Your card has insufficient funds.", "{body}");
    assert_eq!(body["connector_transaction_id"], "pi_mock", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 1, "a decline fell through: {body}");
    assert_eq!(tried[0]["merchant_connector_id"], "mock_stripe", "{body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["connector_payment_id"], "pi_mock", "{body}");
    mock.seen.only("POST", "/v1/payment_intents");
    app.stop().await;
}

/// localstripe 1.15.10 leaves `amount_received` out of a payment intent (and captures partly by
/// refunding the rest of the charge), so a sync learns only that the intent `succeeded`: that must
/// not turn a partial capture into a full one, nor let more be refunded than was captured.
#[tokio::test]
async fn a_forced_sync_after_a_partial_capture_at_stripe_keeps_it_partial() {
    let app = localstripe_app().await;
    let held = authorized(&app).await;
    let id = id_of(&held);
    let captured = capture(&app, &id, json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(captured["status"], "partially_captured", "{captured}");
    let synced = retrieve(&app, &format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(synced["status"], "partially_captured", "{synced}");
    assert_eq!(synced["amount"]["amount_captured"], 4000, "{synced}");
    let (status, body) =
        app.post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "too-much", "amount": 6540 })).await;
    assert_error(status, &body, 400, "IR_13");
    app.stop().await;
}

// ---- webhooks -------------------------------------------------------------------------------

const WEBHOOK_SECRET: &str = "whsec_switchyardTest";

/// `Stripe-Signature` for `body` signed now with `secret`.
fn stripe_signature(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let time = chrono::Utc::now().timestamp();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{time}.{body}").as_bytes());
    format!("t={time},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn notify(app: &TestApp, signature: &str, body: &str) -> (u16, Value) {
    notify_account(app, "stripe", signature, body).await
}

async fn notify_account(app: &TestApp, account: &str, signature: &str, body: &str) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/v2/webhooks/acme/{account}", app.base))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the webhook is answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_stripe_notification_settles_the_payment_once_and_a_forged_one_changes_nothing() {
    let mut account = stripe_account("stripe", &localstripe::url());
    account.credentials.insert("webhook_secret".into(), SecretValue::Literal(WEBHOOK_SECRET.into()));
    let app = start_with_accounts(vec![account], &["stripe"]).await;
    let held = authorized(&app).await;
    let (id, pi) = (id_of(&held), str_of(&held, "/connector_transaction_id").to_string());
    let event = json!({
        "id": "evt_1", "type": "payment_intent.succeeded",
        "data": { "object": { "object": "payment_intent", "id": pi, "status": "succeeded", "amount": 6540, "amount_received": 6540 } }
    })
    .to_string();

    // A forged signature: refused, and the payment is as it was.
    let (status, body) = notify(&app, &stripe_signature("whsec_forged", &event), &event).await;
    assert_error(StatusCode::from_u16(status).unwrap(), &body, 401, "WE_01");
    assert_eq!(retrieve(&app, &format!("/v2/payments/{id}")).await["status"], "requires_capture");

    let (status, body) = notify(&app, &stripe_signature(WEBHOOK_SECRET, &event), &event).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let paid = retrieve(&app, &format!("/v2/payments/{id}")).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount"]["amount_captured"], 6540, "{paid}");

    // The same notification again is harmless.
    let (status, body) = notify(&app, &stripe_signature(WEBHOOK_SECRET, &event), &event).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("already_known")), "{body}");
    assert_eq!(retrieve(&app, &format!("/v2/payments/{id}")).await["status"], "succeeded");

    // About a payment no one here knows: verified, and nothing to do.
    let other = event.replace(&pi, "pi_unknown");
    let (status, body) = notify(&app, &stripe_signature(WEBHOOK_SECRET, &other), &other).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("not_tracked")), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_naming_the_attempt_settles_a_payment_whose_answer_was_lost() {
    let mock = MockStripe::start(Fault::ServerError).await;
    let mut account = stripe_account("mock_stripe", &mock.server.url);
    account.credentials.insert("webhook_secret".into(), SecretValue::Literal(WEBHOOK_SECRET.into()));
    let app = start_with_accounts(vec![account], &["mock_stripe"]).await;
    let lost = pay(&app, payment(VISA)).await;
    assert_left_processing(&lost);
    assert!(lost["connector_transaction_id"].is_null(), "{lost}");
    let (id, attempt_id) = (id_of(&lost), attempts(&lost)[0]["id"].as_str().unwrap().to_string());

    // Stripe made the intent all the same; its notification carries the ids switchyard sent.
    let event = json!({
        "id": "evt_lost", "type": "payment_intent.succeeded",
        "data": { "object": { "object": "payment_intent", "id": "pi_lost", "status": "succeeded", "amount": 6540,
            "amount_received": 6540, "metadata": { "payment_id": id, "attempt_id": attempt_id } } }
    })
    .to_string();
    let (status, body) = notify_account(&app, "mock_stripe", &stripe_signature(WEBHOOK_SECRET, &event), &event).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let paid = retrieve(&app, &format!("/v2/payments/{id}")).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["connector_transaction_id"], "pi_lost", "{paid}");

    // An attempt id no one here gave out finds nothing.
    let stranger = event.replace(&attempt_id, "sy_att_someone_else");
    let stranger = stranger.replace("pi_lost", "pi_stranger");
    let (status, body) =
        notify_account(&app, "mock_stripe", &stripe_signature(WEBHOOK_SECRET, &stranger), &stranger).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("not_tracked")), "{body}");
    app.stop().await;
}

// ---- money truth: unclear answers, lost answers, contradicting notifications ----------------

/// A Stripe account named `name` at `url` that takes notifications signed with WEBHOOK_SECRET.
fn notified_account(name: &str, url: &str) -> switchyard::config::ConnectorAccountConfig {
    let mut account = stripe_account(name, url);
    account.credentials.insert("webhook_secret".into(), SecretValue::Literal(WEBHOOK_SECRET.into()));
    account
}

/// Moves the record `id` of `table` an hour into the past, as if a crash had left it there long
/// ago: past any time its calls could still arrive at Stripe.
async fn backdate(app: &TestApp, table: &str, id: &str) {
    use sqlx::Executor;
    let mut db = common::database::connect(app.database_url()).await;
    let sql = format!("UPDATE {table} SET created_at = created_at - 3600000 WHERE id = '{id}'");
    assert_eq!(db.execute(sql.as_str()).await.expect("backdated").rows_affected(), 1, "{sql}");
}

/// The count of `switchyard_discrepancies_total` for `kind` and `action`, as `/metrics` shows it.
async fn discrepancies(app: &TestApp, kind: &str, action: &str) -> f64 {
    let exposition = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    exposition
        .lines()
        .filter(|l| l.starts_with("switchyard_discrepancies_total{"))
        .filter(|l| l.contains(&format!("kind=\"{kind}\"")) && l.contains(&format!("action=\"{action}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A signed `payment_intent.*` notification of `mock_stripe` about intent `pi` now `status`.
async fn notify_intent(app: &TestApp, pi: &str, status: &str, received: i64) -> Value {
    let event = json!({
        "id": format!("evt_{pi}_{status}"), "type": format!("payment_intent.{status}"),
        "data": { "object": { "object": "payment_intent", "id": pi, "status": status, "amount": 6540,
            "amount_received": received } }
    })
    .to_string();
    let (status, body) = notify_account(app, "mock_stripe", &stripe_signature(WEBHOOK_SECRET, &event), &event).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Stripe's 409 to the repeat of a call still in progress (the first outlived the HTTP client's
/// time but not the attempt's) says nothing of the first: the payment stays processing, and a
/// sync finds the intent Stripe made by the attempt id it carries.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_conflict_leaves_the_payment_processing_until_stripe_says_what_it_did() {
    let mock = MockStripe::start(Fault::InFlight).await;
    let app = impatient_mock_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_left_processing(&body);
    intent_calls_repeated(&mock);
    let attempt_id = attempts(&body)[0]["id"].as_str().unwrap().to_string();

    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&body))).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    assert_eq!(synced["amount"]["amount_captured"], 6540, "{synced}");
    let made = mock.seen.all().into_iter().find(|s| s.is("POST", "/v1/payment_intents")).unwrap();
    assert!(str_of(&synced, "/connector_transaction_id").starts_with("pi_mock"), "{synced}");
    assert_eq!(made.field("metadata[attempt_id]").as_deref(), Some(attempt_id.as_str()));
    // The intent was looked for in a consistent list bounded by the attempt's time.
    let listed = mock.seen.only("GET", "/v1/payment_intents");
    let now = chrono::Utc::now().timestamp();
    let bound = |name: &str| listed.param(name).and_then(|t| t.parse::<i64>().ok()).expect(name);
    assert!(bound("created[gte]") < now && bound("created[lte]") > now, "{listed:#?}");
    app.stop().await;
}

/// An attempt cut off before Stripe named an intent, which Stripe never received, settles as
/// failed once no call for it can still arrive — and not before.
#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_stripe_never_received_fails_once_no_call_can_still_arrive() {
    let mock = MockStripe::start(Fault::ServerError).await;
    let app = start_with_accounts(vec![stripe_account("mock_stripe", &mock.server.url)], &["mock_stripe"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_left_processing(&body);
    let (id, attempt_id) = (id_of(&body), attempts(&body)[0]["id"].as_str().unwrap().to_string());

    // Its calls may still be arriving: nothing is concluded.
    let early = retrieve(&app, &format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(early["status"], "processing", "{early}");
    assert!(mock.seen.all().iter().any(|s| s.is("GET", "/v1/payment_intents")), "Stripe was not asked");

    backdate(&app, "payment_attempts", &attempt_id).await;
    let settled = retrieve(&app, &format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(attempts(&settled)[0]["status"], "failure", "{settled}");
    assert_eq!(settled["error"]["code"], "not_received", "{settled}");
    assert_eq!(settled["amount"]["amount_captured"], 0, "{settled}");
    app.stop().await;
}

/// A payment recorded failed that Stripe says it charged: the money moved, so the record follows
/// Stripe, and the correction is counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_notification_that_stripe_charged_a_payment_recorded_failed_is_applied() {
    let mock = MockStripe::start(Fault::Declined).await;
    let app = start_with_accounts(vec![notified_account("mock_stripe", &mock.server.url)], &["mock_stripe"]).await;
    let declined = pay(&app, payment(VISA)).await;
    assert_eq!(declined["status"], "failed", "{declined}");
    let before = discrepancies(&app, "payment_charged_recorded_failed", "applied").await;

    let body = notify_intent(&app, "pi_mock", "succeeded", 6540).await;
    assert_eq!(body["outcome"], "applied", "{body}");
    let paid = retrieve(&app, &format!("/v2/payments/{}", id_of(&declined))).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount"]["amount_captured"], 6540, "{paid}");
    assert_eq!(attempts(&paid)[0]["status"], "charged", "{paid}");
    assert_eq!(discrepancies(&app, "payment_charged_recorded_failed", "applied").await, before + 1.0);
    app.stop().await;
}

/// A payment recorded charged that Stripe says it cancelled is left as recorded and raised: a
/// person must look.
#[tokio::test(flavor = "multi_thread")]
async fn a_notification_contradicting_a_charge_is_raised_not_applied_nor_dropped() {
    let mock = MockStripe::start(Fault::Works).await;
    let app = start_with_accounts(vec![notified_account("mock_stripe", &mock.server.url)], &["mock_stripe"]).await;
    let paid = pay(&app, payment(VISA)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let before = discrepancies(&app, "payment_failed_recorded_charged", "raised").await;

    let body = notify_intent(&app, str_of(&paid, "/connector_transaction_id"), "canceled", 0).await;
    assert_eq!(body["outcome"], "discrepancy", "{body}");
    let still = retrieve(&app, &format!("/v2/payments/{}", id_of(&paid))).await;
    assert_eq!(still["status"], "succeeded", "{still}");
    assert_eq!(discrepancies(&app, "payment_failed_recorded_charged", "raised").await, before + 1.0);
    app.stop().await;
}

/// What a proxy in front of localstripe does with a refund's creation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RefundFault {
    /// Passes it on, then loses localstripe's answer (500).
    AnswerLost,
    /// Answers 500 without passing it on: localstripe never hears of it.
    NeverSent,
}

/// localstripe behind a proxy that passes every call on, except as `fault` says for a refund.
async fn localstripe_losing_refunds(fault: RefundFault) -> MockServer {
    let app =
        axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| async move {
            let lost = || stripe_error(500, "api_error", "api_error", "Something went wrong on Stripe's end.");
            let creates_refund = method == Method::POST && uri.path() == "/v1/refunds";
            if creates_refund && fault == RefundFault::NeverSent {
                return lost();
            }
            let target = format!("{}{}", localstripe::url(), uri.path_and_query().map_or("", |p| p.as_str()));
            let mut call = reqwest::Client::new().request(method, target).body(body);
            for name in ["authorization", "content-type", "idempotency-key", "stripe-version"] {
                if let Some(value) = headers.get(name) {
                    call = call.header(name, value.as_bytes());
                }
            }
            let res = call.send().await.expect("localstripe answers");
            if creates_refund {
                return lost();
            }
            let status = res.status().as_u16();
            answer(status, "application/json", res.text().await.expect("localstripe's body"))
        });
    MockServer::serve(app).await
}

/// A succeeded payment of 6540 at localstripe, through `app`'s account `stripe`, and a refund
/// of 1000 of it left pending (its answer lost or never given); their ids.
async fn pending_refund(app: &TestApp, reference: &str) -> (String, String) {
    let paid = pay(app, payment(VISA)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let pending = refund(app, &id_of(&paid), reference, 1000).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(pending["connector_refund_reference_id"].is_null(), "{pending}");
    (id_of(&paid), id_of(&pending))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_whose_answer_was_lost_is_found_at_stripe_by_its_own_id_in_a_sync() {
    let proxy = localstripe_losing_refunds(RefundFault::AnswerLost).await;
    let app = start_with_accounts(vec![stripe_account("stripe", &proxy.url)], &["stripe"]).await;
    let (_, refund_id) = pending_refund(&app, "lost-answer-sync").await;
    let synced = retrieve(&app, &format!("/v2/refunds/{refund_id}?force_sync=true")).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    let re = str_of(&synced, "/connector_refund_reference_id");
    assert_eq!(localstripe_get(&format!("/v1/refunds/{re}")).await["metadata"]["refund_id"], refund_id.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_whose_answer_was_lost_is_found_by_its_own_id_in_stripes_notification() {
    let proxy = localstripe_losing_refunds(RefundFault::AnswerLost).await;
    let app = start_with_accounts(vec![notified_account("stripe", &proxy.url)], &["stripe"]).await;
    let (payment_id, refund_id) = pending_refund(&app, "lost-answer-notified").await;
    let pi =
        str_of(&retrieve(&app, &format!("/v2/payments/{payment_id}")).await, "/connector_transaction_id").to_string();
    let listed = localstripe_get(&format!("/v1/refunds?payment_intent={pi}")).await;
    let made = listed["data"].as_array().unwrap().iter().find(|r| r["metadata"]["refund_id"] == refund_id.as_str());
    let made = made.unwrap_or_else(|| panic!("localstripe made no refund {refund_id}: {listed}")).clone();

    let event = json!({ "id": "evt_refund", "type": "refund.updated", "data": { "object": made } }).to_string();
    let (status, body) = notify(&app, &stripe_signature(WEBHOOK_SECRET, &event), &event).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let settled = retrieve(&app, &format!("/v2/refunds/{refund_id}")).await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["connector_refund_reference_id"], made["id"], "{settled}");
    app.stop().await;
}

/// A refund Stripe never received fails — its amount refundable again — once its call can no
/// longer arrive, and not before.
#[tokio::test(flavor = "multi_thread")]
async fn a_refund_stripe_never_received_fails_once_its_call_can_no_longer_arrive() {
    let proxy = localstripe_losing_refunds(RefundFault::NeverSent).await;
    let app = start_with_accounts(vec![stripe_account("stripe", &proxy.url)], &["stripe"]).await;
    let (payment_id, refund_id) = pending_refund(&app, "never-sent").await;
    let early = retrieve(&app, &format!("/v2/refunds/{refund_id}?force_sync=true")).await;
    assert_eq!(early["status"], "pending", "{early}");

    backdate(&app, "refunds", &refund_id).await;
    let settled = retrieve(&app, &format!("/v2/refunds/{refund_id}?force_sync=true")).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["error_details"]["code"], "not_received", "{settled}");
    // Its amount is given back: the whole payment can be refunded.
    let (status, body) = app
        .post("/v2/refunds", json!({ "payment_id": payment_id, "merchant_reference_id": "all", "amount": 6540 }))
        .await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}
