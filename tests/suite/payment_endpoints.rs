//! The payments calls beside the lifecycle: updating an intent before it is confirmed, listing a
//! profile's payments (filters, order, pages, cursors), what a payer's client may offer for a
//! payment (publishable key and client secret), and the external-vault SDK tokens switchyard
//! does not offer.

use crate::common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

/// An invalid-data error: `IR_06`, with the status the daemon gives invalid data.
fn assert_invalid(status: StatusCode, body: &Value) -> String {
    assert!(matches!(status.as_u16(), 400 | 422), "status {status} of {body}");
    assert_eq!(body["error"]["code"], "IR_06", "{body}");
    body["error"]["message"].as_str().expect("message").to_string()
}

async fn intent(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/v2/payments/create-intent", body).await;
    assert_eq!(status, 200, "{created}");
    created
}

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(ACME_KEY), Some("web"), Some(&body)).await
}

/// A client-side call with the publishable key and a client secret.
async fn client(app: &TestApp, method: Method, path: &str, pk: &str, secret: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("Authorization", format!("publishable-key={pk},client-secret={secret}"))
        .json(&json!({}))
        .send()
        .await
        .expect("request sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intent_is_updated_until_it_is_confirmed() {
    let app = TestApp::start().await;
    let created = intent(
        &app,
        json!({ "amount_details": { "currency": "USD", "order_amount": 1000 }, "metadata": { "cart": "1" },
                "description": "first" }),
    )
    .await;
    let id = id_of(&created);
    let path = format!("/v2/payments/{id}/update-intent");
    let change = json!({
        "amount_details": { "order_amount": 2500, "currency": "EUR", "shipping_cost": 300 },
        "metadata": { "cart": "2" }, "return_url": "https://shop.example/done", "capture_method": "manual",
        "billing": { "address": { "city": "Paris", "country": "FR" } }, "session_expiry": 3600
    });
    let (status, updated) = put(&app, &path, change).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["amount_details"]["order_amount"], 2500, "{updated}");
    assert_eq!(updated["amount_details"]["currency"], "EUR", "{updated}");
    assert_eq!(updated["amount_details"]["net_amount"], 2800, "{updated}");
    assert_eq!(updated["metadata"], json!({ "cart": "2" }), "{updated}");
    assert_eq!(updated["return_url"], "https://shop.example/done", "{updated}");
    assert_eq!(updated["capture_method"], "manual", "{updated}");
    assert_eq!(updated["billing"]["address"]["city"], "Paris", "{updated}");
    // Left out, kept.
    assert_eq!(updated["description"], "first", "{updated}");
    assert_eq!(updated["client_secret"], created["client_secret"], "{updated}");
    let expires = chrono::DateTime::parse_from_rfc3339(str_of(&updated, "/expires_on")).unwrap();
    let made = chrono::DateTime::parse_from_rfc3339(str_of(&created, "/expires_on")).unwrap();
    assert_eq!((expires - made).num_seconds(), 3600 - 900, "session_expiry counts from creation");
    // Read back as get-intent shows it.
    let (_, read) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(read, updated);

    // Bad bodies change nothing.
    let (status, body) = put(&app, &path, json!({ "amount_details": { "order_amount": -5 } })).await;
    assert_invalid(status, &body);
    let (status, body) = put(&app, &path, json!({ "colour": "blue" })).await;
    assert!(assert_invalid(status, &body).contains("colour"), "{body}");
    let (status, body) = put(&app, &path, json!({ "amount_details": { "shipping_cost": 999_999_999_999_i64 } })).await;
    assert!(assert_invalid(status, &body).contains("add up to"), "{body}");
    let (status, body) = put(&app, &path, json!({ "return_url": "ftp://shop.example" })).await;
    assert_invalid(status, &body);
    let (_, read) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(read, updated);

    // Unknown, another merchant's, another profile's: not found.
    let (status, body) = put(&app, "/v2/payments/sy_pay_nope/update-intent", json!({})).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.call(Method::PUT, &path, Some(GLOBEX_KEY), Some("web"), Some(&json!({}))).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.call(Method::PUT, &path, Some(ACME_KEY), Some("shop"), Some(&json!({}))).await;
    assert_error(status, &body, 404, "HE_02");

    // Confirmed, it is no longer the intent's to change: Hyperswitch's unexpected-state error.
    let (status, paid) = app.post(&format!("/v2/payments/{id}/confirm-intent"), card_method(VISA)).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["amount"]["net_amount"], 2800, "{paid}");
    let (status, body) = put(&app, &path, json!({ "metadata": { "cart": "3" } })).await;
    let message = assert_error(status, &body, 400, "IR_14");
    assert!(message.contains("requires_payment_method"), "{message}");
    let (_, read) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(read["metadata"], json!({ "cart": "2" }), "{read}");
    app.stop().await;
}

