//! Saved payment methods over HTTP: create-intent (the seed's body), confirm-intent with a card,
//! create in one call, read, list per customer, delete; paying with a saved method; the vault
//! (cards sealed at rest, the key required and checked at start, volatile security codes kept in
//! memory until a payment uses them); and who may see what.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, Uri};
use axum::response::Response;
use common::mock::{json_answer, MockServer};
use common::recorder::{Recorder, Seen};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use switchyard::app::start;
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const CVC: &str = "737";

async fn customer_of(app: &TestApp, key: &str, profile: &str) -> String {
    let body = json!({ "name": "John Doe", "email": "john@example.com" });
    let (status, created) = app.call(Method::POST, "/v2/customers", Some(key), Some(profile), Some(&body)).await;
    assert_eq!(status, 200, "{created}");
    id_of(&created)
}

async fn customer(app: &TestApp) -> String {
    customer_of(app, ACME_KEY, "web").await
}

/// The seed's create-intent body, for `customer_id`.
fn intent_body(customer_id: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "metadata": {},
        "billing": {
            "address": {
                "city": "New York", "country": "AF", "line1": "123, King Street", "line2": "Powelson Avenue",
                "line3": "Bridgewater", "zip": "08807", "state": "New York", "first_name": "John", "last_name": "Doe",
                "origin_zip": "08807"
            },
            "phone": { "number": "9123456789", "country_code": "+1" },
            "email": "john@example.com"
        }
    })
}

fn card(number: &str) -> Value {
    json!({
        "card_number": number, "card_exp_month": "10", "card_exp_year": "2035",
        "card_holder_name": "John Doe", "card_cvc": CVC, "nick_name": "Work card"
    })
}

fn confirm_body(number: &str) -> Value {
    json!({ "payment_method_data": { "card": card(number) }, "payment_method_type": "card", "payment_method_subtype": "credit" })
}

