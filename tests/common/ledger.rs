//! A provider, reached through the `ledger` plugin of `tests/fixtures/plugins`, that takes every
//! charge and refund but loses its answers, so only the reconciler's asking settles them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use serde_json::json;
use switchyard::config::{Config, ConnectorAccountConfig, SecretValue};

use super::mock::{json_answer, MockServer};
use super::sandbox_account;

/// A provider whose calls all go through (charges approved, refunds made) but whose answers to
/// them are lost (HTTP 500); only asking by reference tells what happened. It counts those asks.
#[derive(Default)]
pub struct Lossy {
    pub asked: Mutex<HashMap<String, usize>>,
}

pub type Shared = Arc<Lossy>;

async fn lost() -> axum::response::Response {
    json_answer(500, json!({ "error": "the answer was lost" }))
}

async fn asked(
    State(lossy): State<Shared>,
    UrlPath((kind, reference)): UrlPath<(String, String)>,
) -> axum::response::Response {
    *lossy.asked.lock().unwrap().entry(reference.clone()).or_default() += 1;
    // Slow enough that a second daemon, if it were not kept off by the lease, would ask too.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = if kind == "charges" { "approved" } else { "done" };
    json_answer(200, json!({ "id": format!("{kind}_{reference}"), "reference": reference, "status": status }))
}

pub async fn provider(lossy: Shared) -> MockServer {
    let app = axum::Router::new()
        .route("/charges", post(lost))
        .route("/refunds", post(lost))
        .route("/{kind}/by-reference/{reference}", get(asked))
        .with_state(lossy);
    MockServer::serve(app).await
}

pub fn ledger_account(base_url: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        connector: "ledger".into(),
        base_url: Some(base_url.into()),
        credentials: [("api_key".to_string(), SecretValue::Literal("lk_test".into()))].into(),
        ..sandbox_account("ledger")
    }
}

/// Has the configuration load the ledger plugin, with budgets short enough, and a reconciler quick
/// enough, that a payment or refund left unsettled is looked at after a second, every 20 ms.
pub fn settled_by_the_reconciler(config: &mut Config) {
    config.paths.plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins");
    config.payments.attempt_timeout_ms = 300;
    config.payments.budget_ms = 500;
    // No call may still be under way when the reconciler looks (`Config::longest_call`).
    config.http.request_timeout_ms = 300;
    config.lua.time_budget_ms = 50;
    config.reconciler.after_ms = 1000;
    config.reconciler.every_ms = 20;
}