/// The ids of a list's page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap_or_else(|| panic!("no data in {page}")).iter().map(id_of).collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, page) = app.get(&format!("/v2/payments/list{query}")).await;
    assert_eq!(status, 200, "{query}: {page}");
    assert_eq!(page["count"], page["data"].as_array().unwrap().len(), "{page}");
    page
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_are_listed_filtered_ordered_and_paged() {
    let app = TestApp::start().await;
    let (_, customer) = app.post("/v2/customers", json!({ "name": "Jo", "email": "jo@example.com" })).await;
    let customer_id = id_of(&customer);
    // Oldest first: a, b (declined), c (an intent only), d (EUR, the customer's), e.
    let a =
        pay(&app, with(payment(VISA), json!({ "amount_details": { "currency": "USD", "order_amount": 300 } }))).await;
    let (_, b) = app.post("/v2/payments", with(payment(DECLINED), json!({ "merchant_reference_id": "order-b" }))).await;
    assert_eq!(b["status"], "failed", "{b}");
    let c = intent(&app, json!({ "amount_details": { "currency": "USD", "order_amount": 100 } })).await;
    let d = pay(
        &app,
        with(
            payment(VISA),
            json!({ "amount_details": { "currency": "EUR", "order_amount": 5000 }, "customer_id": customer_id }),
        ),
    )
    .await;
    let e =
        pay(&app, with(payment(VISA), json!({ "amount_details": { "currency": "USD", "order_amount": 700 } }))).await;
    // Neither another profile's nor another merchant's.
    let (status, _) = app.call(Method::POST, "/v2/payments", Some(ACME_KEY), Some("shop"), Some(&payment(VISA))).await;
    assert_eq!(status, 200);
    let (status, _) = app.call(Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&payment(VISA))).await;
    assert_eq!(status, 200);
    let owned = [&a, &b, &c, &d, &e].map(id_of);
    let [a, b, c, d, e] = owned.each_ref().map(String::as_str);

    let all = list(&app, "").await;
    assert_eq!(ids(&all), [e, d, c, b, a], "newest first: {all}");
    assert_eq!(all["total_count"], 5, "{all}");
    let item = &all["data"][1];
    assert_eq!(item["status"], "succeeded", "{item}");
    assert_eq!(item["customer_id"], customer_id.as_str(), "{item}");
    assert_eq!(item["amount"]["net_amount"], 5000, "{item}");
    assert_eq!(item["connector"], "sandbox", "{item}");
    assert_eq!(item["merchant_connector_id"], "sandbox", "{item}");
    assert_eq!(item["payment_method_type"], "card", "{item}");
    assert_eq!(item["attempt_count"], 1, "{item}");
    assert_eq!(item["profile_id"], "web", "{item}");
    assert_eq!(all["data"][2]["attempt_count"], 0, "{all}");
    assert!(!all.to_string().contains(VISA), "{all}");

    // Pages cover the list once, in order; total_count counts them all.
    let first = list(&app, "?limit=2").await;
    let second = list(&app, "?limit=2&offset=2").await;
    let third = list(&app, "?limit=2&offset=4").await;
    assert_eq!([ids(&first), ids(&second), ids(&third)].concat(), ids(&all));
    assert_eq!((first["count"].clone(), first["total_count"].clone()), (json!(2), json!(5)));
    // Cursors: the page after one payment, and the page ending before one.
    assert_eq!(ids(&list(&app, &format!("?starting_after={d}&limit=2")).await), [c, b]);
    assert_eq!(ids(&list(&app, &format!("?ending_before={b}&limit=2")).await), [d, c]);
    assert_eq!(ids(&list(&app, &format!("?ending_before={d}")).await), [e]);

    let cases: Vec<(String, Vec<&str>)> = vec![
        ("?status=succeeded".to_string(), vec![e, d, a]),
        ("?status=succeeded,failed".to_string(), vec![e, d, b, a]),
        ("?status=requires_payment_method&status=failed".to_string(), vec![c, b]),
        ("?currency=EUR".to_string(), vec![d]),
        (format!("?customer_id={customer_id}"), vec![d]),
        ("?merchant_order_reference_id=order-b".to_string(), vec![b]),
        (format!("?payment_id={c}"), vec![c]),
        ("?start_amount=300&end_amount=700".to_string(), vec![e, a]),
        ("?connector=sandbox&payment_method_type=card".to_string(), vec![e, d, b, a]),
        ("?merchant_connector_id=elsewhere".to_string(), vec![]),
        ("?payment_method_subtype=credit&status=failed".to_string(), vec![b]),
        ("?authentication_type=no_three_ds&currency=USD".to_string(), vec![e, c, b, a]),
        ("?order_on=amount&order_by=asc".to_string(), vec![c, a, e, d, b]),
        ("?order_on=created&order_by=asc&limit=2".to_string(), vec![a, b]),
    ];
    for (query, want) in cases {
        let page = list(&app, &query).await;
        assert_eq!(ids(&page), want, "{query}");
    }
    let since = str_of(&all, "/data/2/created");
    let page = list(&app, &format!("?created.gte={}", since.replace('+', "%2B"))).await;
    assert_eq!(ids(&page), [e, d, c], "{page}");
    let page = list(&app, &format!("?created.lt={}", since.replace('+', "%2B"))).await;
    assert_eq!(ids(&page), [b, a], "{page}");
    // Another of the merchant's profiles, by name.
    assert_eq!(list(&app, "?profile_id=shop").await["total_count"], 1);

    for query in ["?status=bogus", "?limit=0", "?limit=101", "?colour=blue", "?created.gt=yesterday", "?order_by=up"] {
        let (status, body) = app.get(&format!("/v2/payments/list{query}")).await;
        assert_invalid(status, &body);
    }
    let (status, body) = app.get("/v2/payments/list?card_network=Visa").await;
    assert_error(status, &body, 400, "IR_20");
    let (status, body) = app.get("/v2/payments/list?starting_after=sy_pay_nope").await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.get("/v2/payments/list?profile_id=nope").await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.call(Method::GET, "/v2/payments/list", None, Some("web"), None).await;
    assert_error(status, &body, 401, "IR_01");
    app.stop().await;
}

