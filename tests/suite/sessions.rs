//! `POST /payments/session_tokens` over HTTP: wallet tokens built by the native Stripe connector
//! and the Adyen plugin from their accounts' metadata, chosen by the routing script among the
//! accounts that give the wallet; the publishable key and client secret that guard the call; and
//! the per-call `merchant_connector_details` override. Pay by bank has its test beside the
//! Fintecture plugin's (tests/suite/fintecture.rs).

use crate::common;

use std::collections::BTreeMap;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const STRIPE_PK: &str = "pk_test_switchyardSessionTokens";
const ADYEN_MERCHANT: &str = "AcmeECOM";

fn metadata(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// A Stripe account set up for both wallets. Tokens need no call, so its address is never used.
fn stripe_account(name: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "stripe".into(),
        enabled: true,
        base_url: Some("http://127.0.0.1:9".into()),
        credentials: BTreeMap::from([("api_key".to_string(), SecretValue::Literal("sk_test_sessions".into()))]),
        metadata: metadata(json!({
            "publishable_key": STRIPE_PK,
            "country_code": "FR",
            "google_pay": { "merchant_info": { "merchant_name": "Acme Shop", "merchant_id": "BCR2DN4T0001" } },
            "apple_pay": { "payment_request_data": { "label": "Acme Shop", "merchant_identifier": "merchant.com.acme" } }
        })),
        rate_limit: None,
    }
}

fn adyen_account(name: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "adyen".into(),
        enabled: true,
        base_url: Some("http://127.0.0.1:9".into()),
        credentials: BTreeMap::from([
            ("api_key".to_string(), SecretValue::Literal("adyen-key".into())),
            ("merchant_account".to_string(), SecretValue::Literal(ADYEN_MERCHANT.into())),
        ]),
        metadata: metadata(json!({
            "country_code": "NL",
            "google_pay": { "merchant_info": { "merchant_name": "Acme NL" } }
        })),
        rate_limit: None,
    }
}

/// A daemon whose acme/web has `accounts`, routed by `script` when given.
async fn app_with(accounts: Vec<ConnectorAccountConfig>, script: Option<&str>) -> TestApp {
    let dir = TempDir::new().expect("temp dir");
    let config = match script {
        Some(source) => config_routed(dir.path(), accounts, &[], "wallets", source),
        None => config_with(dir.path(), accounts, &[]),
    };
    TestApp::start_with(dir, config).await
}

/// A new intent of 65.40 EUR as acme/web: its id and client secret.
async fn intent(app: &TestApp, extra: Value) -> (String, String) {
    let body = with(json!({ "amount_details": { "order_amount": 6540, "currency": "EUR" } }), extra);
    let (status, body) = app.post("/v2/payments/create-intent", body).await;
    assert_eq!(status, 200, "{body}");
    (id_of(&body), str_of(&body, "/client_secret").to_string())
}

/// The seed's request, for `wallets`, with the publishable key `key`.
async fn tokens(app: &TestApp, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/payments/session_tokens", key, None, Some(&body)).await
}

