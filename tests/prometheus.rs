//! switchyard's `/metrics` scraped by a real Prometheus (Debian's `prometheus`, installed by the
//! test when the machine has none), started on loopback scraping the daemon every second. A
//! known mix of payments is driven through four accounts (one down, one with a tiny quota), with
//! a refund, a failing webhook endpoint, a reload, records left unsettled for the reconciler
//! and a shared state in Redis that goes away; Prometheus's query API must count what was sent;
//! then `promtool check metrics` must accept the exposition.
//!
//! This file's one test runs the only daemon in its test process, so the process-wide counters
//! start at zero: it is a test binary of its own, apart from the suite in `tests/suite`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use common::prometheus::{tool, Prometheus};
use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

const ROUTING: &str = r#"
-- Lane "b" (from the payment's metadata) goes to sandbox_b; lane "c" tries the account that is
-- down, then sandbox_a; lane "q" tries the account with a quota of one payment, then sandbox_b;
-- lane "none" names only the account that is down; lane "error" fails (the fallback list,
-- sandbox_b, serves); everything else goes to sandbox_a.
return function(p, ctx)
  local lane = p.metadata and p.metadata.lane
  if lane == "b" then return { "sandbox_b" }, "lane b" end
  if lane == "c" then return { "sandbox_down", "sandbox_a" }, "lane c" end
  if lane == "q" then return { "sandbox_q", "sandbox_b" }, "lane q" end
  if lane == "none" then return { "sandbox_down" }, "lane none" end
  if lane == "error" then error("no lane") end
  return { "sandbox_a" }, "lane a"
end
"#;

fn payment_in_lane(card: &str, lane: &str) -> Value {
    with(payment(card), json!({ "metadata": { "lane": lane } }))
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_counts_the_payments_that_were_sent() {
    let dir = TempDir::new().unwrap();
    let mut down = sandbox_account("sandbox_down");
    down.metadata.insert("simulate".into(), json!("unavailable"));
    let mut quota = sandbox_account("sandbox_q");
    quota.rate_limit = Some(switchyard::config::RateConfig { per_second: 1, burst: 1 });
    let accounts = vec![sandbox_account("sandbox_a"), sandbox_account("sandbox_b"), down, quota];
    let mut config = config_routed(dir.path(), accounts, &["sandbox_b"], "lanes", ROUTING);
    // Limits and circuits shared through a Redis, as several daemons would run.
    let mut redis = common::redis::Redis::start().await;
    config.shared = redis.shared();
    // The merchant's endpoint fails every event until the test mends it.
    let mended = Arc::new(AtomicBool::new(false));
    let mend = mended.clone();
    let hooks = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let ok = mend.load(Ordering::SeqCst);
            std::future::ready(if ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR })
        }),
    );
    let endpoint = common::mock::MockServer::serve(hooks).await;
    send_webhooks(&mut config, &format!("{}/hooks", endpoint.url), "whsec_prometheus_test");
    config.outgoing_webhooks.every_ms = 50;
    config.outgoing_webhooks.retry_base_ms = 50;
    // Retried often enough to be delivered soon after the endpoint is mended, and never given up.
    config.outgoing_webhooks.retry_max_ms = 200;
    config.outgoing_webhooks.max_attempts = u32::MAX;
    // The reconciler measures often, takes on one record a round, and finds nothing due for an
    // hour but what the test makes due.
    config.reconciler.every_ms = 100;
    config.reconciler.after_ms = 3_600_000;
    config.reconciler.batch = 1;
    let routing = config.paths.routing.join("lanes.lua");
    let app = TestApp::start_with(dir, config).await;
    let prometheus = Prometheus::scraping(app.base.trim_start_matches("http://")).await;

    // Lane c: the first ten calls to sandbox_down fail over to sandbox_a and open its circuit;
    // the last two payments skip it unasked.
    let mix = [
        ("a", "4242424242424242", 4),
        ("a", "4000000000000002", 2),
        ("b", "5555555555554444", 3),
        ("b", "4000000000009995", 1),
        ("c", "4242424242424242", 12),
        ("error", "4242424242424242", 1),
    ];
    let mut paid = Vec::new();
    for (lane, card, times) in mix {
        for _ in 0..times {
            let body = pay(&app, payment_in_lane(card, lane)).await;
            assert_eq!(body["connector"], "sandbox", "{body}");
            paid.push(body);
        }
    }
    let (status, refund) = app
        .post("/v2/refunds", json!({ "payment_id": id_of(&paid[0]), "merchant_reference_id": "r1", "amount": 100 }))
        .await;
    assert_eq!(status, 200, "{refund}");
    // An edited script makes a new configuration version.
    std::fs::write(&routing, format!("{ROUTING}\n-- edited\n")).unwrap();
    assert!(matches!(app.reload().await, switchyard::app::reload::Outcome::Applied));

    prometheus
        .until(
            r#"sum by (account) (switchyard_payments_total{status="succeeded", payment_method="card"})"#,
            "account",
            &[("sandbox_a", 16.0), ("sandbox_b", 4.0)],
        )
        .await;
    // Accounts are told apart by profile: every per-account series carries it.
    prometheus
        .until(r#"sum by (profile) (switchyard_payments_total{account="sandbox_a"})"#, "profile", &[("web", 18.0)])
        .await;
    prometheus
        .until(
            r#"sum by (profile) (switchyard_connector_requests_total{account="sandbox_down"})"#,
            "profile",
            &[("web", 10.0)],
        )
        .await;
    prometheus.until(r#"switchyard_connector_circuit_state{account="sandbox_down"}"#, "profile", &[("web", 2.0)]).await;
    // Declines by cause, from the sandbox's codes; anything else has none.
    prometheus
        .until(
            r#"sum by (decline_code) (switchyard_payments_total{status="failed"})"#,
            "decline_code",
            &[("card_declined", 2.0), ("insufficient_funds", 1.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (decline_code) (switchyard_payments_total{status!="failed"})"#,
            "decline_code",
            &[("none", 20.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (account) (switchyard_refunds_total{profile="web", connector="sandbox", status="succeeded"})"#,
            "account",
            &[("sandbox_a", 1.0)],
        )
        .await;
    // Every account passed over is counted, by cause: the calls that failed, and the skips once
    // the circuit was open.
    prometheus
        .until(
            r#"sum by (cause) (switchyard_failovers_total{profile="web", account="sandbox_down"})"#,
            "cause",
            &[("circuit_open", 2.0), ("unavailable", 10.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (reason) (switchyard_routing_outcomes_total{profile="web"})"#,
            "reason",
            &[("fallback", 1.0), ("script", 22.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (account) (switchyard_payments_total{status="failed"})"#,
            "account",
            &[("sandbox_a", 2.0), ("sandbox_b", 1.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (status) (switchyard_http_requests_total{route="/v2/payments", method="POST"})"#,
            "status",
            &[("200", 23.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (account) (switchyard_routing_decisions_total{profile="web"})"#,
            "account",
            &[("sandbox_a", 6.0), ("sandbox_b", 5.0), ("sandbox_down", 12.0), ("sandbox_q", 0.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (outcome) (switchyard_connector_request_duration_seconds_count{flow="authorize"})"#,
            "outcome",
            &[("ok", 23.0), ("unavailable", 10.0)],
        )
        .await;
    // Lane q: the first payment takes sandbox_q's one call a second, the next skips it for
    // sandbox_b. Lane none leaves no account to try, sandbox_down's circuit being open: the
    // payment is refused.
    for _ in 0..2 {
        let body = pay(&app, payment_in_lane("4242424242424242", "q")).await;
        assert_eq!(body["status"], "succeeded", "{body}");
        paid.push(body);
    }
    let (status, body) = app.post("/v2/payments", payment_in_lane("4242424242424242", "none")).await;
    assert_error(status, &body, 503, "CE_01");
    prometheus
        .until(
            r#"sum by (cause) (switchyard_failovers_total{profile="web", account="sandbox_q"})"#,
            "cause",
            &[("quota_exhausted", 1.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (reason) (switchyard_routing_outcomes_total{profile="web"})"#,
            "reason",
            &[("fallback", 1.0), ("no_account", 1.0), ("script", 24.0)],
        )
        .await;
    // A payment left `processing` two minutes ago, as a crash leaves one: the reconciler's round
    // counts it, and how long it has stood.
    let mut db = common::database::connect(app.database_url()).await;
    let stuck = sqlx::query(
        "UPDATE payment_intents SET status = 'processing', modified_at = modified_at - 120000 WHERE id = $1",
    )
    .bind(id_of(&paid[4]))
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(stuck.rows_affected(), 1);
    prometheus.until(r#"switchyard_payments_processing{profile="web"}"#, "profile", &[("web", 1.0)]).await;
    prometheus
        .until(
            r#"switchyard_payments_processing_oldest_seconds{profile="web"} >= bool 120"#,
            "profile",
            &[("web", 1.0)],
        )
        .await;
    prometheus.until("switchyard_reconciler_backlog", "profile", &[("", 0.0)]).await;
    // The refund left `pending` two minutes ago, as a provider that has not answered leaves one.
    let pending =
        sqlx::query("UPDATE refunds SET status = 'pending', modified_at = modified_at - 120000 WHERE id = $1")
            .bind(id_of(&refund))
            .execute(&mut db)
            .await
            .unwrap();
    assert_eq!(pending.rows_affected(), 1);
    prometheus.until(r#"switchyard_refunds_pending{profile="web"}"#, "profile", &[("web", 1.0)]).await;
    prometheus
        .until(r#"switchyard_refunds_pending_oldest_seconds{profile="web"} >= bool 120"#, "profile", &[("web", 1.0)])
        .await;
    // Every payment made due for a check, unchanged for longer than `after_ms`: the reconciler
    // takes on one a round (`batch = 1`), so a backlog stands for rounds, and each check counts
    // by its result (the sandbox cannot be asked, so each stays `unsettled`).
    let due = sqlx::query("UPDATE payment_intents SET status = 'processing', modified_at = modified_at - 7200000")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(due.rows_affected(), paid.len() as u64);
    prometheus.until("clamp_max(max_over_time(switchyard_reconciler_backlog[5m]), 1)", "profile", &[("", 1.0)]).await;
    prometheus
        .until(
            r#"sum by (outcome) (switchyard_reconciler_checks_total{kind="payment"})"#,
            "outcome",
            &[("unsettled", paid.len() as f64)],
        )
        .await;
    prometheus.until("switchyard_reconciler_backlog", "profile", &[("", 0.0)]).await;

    // Webhooks: while the endpoint fails, a backlog and failed tries by their cause; once it is
    // mended, no backlog and the delivery lag of those delivered.
    prometheus.until("clamp_max(switchyard_webhook_events_pending, 1)", "cause", &[("", 1.0)]).await;
    prometheus
        .until(
            r#"clamp_max(sum by (cause) (switchyard_webhook_deliveries_total{outcome="retrying"}), 1)"#,
            "cause",
            &[("status_5xx", 1.0)],
        )
        .await;
    mended.store(true, Ordering::SeqCst);
    prometheus.until("switchyard_webhook_events_pending", "cause", &[("", 0.0)]).await;
    prometheus.until("clamp_max(switchyard_webhook_delivery_lag_seconds_count, 1)", "cause", &[("", 1.0)]).await;
    // The lag's buckets reach past the retries' waits, up to a day.
    prometheus
        .until(r#"count(switchyard_webhook_delivery_lag_seconds_bucket{le="86400"})"#, "cause", &[("", 1.0)])
        .await;
    // The versions serving: the edited script and the configuration it made, each 1, beside
    // the ones they replaced, each 0.
    prometheus
        .until(
            r#"count_values("serving", switchyard_script_info{profile="web", script="lanes"})"#,
            "serving",
            &[("0", 1.0), ("1", 1.0)],
        )
        .await;
    prometheus.until(r#"count_values("serving", switchyard_config_info)"#, "serving", &[("0", 1.0), ("1", 1.0)]).await;
    prometheus.until(r#"count_values("serving", switchyard_plugin_info)"#, "serving", &[("1", 2.0)]).await;
    prometheus.until("switchyard_build_info", "version", &[(env!("CARGO_PKG_VERSION"), 1.0)]).await;
    // The shared state: up, and asked by the limits and the circuits; then gone, and the daemon
    // alone, still taking payments.
    prometheus.until("switchyard_shared_state_up", "part", &[("", 1.0)]).await;
    prometheus
        .until(
            r#"clamp_max(sum by (part) (switchyard_shared_state_calls_total{outcome="ok"}), 1)"#,
            "part",
            &[("health", 1.0), ("limits", 1.0)],
        )
        .await;
    redis.kill();
    assert_eq!(pay(&app, payment_in_lane("4242424242424242", "a")).await["status"], "succeeded");
    prometheus.until("switchyard_shared_state_up", "part", &[("", 0.0)]).await;
    prometheus
        .until(
            r#"clamp_max(sum(switchyard_shared_state_calls_total{outcome=~"error|timeout"}), 1)"#,
            "part",
            &[("", 1.0)],
        )
        .await;
    // Prometheus's own connection is open while it scrapes.
    prometheus.until("switchyard_http_connections >= 1", "listener", &[("api", 1.0)]).await;

    // promtool accepts the exposition, which holds no card data.
    app.post("/v2/payments", json!({})).await;
    let res = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    let exposition = res.text().await.unwrap();
    assert!(exposition.contains("switchyard_http_request_duration_seconds_bucket"), "{exposition}");
    assert!(!exposition.contains("4242424242424242"), "card data in metrics");
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}
