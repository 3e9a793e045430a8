//! Outgoing webhooks: each change of a payment's or refund's status reaches the merchant's
//! endpoint signed with HMAC-SHA512, retried until a 2xx, in order per payment, across restarts;
//! every try is visible at `/v2/events`.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use common::mock::{json_answer, MockServer};
use common::*;
use hmac::Mac;
use serde_json::{json, Value};
use switchyard::config::Config;
use tempfile::TempDir;

const HASH_KEY: &str = "whk_switchyardTestResponseHashKey";
const VISA: &str = "4242424242424242";

/// The status code the endpoint answers a body with, given how many requests came before it.
type Answer = Box<dyn Fn(&Value, usize) -> u16 + Send + Sync>;

/// What the merchant's endpoint got: each request's body (parsed, and the bytes as received: a
/// body parsed and written again need not be the same bytes), its signature, and the answer given.
struct Endpoint {
    received: Mutex<Vec<(Value, String, String, u16)>>,
    answer: Answer,
}

impl Endpoint {
    fn answering(answer: impl Fn(&Value, usize) -> u16 + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self { received: Mutex::default(), answer: Box::new(answer) })
    }

    /// The event types answered 2xx, in the order they were.
    fn delivered(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(_, _, _, code)| *code < 300)
            .map(|(body, _, _, _)| body["event_type"].as_str().unwrap().into())
            .collect()
    }

    /// Waits (at most 10 s) until `n` events were answered 2xx.
    async fn until_delivered(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            if self.delivered().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.delivered()
    }
}

async fn serve(endpoint: Arc<Endpoint>, listener: Option<std::net::TcpListener>) -> MockServer {
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let endpoint = endpoint.clone();
            async move {
                let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
                let signature =
                    headers.get("x-webhook-signature-512").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let mut received = endpoint.received.lock().unwrap();
                let code = (endpoint.answer)(&parsed, received.len());
                received.push((parsed, body, signature, code));
                json_answer(code, json!({ "received": code < 300 }))
            }
        }),
    );
    match listener {
        Some(listener) => MockServer::serve_on(listener, app).await,
        None => MockServer::serve(app).await,
    }
}

fn config(dir: &std::path::Path, webhook_url: &str) -> Config {
    let mut config = config_with(dir, vec![sandbox_account("sandbox")], &["sandbox"]);
    send_webhooks(&mut config, webhook_url, HASH_KEY);
    config.outgoing_webhooks.every_ms = 50;
    config.outgoing_webhooks.retry_base_ms = 50;
    config.outgoing_webhooks.retry_max_ms = 200;
    config
}

async fn start(webhook_url: &str) -> TestApp {
    let dir = TempDir::new().unwrap();
    let config = config(dir.path(), webhook_url);
    TestApp::start_with(dir, config).await
}