async fn tokens_for(app: &TestApp, id: &str, secret: &str, wallets: Value) -> Value {
    let (status, body) =
        tokens(app, Some(ACME_PK), json!({ "payment_id": id, "client_secret": secret, "wallets": wallets })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment_id"], id, "{body}");
    assert_eq!(body["client_secret"], secret, "{body}");
    body
}

/// The payment as the merchant sees it: still waiting for a payment method, no attempt made.
async fn assert_untouched(app: &TestApp, id: &str) {
    let (status, got) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "requires_payment_method", "{got}");
    assert!(got["attempts"].as_array().is_none_or(|a| a.is_empty()), "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_gives_google_pay_and_apple_pay_tokens_from_its_metadata() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let body = tokens_for(&app, &id, &secret, json!(["google_pay", "apple_pay"])).await;
    let list = body["session_token"].as_array().expect("session_token");
    assert_eq!(list.len(), 2, "{body}");

    let gpay = &list[0];
    assert_eq!(gpay["wallet_name"], "google_pay", "{body}");
    assert_eq!(gpay["connector"], "stripe", "{body}");
    assert_eq!(gpay["delayed_session_token"], false, "{body}");
    assert_eq!(gpay["sdk_next_action"], json!({ "next_action": "confirm" }), "{body}");
    assert_eq!(gpay["merchant_info"], json!({ "merchant_name": "Acme Shop", "merchant_id": "BCR2DN4T0001" }));
    assert_eq!(
        gpay["transaction_info"],
        json!({ "country_code": "FR", "currency_code": "EUR", "total_price_status": "FINAL", "total_price": "65.40" })
    );
    let method = &gpay["allowed_payment_methods"][0];
    assert_eq!(method["type"], "CARD", "{body}");
    assert!(method["parameters"]["allowed_card_networks"].as_array().unwrap().contains(&json!("VISA")), "{body}");
    let gateway = &method["tokenization_specification"];
    assert_eq!(gateway["type"], "PAYMENT_GATEWAY", "{body}");
    assert_eq!(gateway["parameters"]["gateway"], "stripe", "{body}");
    assert_eq!(gateway["parameters"]["stripe:publishableKey"], STRIPE_PK, "{body}");
    assert!(gateway["parameters"]["stripe:version"].as_str().is_some_and(|v| !v.is_empty()), "{body}");

    let apple = &list[1];
    assert_eq!(apple["wallet_name"], "apple_pay", "{body}");
    assert_eq!(apple["connector"], "stripe", "{body}");
    assert_eq!(apple["delayed_session_token"], true, "{body}");
    assert_eq!(apple["sdk_next_action"], json!({ "next_action": "confirm" }), "{body}");
    let request = &apple["payment_request_data"];
    assert_eq!(request["country_code"], "FR", "{body}");
    assert_eq!(request["currency_code"], "EUR", "{body}");
    assert_eq!(request["total"], json!({ "label": "Acme Shop", "type": "final", "amount": "65.40" }), "{body}");
    assert_eq!(request["merchant_identifier"], "merchant.com.acme", "{body}");

    // Tokens are read-only: the payment waits for its method as before.
    assert_untouched(&app, &id).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wallet_no_account_gives_answers_no_session_token_received() {
    let app = app_with(vec![stripe_account("stripe_eu"), sandbox_account("sandbox")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    // The seed's example asks for `ach`; a wallet asked twice is answered once; pay by bank has
    // no account here that takes it, so the payment is not confirmed either.
    let body =
        tokens_for(&app, &id, &secret, json!(["ach", "google_pay", "paypal", "google_pay", "open_banking_pis"])).await;
    let names: Vec<&str> =
        body["session_token"].as_array().unwrap().iter().map(|t| t["wallet_name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["no_session_token_received", "google_pay", "no_session_token_received", "no_session_token_received"],
        "{body}"
    );
    assert_untouched(&app, &id).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_request_is_answered_in_its_shape() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    // The seed's body, with a real payment and secret: `ach` has no session token anywhere.
    let seed = json!({
        "payment_id": id,
        "client_secret": secret,
        "wallets": ["ach"],
        "merchant_connector_details": {
            "creds_identifier": "<string>",
            "encoded_data": { "connector_account_details": {}, "metadata": {} }
        }
    });
    let (status, body) = tokens(&app, Some(ACME_PK), seed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "payment_id": id, "client_secret": secret, "session_token": [{ "wallet_name": "no_session_token_received" }] })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routing_script_chooses_among_the_accounts_that_give_the_wallet() {
    // Google Pay goes through Adyen; everything else keeps the configured order. The script sees
    // only the accounts that give the wallet asked for: Fintecture (pay by bank) never appears.
    let script = r#"
        return function(p, ctx)
          local names = {}
          for _, n in ipairs(ctx.accounts) do table.insert(names, n) end
          if p.payment_method_type == "wallet" then
            for _, n in ipairs(names) do
              if n == "fintecture" then error("fintecture gives no wallet token") end
            end
            if p.payment_method_subtype == "google_pay" then return { "adyen" }, "google pay via adyen" end
          end
          return names
        end
    "#;
    let app =
        app_with(vec![sandbox_account("sandbox"), stripe_account("stripe_eu"), adyen_account("adyen")], Some(script))
            .await;
    let (id, secret) = intent(&app, json!({})).await;
    let body = tokens_for(&app, &id, &secret, json!(["google_pay", "apple_pay"])).await;
    let gpay = &body["session_token"][0];
    assert_eq!(gpay["wallet_name"], "google_pay", "{body}");
    assert_eq!(gpay["connector"], "adyen", "{body}");
    assert_eq!(gpay["merchant_info"]["merchant_name"], "Acme NL", "{body}");
    assert_eq!(gpay["transaction_info"]["country_code"], "NL", "{body}");
    assert_eq!(gpay["transaction_info"]["total_price"], "65.40", "{body}");
    let gateway = &gpay["allowed_payment_methods"][0]["tokenization_specification"]["parameters"];
    assert_eq!(gateway, &json!({ "gateway": "adyen", "gateway_merchant_id": ADYEN_MERCHANT }), "{body}");
    // Adyen's plugin gives no Apple Pay token: Stripe does.
    assert_eq!(body["session_token"][1]["connector"], "stripe", "{body}");
    assert_eq!(body["session_token"][1]["wallet_name"], "apple_pay", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_without_the_wallets_set_up_leaves_the_token_to_the_next() {
    let mut bare = stripe_account("stripe_bare");
    bare.metadata.remove("google_pay");
    let app = app_with(vec![bare.clone(), stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let body = tokens_for(&app, &id, &secret, json!(["google_pay"])).await;
    assert_eq!(body["session_token"][0]["wallet_name"], "google_pay", "{body}");
    app.stop().await;

    // With no account set up for it, there is no token.
    let app = app_with(vec![bare], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let body = tokens_for(&app, &id, &secret, json!(["google_pay", "apple_pay"])).await;
    assert_eq!(body["session_token"][0], json!({ "wallet_name": "no_session_token_received" }), "{body}");
    assert_eq!(body["session_token"][1]["wallet_name"], "apple_pay", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn merchant_connector_details_override_the_account_for_that_call_only() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let body = json!({
        "payment_id": id,
        "client_secret": secret,
        "wallets": ["google_pay"],
        "merchant_connector_details": {
            "creds_identifier": "other-stripe",
            "encoded_data": {
                "connector_account_details": { "api_key": "sk_test_other" },
                "metadata": { "publishable_key": "pk_test_other", "country_code": "DE" }
            }
        }
    });
    let (status, got) = tokens(&app, Some(ACME_PK), body.clone()).await;
    assert_eq!(status, 200, "{got}");
    let token = &got["session_token"][0];
    let gateway = &token["allowed_payment_methods"][0]["tokenization_specification"]["parameters"];
    assert_eq!(gateway["stripe:publishableKey"], "pk_test_other", "{got}");
    assert_eq!(token["transaction_info"]["country_code"], "DE", "{got}");

    // The next call without it gets the configured account again.
    let plain = tokens_for(&app, &id, &secret, json!(["google_pay"])).await;
    let gateway = &plain["session_token"][0]["allowed_payment_methods"][0]["tokenization_specification"]["parameters"];
    assert_eq!(gateway["stripe:publishableKey"], STRIPE_PK, "{plain}");

    // Credentials are text; anything else is refused.
    let mut bad = body;
    bad["merchant_connector_details"]["encoded_data"]["connector_account_details"]["api_key"] = json!(7);
    let (status, got) = tokens(&app, Some(ACME_PK), bad).await;
    let message = assert_error(status, &got, 422, "IR_06");
    assert!(message.contains("connector_account_details.api_key"), "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_publishable_key_and_client_secret_guard_the_call() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let (other_id, other_secret) = intent(&app, json!({})).await;
    let ask = |secret: Option<&str>| {
        let mut body = json!({ "payment_id": id, "wallets": ["google_pay"] });
        if let Some(secret) = secret {
            body["client_secret"] = json!(secret);
        }
        body
    };

    // No key, a wrong key, or the secret key (which belongs on servers) are not publishable keys.
    for key in [None, Some("sy_pk_nobodysKey000000000000000000000000"), Some(ACME_KEY)] {
        let (status, body) = tokens(&app, key, ask(Some(&secret))).await;
        assert_error(status, &body, 401, "IR_01");
    }
    // No client secret, or an empty one.
    let (status, body) = tokens(&app, Some(ACME_PK), ask(None)).await;
    assert_error(status, &body, 400, "IR_08");
    let (status, body) = tokens(&app, Some(ACME_PK), ask(Some(""))).await;
    assert_error(status, &body, 400, "IR_08");
    // Another payment's secret opens only that payment.
    let (status, body) = tokens(&app, Some(ACME_PK), ask(Some(&other_secret))).await;
    assert_error(status, &body, 400, "IR_09");
    assert!(
        tokens_for(&app, &other_id, &other_secret, json!(["google_pay"])).await["session_token"][0]["connector"]
            == "stripe"
    );
    // Another merchant's publishable key does not see the payment at all.
    let (status, body) = tokens(&app, Some(GLOBEX_PK), ask(Some(&secret))).await;
    assert_error(status, &body, 404, "HE_02");
    // Nor does a payment id that does not exist.
    let (status, body) = tokens(
        &app,
        Some(ACME_PK),
        json!({ "payment_id": "sy_pay_none", "client_secret": secret, "wallets": ["google_pay"] }),
    )
    .await;
    assert_error(status, &body, 404, "HE_02");
    assert_untouched(&app, &id).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_client_secret_is_refused() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({ "session_expiry": 1 })).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) =
        tokens(&app, Some(ACME_PK), json!({ "payment_id": id, "client_secret": secret, "wallets": ["google_pay"] }))
            .await;
    let message = assert_error(status, &body, 400, "IR_08");
    assert!(message.contains("expired"), "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_past_choosing_its_method_has_no_tokens() {
    let app = app_with(vec![sandbox_account("sandbox"), stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let (status, paid) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method("4242424242424242")).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let (status, body) =
        tokens(&app, Some(ACME_PK), json!({ "payment_id": id, "client_secret": secret, "wallets": ["google_pay"] }))
            .await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_refused_with_the_field_named() {
    let app = app_with(vec![stripe_account("stripe_eu")], None).await;
    let (id, secret) = intent(&app, json!({})).await;
    let cases = [
        (json!({ "client_secret": secret, "wallets": ["google_pay"] }), 400, "IR_06", "payment_id"),
        (json!({ "payment_id": id, "client_secret": secret }), 400, "IR_06", "wallets"),
        (json!({ "payment_id": id, "client_secret": secret, "wallets": [] }), 422, "IR_06", "wallets"),
        (
            json!({ "payment_id": id, "client_secret": secret, "wallets": ["google_wallet"] }),
            422,
            "IR_06",
            "wallets[0]",
        ),
        (
            json!({ "payment_id": id, "client_secret": secret, "wallets": ["google_pay"], "extra": 1 }),
            400,
            "IR_06",
            "extra",
        ),
        (
            json!({ "payment_id": id, "client_secret": secret, "wallets": ["google_pay"], "merchant_connector_details": {} }),
            400,
            "IR_06",
            "creds_identifier",
        ),
    ];
    for (body, want_status, code, field) in cases {
        let (status, got) = tokens(&app, Some(ACME_PK), body.clone()).await;
        let message = assert_error(status, &got, want_status, code);
        assert!(message.contains(field), "{body}: {message}");
    }
    assert_untouched(&app, &id).await;
    app.stop().await;
}
