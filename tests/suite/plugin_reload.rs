//! Connector plugins reload live: an edited plugin serves its new version once the watcher sees
//! it, and a version that does not load leaves the previous one serving.

use crate::common;

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use common::mock::MockServer;
use common::*;
use serde_json::json;
use switchyard::config::ConnectorAccountConfig;

async fn provider() -> MockServer {
    let app = Router::new().route("/pay", post(|| async { Json(json!({ "id": "p1" })) }));
    MockServer::serve(app).await
}

async fn paid_by(app: &TestApp) -> String {
    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    assert_eq!(status, 200, "{body}");
    body["connector_transaction_id"].as_str().unwrap_or_default().to_string()
}

async fn paid_by_until(app: &TestApp, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if paid_by(app).await == want {
            return;
        }
        assert!(Instant::now() < deadline, "the plugin never served {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_edited_plugin_serves_its_new_version_and_a_broken_one_is_kept_out() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v1")).unwrap();
    let mut config = config(dir.path());
    config.paths.plugins = plugins.clone();
    let web = config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    let provider = provider().await;
    web.connector_accounts = vec![ConnectorAccountConfig {
        name: "echo".into(),
        connector: "echo".into(),
        enabled: true,
        base_url: Some(provider.url.clone()),
        credentials: Default::default(),
        metadata: Default::default(),
        rate_limit: None,
    }];
    web.fallback = vec!["echo".into()];
    let app = TestApp::start_with(dir, config).await;
    assert_eq!(paid_by(&app).await, "v1-p1");

    std::fs::write(plugins.join("echo.lua"), echo_plugin("v2")).unwrap();
    paid_by_until(&app, "v2-p1").await;

    // A version that does not compile: v2 keeps serving.
    std::fs::write(plugins.join("echo.lua"), "return { name = ").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..3 {
        assert_eq!(paid_by(&app).await, "v2-p1");
    }
    // Nor does one that needs a credential the account using it does not have, which a start
    // would refuse.
    let needs_key = echo_plugin("v9").replace("supports =", r#"credentials = { "api_key" }, supports ="#);
    std::fs::write(plugins.join("echo.lua"), needs_key).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paid_by(&app).await, "v2-p1");
    // Nor does one that loads but breaks the contract (no authorize).
    std::fs::write(
        plugins.join("echo.lua"),
        "return { name = 'echo', api_version = 1, supports = { card = 'any' }, currencies = 'any' }",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paid_by(&app).await, "v2-p1");

    // Nor does one that leaves out which currencies it takes, or uses a secret it does not
    // list among its credentials.
    let any_currency = echo_plugin("v8").replace(r#"currencies = "any","#, "");
    std::fs::write(plugins.join("echo.lua"), any_currency).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paid_by(&app).await, "v2-p1");
    let unlisted_secret = echo_plugin("v7").replace("supports =", r#"secrets = { "api_key" }, supports ="#);
    std::fs::write(plugins.join("echo.lua"), unlisted_secret).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paid_by(&app).await, "v2-p1");

    std::fs::write(plugins.join("echo.lua"), echo_plugin("v3")).unwrap();
    paid_by_until(&app, "v3-p1").await;
    app.stop().await;
}

#[tokio::test]
async fn a_plugin_that_does_not_load_puts_only_its_own_accounts_out_of_service() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("echo.lua"), "return { name = ").unwrap();
    let mut config = config(dir.path());
    config.paths.plugins = plugins.clone();
    let web = config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = vec![
        ConnectorAccountConfig { connector: "echo".into(), ..sandbox_account("echo") },
        sandbox_account("sandbox"),
    ];
    web.fallback = vec!["echo".into(), "sandbox".into()];

    // `check` names the account that is out; a start serves all the others.
    let problems: Vec<String> = switchyard::app::snapshot::problems(&config).iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].starts_with("connector plugin `echo`: "), "{problems:#?}");
    assert_eq!(
        problems[1],
        "merchants.acme.profiles.web.connector_accounts[0].connector: connector plugin `echo` did not load: this \
         account is out of service"
    );
    let app = TestApp::start_with(dir, config).await;
    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["status"].as_str(), body["merchant_connector_id"].as_str()), (Some("succeeded"), Some("sandbox")));
    let (status, body) = app
        .call(reqwest::Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&payment("4242424242424242")))
        .await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("succeeded")), "{body}");
    app.stop().await;
}