fn signature(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(HASH_KEY.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn events_of(app: &TestApp, object_id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v2/events?object_id={object_id}")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

async fn tries(app: &TestApp, event_id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v2/events/{event_id}/attempts")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_succeeded_payment_is_told_to_the_merchant_signed_with_the_hash_key() {
    let endpoint = Endpoint::answering(|_, _| 200);
    let server = serve(endpoint.clone(), None).await;
    let app = start(&format!("{}/hooks", server.url)).await;
    let paid = pay(&app, payment(VISA)).await;
    let id = id_of(&paid);

    assert_eq!(endpoint.until_delivered(1).await, ["payment_succeeded"]);
    let (body, raw, signed, _) = endpoint.received.lock().unwrap()[0].clone();
    assert_eq!(signed, signature(&raw), "the signature is HMAC-SHA512 of the body under the profile's key");
    assert_eq!(body["merchant_id"], "acme");
    assert_eq!(body["content"]["type"], "payment_details");
    let object = &body["content"]["object"];
    assert_eq!(object["id"], id.as_str());
    assert_eq!(object["status"], "succeeded");
    assert_eq!(object["connector_transaction_id"], paid["connector_transaction_id"]);
    assert!(!body.to_string().contains(VISA), "the card number is in the event: {body}");

    let listed = events_of(&app, &id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["event_id"], body["event_id"]);
    assert_eq!(listed[0]["event_class"], "payments");
    assert_eq!(listed[0]["is_delivery_successful"], true);
    let tried = tries(&app, listed[0]["event_id"].as_str().unwrap()).await;
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(tried[0]["response"]["status_code"], 200);
    assert_eq!(tried[0]["delivery_attempt"], "initial_attempt");
    assert_eq!(tried[0]["request"]["body"], raw);

    // Another merchant sees none of it.
    let (status, theirs) = app
        .call(reqwest::Method::GET, &format!("/v2/events?object_id={id}"), Some(GLOBEX_KEY), Some("web"), None)
        .await;
    assert_eq!((status.as_u16(), theirs), (200, json!([])));
    let event_id = listed[0]["event_id"].as_str().unwrap();
    let (status, body) =
        app.call(reqwest::Method::GET, &format!("/v2/events/{event_id}"), Some(GLOBEX_KEY), Some("web"), None).await;
    assert_error(status, &body, 404, "HE_02");
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_until_it_answers_2xx_and_events_keep_their_order() {
    // The first three requests fail, whatever they carry.
    let endpoint = Endpoint::answering(|_, n| if n < 3 { 500 } else { 200 });
    let server = serve(endpoint.clone(), None).await;
    let app = start(&format!("{}/hooks", server.url)).await;
    let held = pay(&app, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    let id = id_of(&held);
    let (status, captured) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(status, 200, "{captured}");

    assert_eq!(endpoint.until_delivered(2).await, ["payment_authorized", "payment_succeeded"]);
    // Nothing of the capture went out before the authorization was delivered.
    let sent: Vec<(String, u16)> = endpoint
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(body, _, _, code)| (body["event_type"].as_str().unwrap().to_string(), *code))
        .collect();
    let first_success = sent.iter().position(|(_, code)| *code == 200).unwrap();
    assert!(sent[..first_success].iter().all(|(t, _)| t == "payment_authorized"), "{sent:?}");

    let listed = events_of(&app, &id).await;
    let authorized = listed.iter().find(|e| e["event_type"] == "payment_authorized").unwrap();
    let tried = tries(&app, authorized["event_id"].as_str().unwrap()).await;
    let codes: Vec<&Value> = tried.iter().map(|t| &t["response"]["status_code"]).collect();
    assert_eq!(codes, [500, 500, 500, 200], "{tried:?}");
    assert_eq!(tried[1]["delivery_attempt"], "automatic_retry");

    let (_, metrics) = app.call(reqwest::Method::GET, "/metrics", None, None, None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("switchyard_webhook_deliveries_total{outcome=\"retrying\",cause=\"status_5xx\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_webhook_deliveries_total{outcome=\"delivered\",cause=\"none\"}"), "{metrics}");
}

#[tokio::test]
async fn an_event_given_up_on_lets_the_next_of_its_payment_go() {
    let endpoint = Endpoint::answering(|body, _| if body["event_type"] == "payment_authorized" { 500 } else { 200 });
    let server = serve(endpoint.clone(), None).await;
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path(), &format!("{}/hooks", server.url));
    config.outgoing_webhooks.max_attempts = 2;
    let app = TestApp::start_with(dir, config).await;
    let id = id_of(&pay(&app, with(payment(VISA), json!({ "capture_method": "manual" }))).await);
    let (status, _) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(status, 200);

    assert_eq!(endpoint.until_delivered(1).await, ["payment_succeeded"]);
    let listed = events_of(&app, &id).await;
    let authorized = listed.iter().find(|e| e["event_type"] == "payment_authorized").unwrap();
    assert_eq!(authorized["is_delivery_successful"], false, "{listed:?}");
    assert_eq!(tries(&app, authorized["event_id"].as_str().unwrap()).await.len(), 2);
}

#[tokio::test]
async fn events_not_yet_delivered_survive_a_restart() {
    // The merchant's endpoint is down: its port is free, and nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", port.local_addr().unwrap());
    drop(port);
    let app = start(&url).await;
    let id = id_of(&pay(&app, payment(VISA)).await);
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = events_of(&app, &id).await;
        let tried = tries(&app, listed[0]["event_id"].as_str().unwrap()).await;
        if !tried.is_empty() {
            assert!(tried[0]["response"]["error_message"].is_string(), "{tried:?}");
            assert!(tried[0]["response"]["status_code"].is_null(), "{tried:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed[0]["is_delivery_successful"], Value::Null, "still being tried: {listed:?}");

    let app = app.restart().await;
    let endpoint = Endpoint::answering(|_, _| 200);
    let listener = std::net::TcpListener::bind(url.trim_start_matches("http://").trim_end_matches("/hooks")).unwrap();
    let _server = serve(endpoint.clone(), Some(listener)).await;
    assert_eq!(endpoint.until_delivered(1).await, ["payment_succeeded"]);
    let (body, _, _, _) = endpoint.received.lock().unwrap()[0].clone();
    assert_eq!(body["content"]["object"]["id"], id.as_str());
    let listed = events_of(&app, &id).await;
    assert_eq!(listed[0]["is_delivery_successful"], true, "{listed:?}");
}

#[tokio::test]
async fn refunds_and_cancellations_are_told_too() {
    let endpoint = Endpoint::answering(|_, _| 200);
    let server = serve(endpoint.clone(), None).await;
    let app = start(&format!("{}/hooks", server.url)).await;
    let id = id_of(&pay(&app, payment(VISA)).await);
    let (status, refund) = app
        .post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "rf-hook-1", "amount": 1000 }))
        .await;
    assert_eq!(status, 200, "{refund}");
    let (status, intent) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 100 } }))
        .await;
    assert_eq!(status, 200, "{intent}");
    let (status, _) = app.post(&format!("/v2/payments/{}/cancel", id_of(&intent)), json!({})).await;
    assert_eq!(status, 200);

    let mut delivered = endpoint.until_delivered(3).await;
    delivered.sort();
    assert_eq!(delivered, ["payment_cancelled", "payment_succeeded", "refund_succeeded"]);
    let received = endpoint.received.lock().unwrap().clone();
    let refunded = received.iter().find(|(b, _, _, _)| b["event_type"] == "refund_succeeded").unwrap();
    assert_eq!(refunded.0["content"]["type"], "refund_details");
    assert_eq!(refunded.0["content"]["object"]["id"], refund["id"]);
    assert_eq!(events_of(&app, refund["id"].as_str().unwrap()).await[0]["event_class"], "refunds");
}

