//! The circuit breaker per connector account, over HTTP: an account whose calls keep failing is
//! opened and passed over by routing (no attempt made on it), its state is shown to routing
//! scripts (`ctx.health(name).circuit`), in `GET /health`, in `/metrics` and in the log; a payment no account
//! with a closed circuit can take is refused with nothing stored. (The half-open probe after the
//! cool-down is covered by the unit tests of `connectors::health`.)

use crate::common;

use common::*;
use serde_json::json;
use tempfile::TempDir;

/// Tells the payment which state `flaky`'s circuit is in, through the decision's reason.
const SCRIPT: &str = r#"
return function(p, ctx)
  local h = ctx.health("flaky")
  return { "flaky", "steady" }, "flaky circuit " .. (h and h.circuit or "unknown")
end
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_account_is_opened_and_passed_over() {
    let dir = TempDir::new().unwrap();
    let config =
        config_routed(dir.path(), vec![down_account("flaky"), sandbox_account("steady")], &[], "circuit", SCRIPT);
    let app = TestApp::start_with(dir, config).await;

    // Ten failures on `flaky`, each payment saved by `steady`.
    for _ in 0..10 {
        let body = pay(&app, payment("4242424242424242")).await;
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(attempts(&body).len(), 2, "{body}");
        assert_eq!(body["attempts"][0]["routing"]["reason"], "flaky circuit closed", "{body}");
    }

    // Open: the script sees it, and routing passes over it without trying.
    let body = pay(&app, payment("4242424242424242")).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["merchant_connector_id"], "steady", "{body}");
    assert_eq!(body["attempts"][0]["routing"]["reason"], "flaky circuit open", "{body}");

    let health: serde_json::Value =
        app.client.get(format!("{}/health", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["connectors"]["acme/web/flaky"]["circuit"], "open", "{health}");
    assert_eq!(health["connectors"]["acme/web/steady"]["circuit"], "closed", "{health}");
    assert_eq!(health["connectors"]["acme/web/flaky"]["success_rate"], 0.0, "{health}");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"switchyard_connector_circuit_state{profile="web",account="flaky"} 2"#), "{metrics}");
    app.stop().await;
}

/// The daemon's log (at `info`, not a terminal) says once, in one line, that `flaky`'s circuit
/// opened: which profile, account and connector, and the state it is now in.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_has_one_line_when_a_circuit_changes() {
    let dir = TempDir::new().unwrap();
    let profile = "[merchants.acme.profiles.web]\nfallback = [\"flaky\", \"steady\"]\n\n\
        [[merchants.acme.profiles.web.connector_accounts]]\nname = \"flaky\"\nconnector = \"sandbox\"\n\
        metadata = { simulate = \"unavailable\" }\n\n\
        [[merchants.acme.profiles.web.connector_accounts]]\nname = \"steady\"\nconnector = \"sandbox\"\n";
    config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), profile);
    let port = common::binary::free_port();
    let daemon = common::binary::start(dir.path(), port, &[]).await;
    let client = reqwest::Client::new();
    for _ in 0..11 {
        let res = client
            .post(format!("http://127.0.0.1:{port}/v2/payments"))
            .header("api-key", ACME_KEY)
            .json(&payment("4242424242424242"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    drop(daemon);
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    let changes: Vec<&str> = log.lines().filter(|l| l.contains("circuit changed")).collect();
    assert_eq!(changes.len(), 1, "{log}");
    for part in [" INFO ", "profile=web", "account=flaky", "connector=sandbox", "circuit=open"] {
        assert!(changes[0].contains(part), "{part} missing: {}", changes[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_circuit_open_a_payment_is_refused_and_nothing_is_stored() {
    let app = start_with_accounts(vec![down_account("only")], &["only"]).await;
    for _ in 0..10 {
        let body = pay(&app, payment("4242424242424242")).await;
        assert_eq!(body["status"], "failed", "{body}");
    }
    let stored = app.count("payment_intents").await;
    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    let message = assert_error(status, &body, 503, "CE_01");
    assert!(message.contains("circuit open"), "{message}");
    assert_eq!(app.count("payment_intents").await, stored);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_still_out_when_the_payments_time_budget_runs_out_leaves_it_processing() {
    use common::mock::{json_answer, MockServer};
    // A Stripe that would say, too late, that it is too busy.
    let late = MockServer::serve(axum::Router::new().fallback(|| async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        json_answer(
            429,
            json!({ "error": { "type": "invalid_request_error", "code": "rate_limit", "message": "busy" } }),
        )
    }))
    .await;
    let dir = TempDir::new().unwrap();
    let busy = common::localstripe::stripe_account("busy", &late.url);
    let mut config = config_with(dir.path(), vec![busy, sandbox_account("next")], &["busy", "next"]);
    config.payments.budget_ms = 400;
    let app = TestApp::start_with(dir, config).await;
    let started = std::time::Instant::now();
    let body = pay(&app, payment("4242424242424242")).await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1400), "the budget did not cut the call short");
    // The request may have reached Stripe: the payment waits for a sync, and no other account
    // may charge it meanwhile.
    assert_eq!(body["status"], "processing", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    let why = body["attempts"][0]["error"]["message"].as_str().unwrap();
    assert!(why.contains("the payment's time budget"), "{why}");
    app.stop().await;
}