async fn method_intent(app: &TestApp, customer_id: &str) -> Value {
    let (status, body) = app.post("/v2/payment-methods/create-intent", intent_body(customer_id)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A saved card of `customer_id`, through create-intent and confirm-intent.
async fn saved_card(app: &TestApp, customer_id: &str, number: &str) -> String {
    let id = id_of(&method_intent(app, customer_id).await);
    let (status, body) = app.post(&format!("/v2/payment-methods/{id}/confirm-intent"), confirm_body(number)).await;
    assert_eq!(status, 200, "{body}");
    id
}

fn pay_with(customer_id: Option<&str>, method_id: &str) -> Value {
    let mut body = json!({
        "amount_details": { "order_amount": 6540, "currency": "USD" },
        "payment_method_type": "card",
        "payment_method_id": method_id
    });
    if let Some(customer_id) = customer_id {
        body["customer_id"] = json!(customer_id);
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn create_intent_then_confirm_saves_a_card_that_shows_only_what_may_be_shown() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let intent = method_intent(&app, &customer_id).await;
    let id = id_of(&intent);
    assert!(id.starts_with("sy_pm_") && (32..=64).contains(&id.len()), "{intent}");
    assert_eq!(intent["customer_id"], customer_id.as_str(), "{intent}");
    assert_eq!(intent["merchant_id"], "acme", "{intent}");
    assert!(intent["payment_method_data"].is_null(), "no card yet: {intent}");
    assert_eq!(intent["storage_type"], "persistent", "{intent}");
    assert_eq!(intent["billing"]["address"]["city"], "New York", "{intent}");

    let (status, confirmed) = app.post(&format!("/v2/payment-methods/{id}/confirm-intent"), confirm_body(VISA)).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["id"], id.as_str());
    assert_eq!(confirmed["payment_method_type"], "card", "{confirmed}");
    assert_eq!(confirmed["payment_method_subtype"], "credit", "{confirmed}");
    assert_eq!(confirmed["recurring_enabled"], true, "{confirmed}");
    let shown = &confirmed["payment_method_data"]["card"];
    assert_eq!(shown["last4_digits"], "4242", "{confirmed}");
    assert_eq!(shown["card_network"], "Visa", "{confirmed}");
    assert_eq!(shown["expiry_month"], "10", "{confirmed}");
    assert_eq!(shown["expiry_year"], "2035", "{confirmed}");
    assert_eq!(shown["card_holder_name"], "John Doe", "{confirmed}");
    assert_eq!(shown["nick_name"], "Work card", "{confirmed}");
    assert_eq!(shown["saved_to_locker"], true, "{confirmed}");
    assert!(confirmed["raw_payment_method_data"].is_null(), "{confirmed}");
    assert!(confirmed["card_cvc_token_storage"].is_null(), "a persistent method keeps no code: {confirmed}");
    let text = confirmed.to_string();
    assert!(!text.contains(VISA) && !text.contains(&format!("\"{CVC}\"")), "the card is in the answer: {text}");

    let (status, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["payment_method_data"], confirmed["payment_method_data"]);

    // A method is given its card once.
    let (status, again) = app.post(&format!("/v2/payment-methods/{id}/confirm-intent"), confirm_body(VISA)).await;
    assert_error(status, &again, 400, "IR_14");

    // The card is sealed: neither number nor code is anywhere in the database's files.
    assert_eq!(app.count("vault").await, 1);
    app.stop_holding_none_of(&[VISA, "\"737\""]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_intent_refuses_what_is_wrong_and_stores_nothing() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let globex_customer = customer_of(&app, GLOBEX_KEY, "web").await;
    let unknown = "sy_cus_0000000000000000000000000000000a";
    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({}), 400, "IR_06", "customer_id"),
        (json!({ "customer_id": "12345" }), 422, "IR_06", "customer_id"),
        (json!({ "customer_id": unknown }), 404, "HE_02", unknown),
        // Another merchant's customer is answered as one that does not exist.
        (json!({ "customer_id": globex_customer }), 404, "HE_02", globex_customer.as_str()),
        (json!({ "customer_id": customer_id, "metadata": many }), 422, "IR_06", "metadata"),
        (json!({ "customer_id": customer_id, "payment_method_type": "card" }), 400, "IR_06", "payment_method_type"),
    ];
    for (body, want, code, named) in cases {
        let (status, got) = app.post("/v2/payment-methods/create-intent", body.clone()).await;
        let message = assert_error(status, &got, want, code);
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(app.count("payment_methods").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirm_intent_refuses_a_bad_card_or_another_customer_and_changes_nothing() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let other = customer(&app).await;
    let id = id_of(&method_intent(&app, &customer_id).await);
    let path = format!("/v2/payment-methods/{id}/confirm-intent");

    let (status, body) = app.post(&path, confirm_body("4242424242424241")).await;
    let message = assert_error(status, &body, 422, "IR_06");
    assert!(message.contains("payment_method_data.card.card_number"), "{message}");
    let mut wrong_customer = confirm_body(VISA);
    wrong_customer["customer_id"] = json!(other);
    let (status, body) = app.post(&path, wrong_customer).await;
    assert_error(status, &body, 422, "IR_06");
    let mut not_a_card = confirm_body(VISA);
    not_a_card["payment_method_subtype"] = json!("google_pay");
    let (status, body) = app.post(&path, not_a_card).await;
    assert_error(status, &body, 422, "IR_06");
    let (status, body) = app.post("/v2/payment-methods/sy_pm_none/confirm-intent", confirm_body(VISA)).await;
    assert_error(status, &body, 404, "HE_02");

    let (_, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert!(read["payment_method_data"].is_null(), "{read}");
    assert_eq!(app.count("vault").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customers_saved_methods_are_listed_newest_first_and_deleted_one_by_one() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let other = customer(&app).await;
    let first = saved_card(&app, &customer_id, VISA).await;
    let second = saved_card(&app, &customer_id, "5555555555554444").await;
    saved_card(&app, &other, VISA).await;
    // Awaiting its card: not a saved method yet.
    method_intent(&app, &customer_id).await;

    let (status, list) = app.get(&format!("/v2/customers/{customer_id}/saved-payment-methods")).await;
    assert_eq!(status, 200, "{list}");
    let items = list["customer_payment_methods"].as_array().expect("a list");
    let ids: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "{list}");
    assert_eq!(items[0]["payment_method_data"]["card"]["card_network"], "Mastercard", "{list}");
    assert_eq!(items[0]["is_default"], false, "{list}");
    assert_eq!(items[0]["requires_cvv"], false, "{list}");

    let (status, gone) =
        app.call(Method::DELETE, &format!("/v2/payment-methods/{first}"), Some(ACME_KEY), Some("web"), None).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone, json!({ "id": first }));
    let (status, body) = app.get(&format!("/v2/payment-methods/{first}")).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) =
        app.call(Method::DELETE, &format!("/v2/payment-methods/{first}"), Some(ACME_KEY), Some("web"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (_, list) = app.get(&format!("/v2/customers/{customer_id}/saved-payment-methods")).await;
    assert_eq!(list["customer_payment_methods"].as_array().unwrap().len(), 1, "{list}");

    let (status, body) = app.get("/v2/customers/sy_cus_0000000000000000000000000000000a/saved-payment-methods").await;
    assert_error(status, &body, 404, "HE_02");

    // Deleting the customer deletes their saved cards with them.
    let before = app.count("vault").await;
    let (status, _) =
        app.call(Method::DELETE, &format!("/v2/customers/{customer_id}"), Some(ACME_KEY), Some("web"), None).await;
    assert_eq!(status, 200);
    assert_eq!(app.count("vault").await, before - 1);
    let (status, body) = app.get(&format!("/v2/payment-methods/{second}")).await;
    assert_error(status, &body, 404, "HE_02");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_merchant_sees_nothing_of_a_saved_method() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let id = saved_card(&app, &customer_id, VISA).await;
    let as_globex = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &path, Some(GLOBEX_KEY), Some("web"), body.as_ref()).await }
    };
    let (status, body) = as_globex(Method::GET, format!("/v2/payment-methods/{id}"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = as_globex(Method::DELETE, format!("/v2/payment-methods/{id}"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) =
        as_globex(Method::GET, format!("/v2/customers/{customer_id}/saved-payment-methods"), None).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = as_globex(Method::POST, "/v2/payments".into(), Some(pay_with(Some(&customer_id), &id))).await;
    assert_error(status, &body, 404, "HE_02");
    // Still there for its merchant.
    let (status, _) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_charges_a_saved_method_of_its_own_customer() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let other = customer(&app).await;
    let id = saved_card(&app, &customer_id, VISA).await;

    let paid = pay(&app, pay_with(Some(&customer_id), &id)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["customer_id"], customer_id.as_str(), "{paid}");
    let (_, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert!(read["last_used_at"].is_string(), "{read}");

    // Confirming an intent with it works the same.
    let (status, intent) = app
        .post(
            "/v2/payments/create-intent",
            json!({ "amount_details": { "order_amount": 100, "currency": "USD" }, "customer_id": customer_id }),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    let body = json!({ "payment_method_type": "card", "payment_method_id": id });
    let (status, confirmed) = app.post(&format!("/v2/payments/{}/confirm-intent", id_of(&intent)), body).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");

    // A declining saved card declines.
    let declining = saved_card(&app, &customer_id, DECLINED).await;
    let failed = pay(&app, pay_with(Some(&customer_id), &declining)).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // Refused, storing nothing: another customer's method, no customer, a method without a card,
    // both a method and card data.
    let payments = app.count("payment_intents").await;
    let awaiting = id_of(&method_intent(&app, &customer_id).await);
    let mut both = pay_with(Some(&customer_id), &id);
    both["payment_method_data"] = json!({ "card": card(VISA) });
    let cases = [
        (pay_with(Some(&other), &id), 404, "HE_02"),
        (pay_with(None, &id), 422, "IR_06"),
        (pay_with(Some(&customer_id), &awaiting), 400, "IR_14"),
        (pay_with(Some(&customer_id), "sy_pm_none"), 404, "HE_02"),
        (both, 422, "IR_06"),
    ];
    for (body, want, code) in cases {
        let (status, got) = app.post("/v2/payments", body.clone()).await;
        assert_error(status, &got, want, code);
    }
    assert_eq!(app.count("payment_intents").await, payments);
    app.stop().await;
}

// ---- the vault's key -----------------------------------------------------------------------

async fn start_error(dir: &TempDir, key: Option<&str>) -> String {
    let mut config = config(dir.path());
    config.vault.key = key.map(|k| SecretValue::Literal(k.into()));
    match start(config).await {
        Ok(running) => {
            running.stop().await;
            String::new()
        }
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_with_saved_cards_starts_only_with_the_key_that_sealed_them() {
    // The database lives in `kept`, which outlives the daemon that saved a card in it.
    let kept = TempDir::new().unwrap();
    let app = TestApp::start_with(TempDir::new().unwrap(), config(kept.path())).await;
    let customer_id = customer(&app).await;
    saved_card(&app, &customer_id, VISA).await;
    app.stop().await;

    let err = start_error(&kept, None).await;
    assert!(err.contains("no vault.key is configured"), "{err}");
    let err = start_error(&kept, Some(&"11".repeat(32))).await;
    assert!(err.contains("not the key"), "{err}");
    let err = start_error(&kept, Some("not-hex")).await;
    assert!(err.contains("vault.key"), "{err}");
    assert_eq!(start_error(&kept, Some(VAULT_KEY)).await, "", "the right key starts");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_vault_key_no_card_can_be_saved() {
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    config.vault.key = None;
    let app = TestApp::start_with(dir, config).await;
    let customer_id = customer(&app).await;
    let id = id_of(&method_intent(&app, &customer_id).await);
    let (status, body) = app.post(&format!("/v2/payment-methods/{id}/confirm-intent"), confirm_body(VISA)).await;
    let message = assert_error(status, &body, 400, "IR_20");
    assert!(message.contains("vault.key"), "{message}");
    assert_eq!(app.count("vault").await, 0);
    app.stop().await;
}

// ---- volatile security codes ---------------------------------------------------------------

/// A Stripe double that records each call and takes every payment.
async fn recording_stripe(seen: Recorder) -> MockServer {
    async fn handle(
        State(seen): State<Recorder>,
        method: HttpMethod,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> Response {
        let call = Seen::from_request(&method, &uri, &headers, body);
        seen.record(call.clone());
        json_answer(
            200,
            json!({ "id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 6540,
            "amount_received": 6540, "capture_method": "automatic", "client_secret": "pi_1_secret", "next_action": null }),
        )
    }
    MockServer::serve(axum::Router::new().fallback(handle).with_state(seen)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volatile_method_keeps_the_code_in_memory_until_a_payment_uses_it_or_the_daemon_restarts() {
    let seen = Recorder::default();
    let stripe = recording_stripe(seen.clone()).await;
    let account = ConnectorAccountConfig {
        name: "stripe".into(),
        connector: "stripe".into(),
        enabled: true,
        base_url: Some(stripe.url.clone()),
        credentials: [("api_key".to_string(), SecretValue::Literal("sk_test_vault".into()))].into(),
        metadata: Default::default(),
        rate_limit: None,
    };
    let app = start_with_accounts(vec![account], &[]).await;
    let customer_id = customer(&app).await;
    let create = |storage: &str| {
        json!({ "customer_id": customer_id, "payment_method_type": "card", "payment_method_subtype": "credit",
                "payment_method_data": { "card": card(VISA) }, "storage_type": storage })
    };
    let (status, volatile) = app.post("/v2/payment-methods", create("volatile")).await;
    assert_eq!(status, 200, "{volatile}");
    assert_eq!(volatile["storage_type"], "volatile", "{volatile}");
    assert_eq!(volatile["card_cvc_token_storage"]["is_stored"], true, "{volatile}");
    let until = volatile["card_cvc_token_storage"]["expires_at"].as_str().expect("an expiry");
    let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let ttl = until.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((880..=900).contains(&ttl), "kept for vault.cvc_ttl_secs: {ttl}s");
    let (status, persistent) = app.post("/v2/payment-methods", create("persistent")).await;
    assert_eq!(status, 200, "{persistent}");

    // The code reaches the provider with the volatile method's card, and only with it: the saved
    // card charged without its code sends none, not an empty one.
    for (n, (method, want)) in [(&volatile, Some(CVC)), (&persistent, None)].into_iter().enumerate() {
        let paid = pay(&app, pay_with(Some(&customer_id), str_of(method, "/id"))).await;
        assert_eq!(paid["status"], "succeeded", "{paid}");
        let card_calls: Vec<Seen> = seen.all().into_iter().filter(|s| s.is("POST", "/v1/payment_intents")).collect();
        assert_eq!(card_calls[n].field("payment_method_data[card][number]").as_deref(), Some(VISA));
        assert_eq!(card_calls[n].field("payment_method_data[card][cvc]").as_deref(), want);
        assert_eq!(card_calls[n].form().iter().any(|(k, _)| k.contains("cvc")), want.is_some(), "{:#?}", card_calls[n]);
    }
    assert!(!seen.all().iter().any(|s| s.path.starts_with("/v1/payment_methods")), "one call per payment");

    // The payment used the code: the method holds none now, and its next payment sends none.
    let path = format!("/v2/payment-methods/{}", str_of(&volatile, "/id"));
    let (_, read) = app.get(&path).await;
    assert_eq!(read["card_cvc_token_storage"], json!({ "is_stored": false, "expires_at": null }), "{read}");
    let paid = pay(&app, pay_with(Some(&customer_id), str_of(&volatile, "/id"))).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let last = seen.all().into_iter().rfind(|s| s.is("POST", "/v1/payment_intents")).expect("a payment call");
    assert!(!last.form().iter().any(|(k, _)| k.contains("cvc")), "{last:#?}");

    // A code given again is kept again; a restart forgets it, and the card stays.
    let update = json!({ "payment_method_data": { "card": { "card_holder_name": "John Doe", "card_cvc": CVC } } });
    let (status, updated) = app
        .call(Method::PUT, &format!("{path}/update-saved-payment-method"), Some(ACME_KEY), Some("web"), Some(&update))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["card_cvc_token_storage"]["is_stored"], true, "{updated}");
    let app = app.restart().await;
    let (_, read) = app.get(&path).await;
    assert_eq!(read["card_cvc_token_storage"], json!({ "is_stored": false, "expires_at": null }), "{read}");
    assert_eq!(read["payment_method_data"]["card"]["last4_digits"], "4242", "{read}");
    app.stop_holding_none_of(&[VISA, "\"737\""]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_in_one_call_checks_its_body() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let body = json!({ "customer_id": customer_id, "payment_method_type": "card",
                       "payment_method_data": { "card": card(VISA) } });
    let (status, got) = app.post("/v2/payment-methods", body.clone()).await;
    let message = assert_error(status, &got, 400, "IR_06");
    assert!(message.contains("storage_type"), "{message}");
    let (status, got) = app.post("/v2/payment-methods", with(body, json!({ "storage_type": "forever" }))).await;
    assert_error(status, &got, 400, "IR_06");
    assert_eq!(app.count("payment_methods").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customers_default_method_is_one_of_their_saved_cards() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let other = customer(&app).await;
    let id = saved_card(&app, &customer_id, VISA).await;
    let theirs = saved_card(&app, &other, VISA).await;
    let awaiting = id_of(&method_intent(&app, &customer_id).await);
    let put =
        |method: &str| json!({ "name": "John Doe", "email": "john@example.com", "default_payment_method_id": method });
    let path = format!("/v2/customers/{customer_id}");

    for (method, want, code) in
        [(theirs.as_str(), 422, "IR_06"), (awaiting.as_str(), 422, "IR_06"), ("sy_pm_none", 404, "HE_02")]
    {
        let (status, got) = app.call(Method::PUT, &path, Some(ACME_KEY), Some("web"), Some(&put(method))).await;
        assert_error(status, &got, want, code);
    }
    let (status, updated) = app.call(Method::PUT, &path, Some(ACME_KEY), Some("web"), Some(&put(&id))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["default_payment_method_id"], id.as_str(), "{updated}");
    let (_, list) = app.get(&format!("/v2/customers/{customer_id}/saved-payment-methods")).await;
    assert_eq!(list["customer_payment_methods"][0]["is_default"], true, "{list}");

    // Deleting it leaves the customer without a default.
    let (status, _) =
        app.call(Method::DELETE, &format!("/v2/payment-methods/{id}"), Some(ACME_KEY), Some("web"), None).await;
    assert_eq!(status, 200);
    let (_, read) = app.get(&path).await;
    assert!(read["default_payment_method_id"].is_null(), "{read}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_deleted_while_it_is_made_the_default_leaves_no_default_behind() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let path = format!("/v2/customers/{customer_id}");
    for _ in 0..25 {
        let id = saved_card(&app, &customer_id, VISA).await;
        let put = json!({ "name": "John Doe", "email": "john@example.com", "default_payment_method_id": id });
        let method_path = format!("/v2/payment-methods/{id}");
        let (made_default, deleted) = tokio::join!(
            app.call(Method::PUT, &path, Some(ACME_KEY), Some("web"), Some(&put)),
            app.call(Method::DELETE, &method_path, Some(ACME_KEY), Some("web"), None),
        );
        assert_eq!(deleted.0, 200, "{}", deleted.1);
        assert!(made_default.0 == 200 || made_default.0 == 404, "{made_default:?}");
        // Whichever came first, the method is gone and cannot be the default.
        let (_, read) = app.get(&path).await;
        assert!(read["default_payment_method_id"].is_null(), "{read}");
    }
    app.stop().await;
}

fn card_update(holder: &str, fields: Value) -> Value {
    let mut card = json!({ "card_holder_name": holder });
    card.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    json!({ "payment_method_data": { "card": card } })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_cards_holder_and_nick_name_are_updated_and_it_still_pays() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let id = saved_card(&app, &customer_id, VISA).await;
    let path = format!("/v2/payment-methods/{id}/update-saved-payment-method");
    let put = |body: Value, key: &'static str| {
        let (app, path) = (&app, path.clone());
        async move { app.call(Method::PUT, &path, Some(key), Some("web"), Some(&body)).await }
    };

    let (status, updated) = put(card_update("Jane Roe", json!({ "nick_name": "Home card" })), ACME_KEY).await;
    assert_eq!(status, 200, "{updated}");
    let shown = &updated["payment_method_data"]["card"];
    assert_eq!(shown["card_holder_name"], "Jane Roe", "{updated}");
    assert_eq!(shown["nick_name"], "Home card", "{updated}");
    assert_eq!(shown["last4_digits"], "4242", "{updated}");
    assert!(!updated.to_string().contains(VISA), "{updated}");
    let (_, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(read, updated);
    // The card, sealed again with its new holder, still opens and pays.
    let (status, paid) = app.post("/v2/payments", pay_with(Some(&customer_id), &id)).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["payment_method_data"]["card"]["card_holder_name"], "Jane Roe", "{paid}");
    let (_, updated) = app.get(&format!("/v2/payment-methods/{id}")).await;

    // A persistent method keeps no security code; refused, nothing changes.
    let (status, body) = put(card_update("Someone Else", json!({ "card_cvc": "456" })), ACME_KEY).await;
    assert!(matches!(status.as_u16(), 400 | 422) && body["error"]["code"] == "IR_06", "{status} {body}");
    let (status, body) = put(json!({ "network_transaction_id": "abc" }), ACME_KEY).await;
    assert_error(status, &body, 400, "IR_20");
    let (status, body) = put(json!({ "payment_method_data": { "card": { "card_number": VISA } } }), ACME_KEY).await;
    assert!(matches!(status.as_u16(), 400 | 422), "{status} {body}");
    let (status, body) = put(json!({}), ACME_KEY).await;
    assert_error(status, &body, 400, "IR_06");
    let (_, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(read, updated);

    // Another merchant's, an unknown one, and one still awaiting its card.
    let (status, body) = put(card_update("Mallory", json!({})), GLOBEX_KEY).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app
        .call(
            Method::PUT,
            "/v2/payment-methods/sy_pm_nope/update-saved-payment-method",
            Some(ACME_KEY),
            Some("web"),
            Some(&card_update("Jo", json!({}))),
        )
        .await;
    assert_error(status, &body, 404, "HE_02");
    let waiting = id_of(&method_intent(&app, &customer_id).await);
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v2/payment-methods/{waiting}/update-saved-payment-method"),
            Some(ACME_KEY),
            Some("web"),
            Some(&card_update("Jo", json!({}))),
        )
        .await;
    assert_error(status, &body, 400, "IR_14");
    app.stop_holding_none_of(&[VISA]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_names_its_payment_method() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let id = saved_card(&app, &customer_id, VISA).await;
    let (status, details) = app.get(&format!("/v2/payment-methods/token/{id}/details")).await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details, json!({ "id": id, "payment_method_token": id }));
    let (status, body) = app.get("/v2/payment-methods/token/token_nope/details").await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app
        .call(Method::GET, &format!("/v2/payment-methods/token/{id}/details"), Some(GLOBEX_KEY), Some("web"), None)
        .await;
    assert_error(status, &body, 404, "HE_02");
    app.stop().await;
}