/// The daemon's log (at `info`, not a terminal) has a line per try, with the endpoint's status
/// as a plain number: `status_code=500`, never Rust's `Some(500)`.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_has_a_plain_line_per_delivery_try() {
    let endpoint = Endpoint::answering(|_, before| if before == 0 { 500 } else { 200 });
    let server = serve(endpoint.clone(), None).await;
    let dir = TempDir::new().unwrap();
    let profile = format!(
        "[merchants.acme.profiles.web]\nfallback = [\"sandbox\"]\nwebhook_url = \"{}/hooks\"\n\
         payment_response_hash_key = \"{HASH_KEY}\"\n\n\
         [[merchants.acme.profiles.web.connector_accounts]]\nname = \"sandbox\"\nconnector = \"sandbox\"\n",
        server.url
    );
    config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), &profile);
    let port = common::binary::free_port();
    let env =
        [("SWITCHYARD__OUTGOING_WEBHOOKS__EVERY_MS", "50"), ("SWITCHYARD__OUTGOING_WEBHOOKS__RETRY_BASE_MS", "50")];
    let daemon = common::binary::start(dir.path(), port, &env).await;
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v2/payments"))
        .header("api-key", ACME_KEY)
        .json(&payment(VISA))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(endpoint.until_delivered(1).await, ["payment_succeeded"]);
    let read = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    for _ in 0..100 {
        if read().matches("webhook sent").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(daemon);
    let log = read();
    let tries: Vec<&str> = log.lines().filter(|l| l.contains("webhook sent")).collect();
    assert_eq!(tries.len(), 2, "{log}");
    for (line, parts) in
        tries.iter().zip([["status_code=500", "outcome=retrying"], ["status_code=200", "outcome=delivered"]])
    {
        assert!(line.contains(" INFO ") && !line.contains("Some("), "{line}");
        for part in parts {
            assert!(line.contains(part), "{part} missing: {line}");
        }
    }
}
