//! Rate limits over HTTP: per API key and per merchant (429 in the wire format with
//! `Retry-After`, nothing stored, `/health` and `/metrics` never limited), per connector account
//! (routing passes over an account out of quota, or answers 429 when none is left), and limits
//! reloaded from the configuration file while the daemon runs.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard::config::{Config, ConnectorAccountConfig, RateConfig};
use tempfile::TempDir;

pub(crate) fn rate(per_second: u32, burst: u32) -> Option<RateConfig> {
    Some(RateConfig { per_second, burst })
}

async fn app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    change(&mut config);
    TestApp::start_with(dir, config).await
}

/// A 429 in the wire format, with a whole number of seconds to wait.
pub(crate) async fn assert_limited(res: reqwest::Response, scope: &str) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RL_01", "{body}");
    assert_eq!(body["error"]["type"], "rate_limited", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(scope), "{message}");
}

pub(crate) async fn send(
    app: &TestApp,
    key: &str,
    profile: Option<&str>,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req =
        app.client.request(if body.is_some() { Method::POST } else { Method::GET }, format!("{}{path}", app.base));
    req = req.header("api-key", key);
    if let Some(profile) = profile {
        req = req.header("X-Profile-Id", profile);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_past_its_limit_gets_429_and_stores_nothing() {
    let app = app_with(|c| c.limits.per_key = rate(1, 3)).await;
    for _ in 0..3 {
        pay(&app, payment("4242424242424242")).await;
    }
    let res = send(&app, ACME_KEY, Some("web"), "/v2/payments", Some(&payment("4242424242424242"))).await;
    assert_limited(res, "api_key").await;
    assert_eq!(app.count("payment_intents").await, 3);
    // Another merchant's key has a bucket of its own; health and metrics are never limited.
    let (status, _) =
        app.call(Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&payment("4242424242424242"))).await;
    assert_eq!(status, 200);
    for path in ["/health", "/metrics", "/health", "/metrics", "/health"] {
        assert_eq!(app.client.get(format!("{}{path}", app.base)).send().await.unwrap().status(), 200, "{path}");
    }
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_rate_limited_total{scope=\"api_key\"}"), "{metrics}");
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pay(&app, payment("4242424242424242")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merchants_keys_share_its_limit() {
    let app = app_with(|c| c.limits.per_merchant = rate(1, 2)).await;
    let (status, intent) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "order_amount": 100, "currency": "USD" } }))
        .await;
    assert_eq!(status, 200, "{intent}");
    // The publishable key draws on the same bucket as the secret key.
    let ask =
        json!({ "payment_id": intent["id"], "client_secret": intent["client_secret"], "wallets": ["google_pay"] });
    let res = send(&app, ACME_PK, None, "/payments/session_tokens", Some(&ask)).await;
    assert_eq!(res.status(), 200);
    let res = send(&app, ACME_KEY, Some("web"), &format!("/v2/payments/{}", str_of(&intent, "/id")), None).await;
    assert_limited(res, "merchant").await;
    app.stop().await;
}

fn quota_account(name: &str, per_second: u32) -> ConnectorAccountConfig {
    ConnectorAccountConfig { rate_limit: rate(per_second, 1), ..sandbox_account(name) }
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_passes_over_an_account_out_of_quota_and_answers_429_when_none_is_left() {
    let app =
        start_with_accounts(vec![quota_account("first", 1), sandbox_account("second")], &["first", "second"]).await;
    let one = pay(&app, payment("4242424242424242")).await;
    assert_eq!(one["merchant_connector_id"], "first", "{one}");
    let two = pay(&app, payment("4242424242424242")).await;
    assert_eq!(two["merchant_connector_id"], "second", "{two}");
    assert_eq!(attempts(&two).len(), 1, "no attempt on the account out of quota: {two}");
    app.stop().await;

    let app = start_with_accounts(vec![quota_account("only", 1)], &["only"]).await;
    pay(&app, payment("4242424242424242")).await;
    let res = send(&app, ACME_KEY, Some("web"), "/v2/payments", Some(&payment("4242424242424242"))).await;
    assert_limited(res, "connector_account").await;
    assert_eq!(app.count("payment_intents").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_are_reloaded_from_the_configuration_file() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("config");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("switchyard.toml");
    let web = "[merchants.acme.profiles.web]\n[[merchants.acme.profiles.web.connector_accounts]]\nname = \"sandbox\"\n\
               connector = \"sandbox\"\n";
    let base = std::fs::read_to_string(config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), web)).unwrap();
    let write = |burst: u32| {
        std::fs::write(&file, format!("{base}\n[limits]\nper_key = {{ per_second = 1, burst = {burst} }}\n")).unwrap();
    };
    write(100);
    let mut config = Config::load(Some(&file)).expect("the file loads");
    assert_eq!(config.source.as_deref(), Some(file.as_path()));
    config.server.listen = "127.0.0.1:0".into();
    let app = TestApp::start_with(TempDir::new().unwrap(), config).await;
    for _ in 0..5 {
        assert_eq!(send(&app, ACME_KEY, Some("web"), "/v2/customers/list", None).await.status(), 200);
    }

    write(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = send(&app, ACME_KEY, Some("web"), "/v2/customers/list", None).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_limited(res, "api_key").await;
            break;
        }
        assert!(Instant::now() < deadline, "the new limit never applied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_metrics_off_there_is_no_metrics_endpoint() {
    let app = app_with(|c| c.metrics.enabled = false).await;
    let res = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // The request id is there all the same.
    assert!(res.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = app_with(|c| c.metrics.listen = "127.0.0.1:0".into()).await;
    let admin = app.metrics_base().expect("an admin listener");
    let res = app.client.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("switchyard_build_info"));
    // Not on the API's address, and the admin listener serves nothing else.
    assert_eq!(app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(format!("{admin}/v2/payments/x")).send().await.unwrap().status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn captures_and_refunds_draw_on_the_accounts_quota_and_reads_do_not() {
    let app = start_with_accounts(vec![quota_account("only", 1)], &["only"]).await;
    let held = pay(&app, with(payment("4242424242424242"), json!({ "capture_method": "manual" }))).await;
    assert_eq!(held["status"], "requires_capture", "{held}");
    let id = id_of(&held);
    let res = send(&app, ACME_KEY, Some("web"), &format!("/v2/payments/{id}/capture"), Some(&json!({}))).await;
    assert_limited(res, "connector_account").await;
    // Nothing changed, and reading it back (even from the provider) is not limited.
    let (status, read) = app.get(&format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["status"], "requires_capture", "{read}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, captured) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(status, 200, "{captured}");
    assert_eq!(captured["status"], "succeeded", "{captured}");
    let res = send(
        &app,
        ACME_KEY,
        Some("web"),
        "/v2/refunds",
        Some(&json!({ "payment_id": id, "merchant_reference_id": "r1" })),
    )
    .await;
    assert_limited(res, "connector_account").await;
    assert_eq!(app.count("refunds").await, 0);
    app.stop().await;
}
