//! Payment-method sessions over HTTP: the merchant's server creates and reads one (the seed's
//! `GET`), client-side code lists, confirms and deletes with the publishable key and the
//! session's client secret; expiry and scoping; and `psp_tokenization` with Stripe, against
//! localstripe, where the saved card becomes a Stripe payment method that later payments charge.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use switchyard::config::SecretValue;
use tempfile::TempDir;

const VISA: &str = "4242424242424242";

async fn customer(app: &TestApp) -> String {
    let body = json!({ "name": "John Doe", "email": "john@example.com" });
    let (status, created) = app.post("/v2/customers", body).await;
    assert_eq!(status, 200, "{created}");
    id_of(&created)
}

fn billing() -> Value {
    json!({ "address": { "city": "New York", "country": "US", "line1": "123, King Street", "zip": "08807",
                         "first_name": "John", "last_name": "Doe" },
            "email": "john@example.com" })
}

async fn session(app: &TestApp, fields: Value) -> Value {
    let (status, body) = app.post("/v2/payment-method-sessions", fields).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn session_for(app: &TestApp, customer_id: &str) -> Value {
    session(
        app,
        json!({ "customer_id": customer_id, "storage_type": "volatile", "billing": billing(),
                "return_url": "https://shop.example/saved", "expires_in": 600 }),
    )
    .await
}

/// A client-side call: the publishable key and a client secret in `Authorization`.
async fn client(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<String>,
    body: Option<&Value>,
) -> (reqwest::StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    if let Some(value) = authorization {
        req = req.header("Authorization", value);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An object as localstripe holds it, at `path` (`/v1/payment_methods/pm_…`).
async fn stripe_object(path: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{}{path}", localstripe::url()))
        .bearer_auth(localstripe::API_KEY)
        .send()
        .await
        .expect("localstripe answers");
    res.json().await.expect("a JSON object")
}

fn auth(pk: &str, secret: &str) -> Option<String> {
    Some(format!("publishable-key={pk},client-secret={secret}"))
}

fn card_confirm(number: &str) -> Value {
    json!({ "payment_method_type": "card", "payment_method_subtype": "credit",
            "payment_method_data": { "card": { "card_number": number, "card_exp_month": "12", "card_exp_year": "2034",
                                                "card_holder_name": "John Doe", "card_cvc": "123" } } })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_saves_a_card_through_a_session_from_client_side_code() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let created = session_for(&app, &customer_id).await;
    let id = id_of(&created);
    let secret = str_of(&created, "/client_secret").to_string();
    assert!(id.starts_with("sy_pms_") && (32..=64).contains(&id.len()), "{created}");
    assert!(secret.starts_with("cs_"), "{created}");
    assert_eq!(created["customer_id"], customer_id.as_str(), "{created}");
    assert_eq!(created["storage_type"], "volatile", "{created}");
    assert_eq!(created["return_url"], "https://shop.example/saved", "{created}");
    assert_eq!(created["billing"]["address"]["city"], "New York", "{created}");
    assert!(created["associated_payment_methods"].is_null(), "{created}");
    let expires = chrono::DateTime::parse_from_rfc3339(str_of(&created, "/expires_at")).unwrap();
    let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((590..=600).contains(&left), "expires_in 600: {left}s left");

    // The seed's GET, with the secret key.
    let (status, read) = app.get(&format!("/v2/payment-method-sessions/{id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, created);

    // The page lists what it may offer and what the customer saved (nothing yet).
    let path = format!("/v2/payment-method-sessions/{id}/list-payment-methods");
    let (status, list) = client(&app, Method::GET, &path, auth(ACME_PK, &secret), None).await;
    assert_eq!(status, 200, "{list}");
    let enabled = list["payment_methods_enabled"].as_array().unwrap();
    assert!(
        enabled.iter().any(|m| m["payment_method_type"] == "card" && m["payment_method_subtype"] == "credit"),
        "{list}"
    );
    assert_eq!(list["customer_payment_methods"], json!([]), "{list}");

    // The card is saved for the session's customer, with the session's billing and storage.
    let confirm = format!("/v2/payment-method-sessions/{id}/confirm");
    let (status, confirmed) =
        client(&app, Method::POST, &confirm, auth(ACME_PK, &secret), Some(&card_confirm(VISA))).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["payment_method_data"]["card"]["last4_digits"], "4242", "{confirmed}");
    assert_eq!(confirmed["card_cvc_token_storage"]["is_stored"], true, "{confirmed}");
    let token = &confirmed["associated_payment_methods"][0]["payment_method_token"];
    assert_eq!(token["type"], "payment_method_session_token", "{confirmed}");
    let method_id = str_of(token, "/data").to_string();
    assert!(!confirmed.to_string().contains(VISA), "{confirmed}");

    let (_, method) = app.get(&format!("/v2/payment-methods/{method_id}")).await;
    assert_eq!(method["customer_id"], customer_id.as_str(), "{method}");
    assert_eq!(method["storage_type"], "volatile", "{method}");
    assert_eq!(method["billing"]["address"]["city"], "New York", "{method}");
    let (_, list) = client(&app, Method::GET, &path, auth(ACME_PK, &secret), None).await;
    assert_eq!(list["customer_payment_methods"][0]["payment_method_token"], method_id.as_str(), "{list}");
    let (_, read) = app.get(&format!("/v2/payment-method-sessions/{id}")).await;
    assert_eq!(read["associated_payment_methods"], confirmed["associated_payment_methods"], "{read}");

    // One card per session.
    let (status, again) = client(&app, Method::POST, &confirm, auth(ACME_PK, &secret), Some(&card_confirm(VISA))).await;
    assert_error(status, &again, 400, "IR_14");
    assert_eq!(app.count("payment_methods").await, 1);

    // The saved card pays.
    let paid = pay(
        &app,
        json!({ "amount_details": { "order_amount": 500, "currency": "USD" }, "customer_id": customer_id,
                                 "payment_method_type": "card", "payment_method_id": method_id }),
    )
    .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");

    // The client deletes the saved card by its token; the session stays.
    let delete = json!({ "payment_method_token": method_id });
    let session_path = format!("/v2/payment-method-sessions/{id}");
    let (status, gone) = client(&app, Method::DELETE, &session_path, auth(ACME_PK, &secret), Some(&delete)).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone, json!({ "payment_method_token": method_id }));
    let (status, body) = app.get(&format!("/v2/payment-methods/{method_id}")).await;
    assert_error(status, &body, 404, "HE_02");
    assert_eq!(app.count("vault").await, 0, "the sealed card goes with it");
    let (status, read) = app.get(&session_path).await;
    assert_eq!(status, 200, "{read}");
    let (_, list) = client(&app, Method::GET, &path, auth(ACME_PK, &secret), None).await;
    assert_eq!(list["customer_payment_methods"], json!([]), "{list}");
    // Deleted once.
    let (status, again) = client(&app, Method::DELETE, &session_path, auth(ACME_PK, &secret), Some(&delete)).await;
    assert_error(status, &again, 404, "HE_02");
    app.stop_holding_none_of(&[VISA]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_publishable_key_and_the_sessions_own_secret_guard_it() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let one = session_for(&app, &customer_id).await;
    let other = session_for(&app, &customer_id).await;
    let id = id_of(&one);
    let secret = str_of(&one, "/client_secret").to_string();
    let list = format!("/v2/payment-method-sessions/{id}/list-payment-methods");
    let confirm = format!("/v2/payment-method-sessions/{id}/confirm");
    let body = card_confirm(VISA);

    let (status, got) = client(&app, Method::GET, &list, None, None).await;
    assert_error(status, &got, 401, "IR_01");
    let (status, got) = client(&app, Method::GET, &list, auth("sy_pk_unknown", &secret), None).await;
    assert_error(status, &got, 401, "IR_01");
    // The secret key is not a publishable key.
    let (status, got) = client(&app, Method::GET, &list, auth(ACME_KEY, &secret), None).await;
    assert_error(status, &got, 401, "IR_01");
    let (status, got) = client(&app, Method::GET, &list, Some(format!("publishable-key={ACME_PK}")), None).await;
    assert_error(status, &got, 400, "IR_08");
    // Another session's secret opens only that session.
    let (status, got) =
        client(&app, Method::POST, &confirm, auth(ACME_PK, str_of(&other, "/client_secret")), Some(&body)).await;
    assert_error(status, &got, 400, "IR_09");
    let (status, got) = client(
        &app,
        Method::DELETE,
        &format!("/v2/payment-method-sessions/{id}"),
        auth(ACME_PK, str_of(&other, "/client_secret")),
        Some(&json!({ "payment_method_token": "sy_pm_any" })),
    )
    .await;
    assert_error(status, &got, 400, "IR_09");
    // Another merchant's publishable key sees no such session.
    let (status, got) = client(&app, Method::POST, &confirm, auth(GLOBEX_PK, &secret), Some(&body)).await;
    assert_error(status, &got, 404, "HE_02");
    // Nor does another merchant's secret key, or another profile of the same merchant.
    let (status, got) =
        app.call(Method::GET, &format!("/v2/payment-method-sessions/{id}"), Some(GLOBEX_KEY), Some("web"), None).await;
    assert_error(status, &got, 404, "HE_02");
    let (status, got) =
        app.call(Method::GET, &format!("/v2/payment-method-sessions/{id}"), Some(ACME_KEY), Some("shop"), None).await;
    assert_error(status, &got, 404, "HE_02");
    assert_eq!(app.count("payment_methods").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_session_answers_a_clear_error_and_changes_nothing() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let created =
        session(&app, json!({ "customer_id": customer_id, "storage_type": "persistent", "expires_in": 1 })).await;
    let id = id_of(&created);
    let secret = str_of(&created, "/client_secret").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let (status, got) = client(
        &app,
        Method::POST,
        &format!("/v2/payment-method-sessions/{id}/confirm"),
        auth(ACME_PK, &secret),
        Some(&card_confirm(VISA)),
    )
    .await;
    let message = assert_error(status, &got, 400, "IR_08");
    assert!(message.contains("expired"), "{message}");
    let (status, got) = client(
        &app,
        Method::GET,
        &format!("/v2/payment-method-sessions/{id}/list-payment-methods"),
        auth(ACME_PK, &secret),
        None,
    )
    .await;
    assert_error(status, &got, 400, "IR_08");
    let (status, got) = app.get(&format!("/v2/payment-method-sessions/{id}")).await;
    let message = assert_error(status, &got, 400, "IR_14");
    assert!(message.contains("expired"), "{message}");
    assert_eq!(app.count("payment_methods").await, 0);
    assert_eq!(app.count("vault").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_request_is_checked_before_anything_is_stored() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let unknown = "sy_cus_0000000000000000000000000000000a";
    let cases = [
        (json!({ "customer_id": customer_id }), 400, "IR_06", "storage_type"),
        (json!({ "storage_type": "volatile" }), 400, "IR_06", "customer_id"),
        (json!({ "customer_id": unknown, "storage_type": "volatile" }), 404, "HE_02", unknown),
        (
            json!({ "customer_id": customer_id, "storage_type": "volatile", "expires_in": 0 }),
            422,
            "IR_06",
            "expires_in",
        ),
        (
            json!({ "customer_id": customer_id, "storage_type": "volatile", "return_url": "shop" }),
            422,
            "IR_06",
            "return_url",
        ),
        (
            json!({ "customer_id": customer_id, "storage_type": "volatile", "psp_tokenization": { "tokenization_type": "single_use", "connector_id": "nowhere" } }),
            422,
            "IR_06",
            "psp_tokenization.connector_id",
        ),
        (
            json!({ "customer_id": customer_id, "storage_type": "volatile", "network_tokenization": { "enable": "Enable" } }),
            400,
            "IR_20",
            "network_tokenization",
        ),
    ];
    for (body, want, code, named) in cases {
        let (status, got) = app.post("/v2/payment-method-sessions", body.clone()).await;
        let message = assert_error(status, &got, want, code);
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(app.count("payment_method_sessions").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn psp_tokenization_makes_the_card_a_stripe_payment_method_that_later_payments_charge() {
    let stripe = localstripe::url();
    let dir = TempDir::new().unwrap();
    let mut config = config_with(dir.path(), vec![localstripe::stripe_account("stripe", &stripe)], &[]);
    config.vault.key = Some(SecretValue::Literal(VAULT_KEY.into()));
    let app = TestApp::start_with(dir, config).await;
    let customer_id = customer(&app).await;
    let created = session(
        &app,
        json!({ "customer_id": customer_id, "storage_type": "persistent",
                "psp_tokenization": { "tokenization_type": "multi_use", "connector_id": "stripe" } }),
    )
    .await;
    assert_eq!(created["psp_tokenization"], json!({ "tokenization_type": "multi_use", "connector_id": "stripe" }));
    let id = id_of(&created);
    let secret = str_of(&created, "/client_secret").to_string();
    let (status, confirmed) = client(
        &app,
        Method::POST,
        &format!("/v2/payment-method-sessions/{id}/confirm"),
        auth(ACME_PK, &secret),
        Some(&card_confirm(VISA)),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let method_id = str_of(&confirmed, "/associated_payment_methods/0/payment_method_token/data").to_string();
    let (_, method) = app.get(&format!("/v2/payment-methods/{method_id}")).await;
    let token = str_of(&method, "/connector_tokens/0/token").to_string();
    assert!(token.starts_with("pm_"), "a Stripe payment method: {method}");

    // localstripe knows it as the card saved.
    let pm: Value = stripe_object(&format!("/v1/payment_methods/{token}")).await;
    assert_eq!(pm["card"]["last4"], "4242", "{pm}");
    // For many payments, Stripe keeps it on a customer of its own.
    let stripe_customer = pm["customer"].as_str().unwrap_or_else(|| panic!("attached to a customer: {pm}")).to_string();
    assert!(stripe_customer.starts_with("cus_"), "{pm}");

    // A payment with the saved method charges that payment method, not a new copy of the card.
    let paid = pay(
        &app,
        json!({ "amount_details": { "order_amount": 2500, "currency": "USD" }, "customer_id": customer_id,
                                 "payment_method_type": "card", "payment_method_id": method_id }),
    )
    .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let intent_id = str_of(&paid, "/connector_transaction_id");
    let intent: Value = stripe_object(&format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(intent["payment_method"], token.as_str(), "{intent}");
    assert_eq!(intent["customer"], stripe_customer.as_str(), "{intent}");

    // A single-use token is a bare payment method.
    let single = session(&app, json!({ "customer_id": customer_id, "storage_type": "persistent",
                                       "psp_tokenization": { "tokenization_type": "single_use", "connector_id": "stripe" } })).await;
    let (status, confirmed) = client(
        &app,
        Method::POST,
        &format!("/v2/payment-method-sessions/{}/confirm", id_of(&single)),
        auth(ACME_PK, str_of(&single, "/client_secret")),
        Some(&card_confirm(VISA)),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let (_, method) = app
        .get(&format!(
            "/v2/payment-methods/{}",
            str_of(&confirmed, "/associated_payment_methods/0/payment_method_token/data")
        ))
        .await;
    let single_token = str_of(&method, "/connector_tokens/0/token");
    let pm: Value = stripe_object(&format!("/v1/payment_methods/{single_token}")).await;
    assert!(pm["customer"].is_null(), "{pm}");

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_updates_and_deletes_only_its_customers_saved_cards() {
    let app = TestApp::start().await;
    let customer_id = customer(&app).await;
    let created = session_for(&app, &customer_id).await;
    let id = id_of(&created);
    let secret = str_of(&created, "/client_secret").to_string();
    let update = format!("/v2/payment-method-sessions/{id}/update-saved-payment-method");
    let change = json!({ "payment_method_data": { "card": { "card_holder_name": "Jane Roe", "nick_name": "Home",
                                                             "card_cvc": "456" } } });

    // Nothing saved yet, no token: nothing to update.
    let (status, got) = client(&app, Method::PUT, &update, auth(ACME_PK, &secret), Some(&change)).await;
    assert!(matches!(status.as_u16(), 400 | 422) && got["error"]["code"] == "IR_06", "{status} {got}");

    let confirm = format!("/v2/payment-method-sessions/{id}/confirm");
    let (status, confirmed) =
        client(&app, Method::POST, &confirm, auth(ACME_PK, &secret), Some(&card_confirm(VISA))).await;
    assert_eq!(status, 200, "{confirmed}");
    let method_id = str_of(&confirmed, "/associated_payment_methods/0/payment_method_token/data").to_string();

    // Without a token, the card the session saved.
    let (status, updated) = client(&app, Method::PUT, &update, auth(ACME_PK, &secret), Some(&change)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["id"], id.as_str(), "{updated}");
    assert_eq!(updated["payment_method_data"]["card"]["card_holder_name"], "Jane Roe", "{updated}");
    assert_eq!(updated["payment_method_data"]["card"]["nick_name"], "Home", "{updated}");
    assert_eq!(updated["card_cvc_token_storage"]["is_stored"], true, "{updated}");
    assert!(!updated.to_string().contains(VISA), "{updated}");
    let (_, method) = app.get(&format!("/v2/payment-methods/{method_id}")).await;
    assert_eq!(method["payment_method_data"]["card"]["card_holder_name"], "Jane Roe", "{method}");

    // Another customer's card is none of this session's business: not found, unchanged, kept.
    let other_customer = customer(&app).await;
    let other = json!({ "customer_id": other_customer, "payment_method_type": "card", "storage_type": "persistent",
                        "payment_method_data": { "card": { "card_number": VISA, "card_exp_month": "10",
                            "card_exp_year": "2035", "card_holder_name": "Other Person" } } });
    let (status, other) = app.post("/v2/payment-methods", other).await;
    assert_eq!(status, 200, "{other}");
    let other_id = id_of(&other);
    let named = with(change.clone(), json!({ "payment_method_token": other_id }));
    let (status, got) = client(&app, Method::PUT, &update, auth(ACME_PK, &secret), Some(&named)).await;
    assert_error(status, &got, 404, "HE_02");
    let session_path = format!("/v2/payment-method-sessions/{id}");
    let delete_other = json!({ "payment_method_token": other_id });
    let (status, got) = client(&app, Method::DELETE, &session_path, auth(ACME_PK, &secret), Some(&delete_other)).await;
    assert_error(status, &got, 404, "HE_02");
    let (_, still) = app.get(&format!("/v2/payment-methods/{other_id}")).await;
    assert_eq!(still, other);

    // Bad bodies, another session's secret: refused, nothing deleted.
    let (status, got) = client(&app, Method::DELETE, &session_path, auth(ACME_PK, &secret), Some(&json!({}))).await;
    assert!(matches!(status.as_u16(), 400 | 422), "{status} {got}");
    let unknown = json!({ "payment_method_token": method_id, "colour": "blue" });
    let (status, got) = client(&app, Method::DELETE, &session_path, auth(ACME_PK, &secret), Some(&unknown)).await;
    assert!(matches!(status.as_u16(), 400 | 422) && got["error"]["code"] == "IR_06", "{status} {got}");
    let another = session_for(&app, &customer_id).await;
    let mine = json!({ "payment_method_token": method_id });
    let (status, got) =
        client(&app, Method::DELETE, &session_path, auth(ACME_PK, str_of(&another, "/client_secret")), Some(&mine))
            .await;
    assert_error(status, &got, 400, "IR_09");
    let (status, got) = client(&app, Method::PUT, &update, auth(GLOBEX_PK, &secret), Some(&change)).await;
    assert_error(status, &got, 404, "HE_02");
    assert_eq!(app.count("payment_methods").await, 2);
    app.stop_holding_none_of(&[VISA]).await;
}
