//! Calls in flight and the reports that race them: a capture or cancel that the provider acted on
//! before answering 5xx is answered as stored (`processing`), and a sync (`force_sync`) never
//! makes a concurrent capture, cancel or refund fail, nor settles a payment on an answer the
//! call under way is about to overtake. The provider is a Stripe double whose calls act at the
//! end of a pause and whose failures come after acting: faults no real test peer produces.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use axum::Router;
use common::localstripe::stripe_account;
use common::mock::{json_answer, MockServer};
use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// What the double holds of its one payment intent, and how it behaves.
#[derive(Default)]
struct Intent {
    captured: bool,
    cancelled: bool,
    /// How long a read of the intent takes.
    read_delay: Duration,
    /// How long a capture or cancel takes before it acts.
    act_delay: Duration,
    /// Answer 500 after acting on a capture or cancel.
    fail_after_acting: bool,
}

type Shared = Arc<Mutex<Intent>>;

fn intent_json(intent: &Intent) -> Value {
    let (status, received) = match (intent.captured, intent.cancelled) {
        (true, _) => ("succeeded", 6540),
        (_, true) => ("canceled", 0),
        _ => ("requires_capture", 0),
    };
    json!({ "id": "pi_1", "object": "payment_intent", "status": status, "amount": 6540, "amount_received": received,
        "capture_method": "manual", "metadata": {} })
}

async fn act(shared: &Shared, what: fn(&mut Intent)) -> axum::response::Response {
    let delay = shared.lock().unwrap().act_delay;
    tokio::time::sleep(delay).await;
    let mut intent = shared.lock().unwrap();
    what(&mut intent);
    match intent.fail_after_acting {
        true => json_answer(500, json!({ "error": { "type": "api_error", "message": "internal" } })),
        false => json_answer(200, intent_json(&intent)),
    }
}

async fn provider(shared: Shared) -> MockServer {
    let app = Router::new()
        .route("/v1/payment_methods", post(|| async { json_answer(200, json!({ "id": "pm_1" })) }))
        .route(
            "/v1/payment_intents",
            post(|State(s): State<Shared>| async move { json_answer(200, intent_json(&s.lock().unwrap())) }),
        )
        .route(
            "/v1/payment_intents/{id}",
            get(|State(s): State<Shared>, UrlPath(_): UrlPath<String>| async move {
                let delay = s.lock().unwrap().read_delay;
                tokio::time::sleep(delay).await;
                json_answer(200, intent_json(&s.lock().unwrap()))
            }),
        )
        .route(
            "/v1/payment_intents/{id}/capture",
            post(|State(s): State<Shared>| async move { act(&s, |i| i.captured = true).await }),
        )
        .route(
            "/v1/payment_intents/{id}/cancel",
            post(|State(s): State<Shared>| async move { act(&s, |i| i.cancelled = true).await }),
        )
        .route(
            "/v1/refunds",
            post(|| async {
                json_answer(200, json!({ "id": "re_1", "object": "refund", "status": "succeeded", "amount": 100 }))
            }),
        )
        .with_state(shared);
    MockServer::serve(app).await
}

async fn start(shared: &Shared) -> (TestApp, MockServer) {
    let stripe = provider(shared.clone()).await;
    let dir = TempDir::new().unwrap();
    let config = config_with(dir.path(), vec![stripe_account("stripe", &stripe.url)], &["stripe"]);
    (TestApp::start_with(dir, config).await, stripe)
}

/// A manual-capture payment, authorized.
async fn authorized(app: &TestApp) -> String {
    let body = pay(app, with(payment("4242424242424242"), json!({ "capture_method": "manual" }))).await;
    assert_eq!(body["status"], "requires_capture", "{body}");
    id_of(&body)
}

