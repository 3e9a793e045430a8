//! switchyard's `/metrics` scraped by a real Prometheus (Debian's `prometheus`, installed by the
//! test when the machine has none), started on loopback scraping the daemon every second. A known mix of payments is
//! driven through two accounts, and Prometheus's query API must count what was sent; then
//! `promtool check metrics` must accept the exposition.
//!
//! This file's one test runs the only daemon in its test process, so the process-wide counters
//! start at zero: it is a test binary of its own, apart from the suite in `tests/suite`.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::prometheus::tool;
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

struct Prometheus {
    url: String,
    child: Child,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// A Prometheus on loopback scraping `target` (`host:port`) every second.
    async fn scraping(target: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: switchyard\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Self { url: format!("http://127.0.0.1:{port}"), child, _dir: dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client.get(format!("{}/-/ready", prometheus.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus was not ready in 30 s");
    }

    /// The instant vector `query` evaluates to, as (labels, value) pairs.
    async fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let res: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        assert_eq!(res["status"], "success", "{res}");
        res["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect()
    }

    /// Waits for `query` to evaluate to `want` ((label value, value) pairs, by `label`).
    async fn until(&self, query: &str, label: &str, want: &[(&str, f64)]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            got = self
                .query(query)
                .await
                .into_iter()
                .map(|(m, v)| (m[label].as_str().unwrap_or("").to_string(), v))
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            if got.iter().map(|(l, v)| (l.as_str(), *v)).eq(want.iter().copied()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{query}: wanted {want:?}, Prometheus has {got:?}");
    }
}

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

    // Every query of the Grafana dashboard evaluates; those about payments see them.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/grafana/switchyard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr").replace("$__rate_interval", "1m");
            let about_payments = expr.contains("switchyard_payments_total") || expr.contains("connector_request");
            // A rate needs two scrapes of a series: wait for them where there must be data.
            let deadline = Instant::now() + Duration::from_secs(15);
            while prometheus.query(&expr).await.is_empty() && about_payments {
                assert!(Instant::now() < deadline, "{}: `{expr}` stays empty", panel["title"]);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

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
