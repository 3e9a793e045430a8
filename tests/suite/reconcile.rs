//! The reconciler: payments and refunds left unsettled by an unclear answer are settled by asking
//! the provider, without anyone calling `force_sync`; and two daemons sharing one database ask
//! about each of them once between them.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use common::ledger::{ledger_account, provider, settled_by_the_reconciler, Shared};
use common::mock::{json_answer, MockServer};
use common::*;
use serde_json::json;
use switchyard::config::Config;
use tempfile::TempDir;

/// acme/web paying through the ledger plugin, with short budgets and a reconciler that looks at
/// what has been unsettled for a second, every 20 ms.
fn config(dir: &Path, provider: &str) -> Config {
    let mut config = config_with(dir, vec![ledger_account(provider)], &["ledger"]);
    settled_by_the_reconciler(&mut config);
    config
}

async fn start(provider: &str) -> TestApp {
    let dir = TempDir::new().unwrap();
    let config = config(dir.path(), provider);
    TestApp::start_with(dir, config).await
}

/// Polls `path` until `field` reads `want`, for at most 10 s; the last body read.
async fn settles(app: &TestApp, path: &str, want: &str) -> serde_json::Value {
    let mut body = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, read) = app.get(path).await;
        assert_eq!(status, 200, "{read}");
        body = read;
        if body["status"] == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    body
}

/// A merchant endpoint that keeps the event types it is sent, in order.
async fn merchant(told: Arc<Mutex<Vec<String>>>) -> MockServer {
    let app = axum::Router::new().route(
        "/hooks",
        post(move |axum::Json(event): axum::Json<serde_json::Value>| {
            let told = told.clone();
            async move {
                told.lock().unwrap().push(event["event_type"].as_str().unwrap_or_default().to_string());
                json_answer(200, json!({}))
            }
        }),
    );
    MockServer::serve(app).await
}

#[tokio::test]
async fn a_payment_with_no_clear_answer_is_settled_by_asking_the_provider() {
    let lossy = Shared::default();
    let ledger = provider(lossy.clone()).await;
    let told = Arc::new(Mutex::new(Vec::new()));
    let endpoint = merchant(told.clone()).await;
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path(), &ledger.url);
    send_webhooks(&mut config, &format!("{}/hooks", endpoint.url), "whk_reconcile");
    let app = TestApp::start_with(dir, config).await;
    let answered = pay(&app, payment("4242424242424242")).await;
    assert_eq!(answered["status"], "processing", "{answered}");
    let id = id_of(&answered);

    let body = settles(&app, &format!("/v2/payments/{id}"), "succeeded").await;
    assert_eq!(body["status"], "succeeded", "{body}");
    let attempt = &attempts(&body)[0];
    assert_eq!(attempt["status"], "charged", "{body}");
    assert_eq!(body["connector_transaction_id"], format!("charges_{}", attempt["id"].as_str().unwrap()));
    assert_eq!(lossy.asked.lock().unwrap().get(attempt["id"].as_str().unwrap()), Some(&1));
    // The merchant was told it was processing, then — by the reconciler's doing — that it succeeded.
    for _ in 0..100 {
        if told.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*told.lock().unwrap(), ["payment_processing", "payment_succeeded"]);
}

#[tokio::test]
async fn a_refund_with_no_clear_answer_is_settled_by_asking_the_provider() {
    let lossy = Shared::default();
    let ledger = provider(lossy.clone()).await;
    let app = start(&ledger.url).await;
    let id = id_of(&pay(&app, payment("4242424242424242")).await);
    settles(&app, &format!("/v2/payments/{id}"), "succeeded").await;

    let (status, refund) = app
        .post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "rf-lost-1", "amount": 1000 }))
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "pending", "{refund}");
    let refund_id = id_of(&refund);

    let body = settles(&app, &format!("/v2/refunds/{refund_id}"), "succeeded").await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(lossy.asked.lock().unwrap().get(&refund_id), Some(&1));
}

#[tokio::test]
async fn two_daemons_on_one_database_ask_about_each_payment_once() {
    let lossy = Shared::default();
    let ledger = provider(lossy.clone()).await;
    let first = start(&ledger.url).await;
    let second = first.another().await;

    let mut ids = Vec::new();
    for n in 0..6 {
        let app = if n % 2 == 0 { &first } else { &second };
        ids.push(id_of(&pay(app, payment("4242424242424242")).await));
    }
    for id in &ids {
        let body = settles(&first, &format!("/v2/payments/{id}"), "succeeded").await;
        assert_eq!(body["status"], "succeeded", "{body}");
    }
    let asked = lossy.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), ids.len(), "{asked:?}");
    assert!(asked.values().all(|n| *n == 1), "a payment was asked about more than once: {asked:?}");
}
