//! Fintecture's notifications through the plugin's `webhook`: the Signature header carries
//! "date, digest, x-request-id" encrypted to the application's public key (RSA-OAEP, SHA-1); a
//! notification verifies only when it decrypts with the private key and agrees with the request.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use common::mock::MockServer;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchyard::config::{ConnectorAccountConfig, SecretValue};

/// A Fintecture double that hands out a token and a payment session `sess_w`.
async fn fintecture_double() -> MockServer {
    let app = Router::new()
        .route("/oauth/accesstoken", post(|| async { Json(json!({ "access_token": "tok", "expires_in": 3600 })) }))
        .route(
            "/pis/v2/connect",
            post(|| async {
                Json(json!({ "meta": { "session_id": "sess_w", "url": "https://connect.example/sess_w" } }))
            }),
        )
        .route("/pis/v2/payments/{id}", get(|| async { Json(json!({ "meta": { "status": "payment_pending" } })) }));
    MockServer::serve(app).await
}

async fn start(base_url: &str) -> TestApp {
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = config(dir.path());
    config.paths.plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let key = std::fs::read_to_string(fintecture_sdk::key_path()).unwrap();
    let account = ConnectorAccountConfig {
        name: "fintecture".into(),
        connector: "fintecture".into(),
        enabled: true,
        base_url: Some(base_url.into()),
        credentials: BTreeMap::from([
            ("app_id".to_string(), SecretValue::Literal(fintecture_sdk::APP_ID.into())),
            ("app_secret".to_string(), SecretValue::Literal("app-secret".into())),
            ("private_key".to_string(), SecretValue::Literal(key)),
        ]),
        metadata: Default::default(),
        rate_limit: None,
    };
    let web = config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = vec![account];
    web.fallback = vec!["fintecture".into()];
    TestApp::start_with(dir, config).await
}

fn open_banking() -> Value {
    json!({
        "amount_details": { "currency": "EUR", "order_amount": 6540 },
        "payment_method_type": "open_banking",
        "payment_method_subtype": "open_banking_pis",
        "payment_method_data": { "open_banking": { "open_banking_pis": {} } }
    })
}

/// `text` encrypted to the test application's public key, as Fintecture does it.
fn encrypt_to_app(text: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-pubin", "-inkey"])
        .arg(fintecture_sdk::public_key_path())
        .args(["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl could not encrypt");
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

/// A notification as Fintecture sends it, for `body`; `tamper` changes the signed text's digest.
fn notification(body: &str, date: &str, tamper: bool) -> Vec<(&'static str, String)> {
    let digest =
        format!("SHA-256={}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes())));
    let request_id = "c6a9d2e4-3b1f-4f7e-9f0a-1d2e3f4a5b6c";
    let signed_digest = if tamper { "SHA-256=AAAA".to_string() } else { digest.clone() };
    let text = format!("date: {date}\ndigest: {signed_digest}\nx-request-id: {request_id}");
    let signature = format!(
        "keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"date digest x-request-id\",signature=\"{}\"",
        fintecture_sdk::APP_ID,
        encrypt_to_app(&text)
    );
    vec![
        ("Date", date.to_string()),
        ("Digest", digest),
        ("X-Request-ID", request_id.to_string()),
        ("Signature", signature),
    ]
}

async fn notify(app: &TestApp, body: &str, headers: Vec<(&'static str, String)>) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/v2/webhooks/acme/fintecture", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let res = req.send().await.expect("answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_fintecture_notification_that_decrypts_and_agrees_settles_the_payment() {
    let fintecture = fintecture_double().await;
    let app = start(&fintecture.url).await;
    let (status, payment) = app.post("/v2/payments", open_banking()).await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(payment["status"], "requires_customer_action", "{payment}");
    let id = payment["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let body = "session_id=sess_w&status=payment_created&customer_id=c1&provider=bank&state=x";

    // A signature that decrypts but does not match the body: refused, nothing changes.
    let (status, answer) = notify(&app, body, notification(body, &now, true)).await;
    assert_error(reqwest::StatusCode::from_u16(status).unwrap(), &answer, 401, "WE_01");
    // A body changed after signing: refused.
    let (status, _) = notify(&app, "session_id=sess_w&status=payment_cancelled", notification(body, &now, false)).await;
    assert_eq!(status, 401);
    // Too old: refused.
    let old = "Mon, 26 Feb 2024 13:36:00 GMT";
    let (status, _) = notify(&app, body, notification(body, old, false)).await;
    assert_eq!(status, 401);
    assert_eq!(app.get(&format!("/v2/payments/{id}")).await.1["status"], "requires_customer_action");

    let (status, answer) = notify(&app, body, notification(body, &now, false)).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")), "{answer}");
    let (_, paid) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount"]["amount_captured"], 6540, "{paid}");

    let (status, answer) = notify(&app, body, notification(body, &now, false)).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("already_known")), "{answer}");
    app.stop().await;
}