async fn stored_status(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["status"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_or_cancel_the_provider_acted_on_before_failing_is_answered_as_stored() {
    let shared = Shared::default();
    let (app, _stripe) = start(&shared).await;
    shared.lock().unwrap().fail_after_acting = true;

    let id = authorized(&app).await;
    let (status, body) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processing", "the answer must be what is stored: {body}");
    assert_eq!(stored_status(&app, &id).await, "processing");
    // The provider captured: a sync learns it.
    let (_, synced) = app.get(&format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");

    shared.lock().unwrap().captured = false;
    let id = authorized(&app).await;
    let (status, body) = app.post(&format!("/v2/payments/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processing", "the answer must be what is stored: {body}");
    assert_eq!(stored_status(&app, &id).await, "processing");
    let (_, synced) = app.get(&format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(synced["status"], "cancelled", "{synced}");
    app.stop().await;
}

/// A sync during a slow capture reads the intent before the capture acts; it must neither
/// settle the payment on that answer nor make the capture fail.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_during_a_capture_leaves_the_payment_to_the_capture() {
    let shared = Shared::default();
    let (app, _stripe) = start(&shared).await;
    let id = authorized(&app).await;
    shared.lock().unwrap().act_delay = Duration::from_millis(1500);

    let capture = {
        let (base, id) = (app.base.clone(), id.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/v2/payments/{id}/capture"))
                .header("api-key", ACME_KEY)
                .header("X-Profile-Id", "web")
                .json(&json!({}))
                .send()
                .await
                .unwrap()
        })
    };
    // Once the capture has claimed the payment, a sync reads `requires_capture` at the provider.
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = stored_status(&app, &id).await;
        if seen == "processing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, "processing", "the capture never claimed the payment");
    let (status, synced) = app.get(&format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(status, 200, "{synced}");
    assert_eq!(synced["status"], "processing", "the sync settled a payment under capture: {synced}");

    let captured = capture.await.unwrap();
    assert_eq!(captured.status(), 200);
    let body: Value = captured.json().await.unwrap();
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(stored_status(&app, &id).await, "succeeded");
    app.stop().await;
}

/// A slow sync under way does not hold the payment: a capture, a cancel or a refund made
/// meanwhile goes through, and the sync's older answer does not undo it.
#[tokio::test(flavor = "multi_thread")]
async fn writes_made_during_a_slow_sync_go_through_and_stand() {
    let shared = Shared::default();
    let (app, _stripe) = start(&shared).await;
    shared.lock().unwrap().read_delay = Duration::from_millis(1200);

    let slow_sync = |id: String| {
        let base = app.base.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(format!("{base}/v2/payments/{id}?force_sync=true"))
                .header("api-key", ACME_KEY)
                .header("X-Profile-Id", "web")
                .send()
                .await
                .unwrap()
        })
    };
    // A capture.
    let id = authorized(&app).await;
    let sync = slow_sync(id.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(status, 200, "the capture failed because of a sync: {body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    // A refund, while a sync that read the payment before it is still under way.
    let sync_before_refund = slow_sync(id.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refund = json!({ "payment_id": id, "merchant_reference_id": "during-sync", "amount": 100 });
    let (status, body) = app.post("/v2/refunds", refund).await;
    assert_eq!(status, 200, "the refund failed because of a sync: {body}");
    assert_eq!(sync.await.unwrap().status(), 200);
    assert_eq!(sync_before_refund.await.unwrap().status(), 200);
    assert_eq!(stored_status(&app, &id).await, "succeeded");

    // A cancel.
    shared.lock().unwrap().captured = false;
    let id = authorized(&app).await;
    let sync = slow_sync(id.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = app.post(&format!("/v2/payments/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "the cancel failed because of a sync: {body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    // The sync read `requires_capture` before the cancel acted; that answer does not stand.
    let synced: Value = sync.await.unwrap().json().await.unwrap();
    assert_eq!(synced["status"], "cancelled", "{synced}");
    assert_eq!(stored_status(&app, &id).await, "cancelled");
    app.stop().await;
}