fn fintecture_account() -> ConnectorAccountConfig {
    let key = std::fs::read_to_string(common::fintecture_sdk::key_path()).expect("the test private key");
    let credentials = [("app_id", "switchyard-test-app"), ("app_secret", "not-used-here"), ("private_key", &key)];
    ConnectorAccountConfig {
        name: "fintecture".into(),
        connector: "fintecture".into(),
        enabled: true,
        // Never called: listing asks no provider.
        base_url: Some("http://127.0.0.1:9".into()),
        credentials: credentials.iter().map(|(k, v)| (k.to_string(), SecretValue::Literal(v.to_string()))).collect(),
        metadata: Default::default(),
        rate_limit: None,
    }
}

fn offered(list: &Value) -> Vec<(String, String)> {
    let entries = list["payment_methods_enabled"].as_array().unwrap_or_else(|| panic!("{list}"));
    entries
        .iter()
        .map(|m| (str_of(m, "/payment_method_type").to_string(), str_of(m, "/payment_method_subtype").to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_payers_client_lists_how_it_may_pay() {
    let dir = TempDir::new().unwrap();
    let config = config_with(dir.path(), vec![sandbox_account("sandbox"), fintecture_account()], &["sandbox"]);
    let app = TestApp::start_with(dir, config).await;
    let (_, customer) = app.post("/v2/customers", json!({ "name": "Jo", "email": "jo@example.com" })).await;
    let customer_id = id_of(&customer);
    let saved = json!({ "customer_id": customer_id, "payment_method_type": "card", "storage_type": "persistent",
                        "payment_method_data": { "card": { "card_number": VISA, "card_exp_month": "10",
                            "card_exp_year": "2035", "card_holder_name": "Jo Doe" } } });
    let (status, method) = app.post("/v2/payment-methods", saved).await;
    assert_eq!(status, 200, "{method}");

    // In euros, with a customer: cards, wallets, pay by bank, and the customer's saved card.
    let eur = intent(
        &app,
        json!({ "amount_details": { "currency": "EUR", "order_amount": 1000 }, "customer_id": customer_id }),
    )
    .await;
    let path = |p: &Value| format!("/v2/payments/{}/payment-methods", id_of(p));
    let secret = |p: &Value| str_of(p, "/client_secret").to_string();
    let (status, list) = client(&app, Method::GET, &path(&eur), ACME_PK, &secret(&eur)).await;
    assert_eq!(status, 200, "{list}");
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(
        offered(&list),
        pairs(&[
            ("card", "credit"),
            ("card", "debit"),
            ("wallet", "google_pay"),
            ("wallet", "apple_pay"),
            ("open_banking", "open_banking_pis")
        ]),
        "{list}"
    );
    let saved = &list["customer_payment_methods"];
    assert_eq!(saved.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(saved[0]["payment_method_token"], method["id"], "{list}");
    assert_eq!(saved[0]["payment_method_data"]["card"]["last4_digits"], "4242", "{list}");
    assert_eq!(saved[0]["customer_id"], customer_id.as_str(), "{list}");
    assert!(!list.to_string().contains(VISA), "{list}");

    // In dollars, which Fintecture does not take, and as a guest: no bank, no saved methods.
    let usd = intent(&app, json!({ "amount_details": { "currency": "USD", "order_amount": 1000 } })).await;
    let (status, list) = client(&app, Method::GET, &path(&usd), ACME_PK, &secret(&usd)).await;
    assert_eq!(status, 200, "{list}");
    assert!(!offered(&list).iter().any(|(kind, _)| kind == "open_banking"), "{list}");
    assert!(list.get("customer_payment_methods").is_none(), "{list}");

    // The payment's own secret, the merchant's own publishable key; the secret key is no
    // publishable key.
    let (status, body) = client(&app, Method::GET, &path(&eur), ACME_PK, &secret(&usd)).await;
    assert_error(status, &body, 400, "IR_09");
    let (status, body) = client(&app, Method::GET, &path(&eur), GLOBEX_PK, &secret(&eur)).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = client(&app, Method::GET, &path(&eur), ACME_KEY, &secret(&eur)).await;
    assert_error(status, &body, 401, "IR_01");
    let (status, body) = app.get(&path(&eur)).await;
    assert_error(status, &body, 401, "IR_01");
    let (status, body) =
        client(&app, Method::GET, "/v2/payments/sy_pay_nope/payment-methods", ACME_PK, &secret(&eur)).await;
    assert_error(status, &body, 404, "HE_02");

    // The saved card pays; then there is nothing left to offer.
    let confirm = json!({ "payment_method_type": "card", "payment_method_id": method["id"] });
    let (status, paid) = app.post(&format!("/v2/payments/{}/confirm-intent", id_of(&eur)), confirm).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let (status, body) = client(&app, Method::GET, &path(&eur), ACME_PK, &secret(&eur)).await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn external_vault_sdk_tokens_are_not_offered() {
    let app = TestApp::start().await;
    let created = intent(&app, json!({ "amount_details": { "currency": "USD", "order_amount": 1000 } })).await;
    let path = format!("/v2/payments/{}/create-external-sdk-tokens", id_of(&created));
    let (status, body) = client(&app, Method::POST, &path, ACME_PK, str_of(&created, "/client_secret")).await;
    let message = assert_error(status, &body, 400, "IR_20");
    assert!(message.contains("session_tokens"), "{message}");
    let (status, body) = app.post(&path, json!({})).await;
    assert_error(status, &body, 401, "IR_01");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_that_read_the_intent_before_an_update_does_not_charge_the_old_amount() {
    use switchyard::domain::status::IntentStatus;
    use switchyard::store::{IntentUpdate, Store};
    let app = TestApp::start().await;
    let created = intent(&app, json!({ "amount_details": { "currency": "USD", "order_amount": 1000 } })).await;
    let id = id_of(&created);
    let store = Store::connect(app.database_url(), 1).await.expect("the daemon's database");
    // A confirmation reads the intent (and would charge its 1000) ...
    let read = store.find_intent(&id, "acme", Some("web")).await.unwrap().expect("the intent");
    // ... an update changes the amount before the confirmation takes the intent ...
    let (status, updated) =
        put(&app, &format!("/v2/payments/{id}/update-intent"), json!({ "amount_details": { "order_amount": 5 } }))
            .await;
    assert_eq!(status, 200, "{updated}");
    // ... so the confirmation's claim on the intent fails: it lost the race, nothing is charged.
    let claim = |since| IntentUpdate {
        unchanged_since: Some(since),
        ..IntentUpdate::status(IntentStatus::Processing, chrono::Utc::now())
    };
    let from = [IntentStatus::RequiresPaymentMethod];
    assert!(!store.begin_attempt(&id, &from, &claim(read.modified_at), None).await.unwrap());
    let now = store.find_intent(&id, "acme", Some("web")).await.unwrap().expect("the intent");
    assert_eq!(now.status, IntentStatus::RequiresPaymentMethod);
    // Read again, it takes the intent as updated.
    assert!(store.begin_attempt(&id, &from, &claim(now.modified_at), None).await.unwrap());
    store.close().await;
    app.stop().await;
}
