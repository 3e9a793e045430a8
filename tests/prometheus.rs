//! switchyard's `/metrics` scraped by a real Prometheus (Debian's `prometheus`, installed by the
//! test when the machine has none), started on loopback scraping the daemon every second. A known mix of payments is
//! driven through two accounts, and Prometheus's query API must count what was sent; then
//! `promtool check metrics` must accept the exposition.
//!
//! This file's one test runs the only daemon in its test process, so the process-wide counters
//! start at zero: it is a test binary of its own, apart from the suite in `tests/suite`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::prometheus::{tool, Prometheus};
use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

const ROUTING: &str = r#"
-- Lane "b" (from the payment's metadata) goes to sandbox_b, everything else to sandbox_a.
return function(p, ctx)
  if p.metadata and p.metadata.lane == "b" then return { "sandbox_b" }, "lane b" end
  return { "sandbox_a" }, "lane a"
end
"#;

fn payment_in_lane(card: &str, lane: &str) -> Value {
    with(payment(card), json!({ "metadata": { "lane": lane } }))
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_counts_the_payments_that_were_sent() {
    let dir = TempDir::new().unwrap();
    let accounts = vec![sandbox_account("sandbox_a"), sandbox_account("sandbox_b")];
    let config = config_routed(dir.path(), accounts, &[], "lanes", ROUTING);
    let app = TestApp::start_with(dir, config).await;
    let prometheus = Prometheus::scraping(app.base.trim_start_matches("http://")).await;

    let mix = [
        ("a", "4242424242424242", 4),
        ("a", "4000000000000002", 2),
        ("b", "5555555555554444", 3),
        ("b", "4000000000009995", 1),
    ];
    for (lane, card, times) in mix {
        for _ in 0..times {
            let body = pay(&app, payment_in_lane(card, lane)).await;
            assert_eq!(body["connector"], "sandbox", "{body}");
        }
    }

    prometheus
        .until(
            r#"sum by (account) (switchyard_payments_total{status="succeeded", payment_method="card"})"#,
            "account",
            &[("sandbox_a", 4.0), ("sandbox_b", 3.0)],
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
            &[("200", 10.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (connector) (switchyard_routing_decisions_total{profile="web"})"#,
            "connector",
            &[("sandbox_a", 6.0), ("sandbox_b", 4.0)],
        )
        .await;
    prometheus
        .until(
            r#"sum by (outcome) (switchyard_connector_request_duration_seconds_count{flow="authorize"})"#,
            "outcome",
            &[("ok", 10.0)],
        )
        .await;
    prometheus.until("switchyard_build_info", "version", &[(env!("CARGO_PKG_VERSION"), 1.0)]).await;
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
