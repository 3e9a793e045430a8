//! The shipped Grafana dashboard (`examples/grafana/switchyard.json`) against a real Prometheus
//! scraping the daemon: after traffic with declines, a refund, a failover to a second account, a routing
//! script error, a payment left `processing` for the reconciler, webhooks, requests refused by a tiny API limit and a reload, every panel query —
//! its variables substituted as Grafana would with "All" chosen — must be valid and return data.
//! An empty panel is one an operator would stare at in vain.
//!
//! The daemon here is the only one in its test process, so the process-wide counters hold this
//! traffic alone: it is a test binary of its own, apart from the suite in `tests/suite`.

mod common;

use std::time::{Duration, Instant};

use axum::routing::post;
use common::ledger::{ledger_account, provider, settled_by_the_reconciler, Shared};
use common::mock::{json_answer, MockServer};
use common::prometheus::Prometheus;
use common::*;
use serde_json::{json, Value};
use switchyard::config::RateConfig;
use tempfile::TempDir;

const ROUTING: &str = r#"
-- Lane "dead" tries the account that is down first; lane "boom" makes the script fail, so the
-- fallback list serves; lane "ledger" pays through a provider whose answers are lost; everything
-- else goes to sandbox_a.
return function(p, ctx)
  local lane = p.metadata and p.metadata.lane
  if lane == "boom" then error("no route for lane boom") end
  if lane == "ledger" then return { "ledger" }, "lane ledger" end
  if lane == "dead" then return { "dead", "sandbox_b" }, "dead first" end
  return { "sandbox_a" }, "lane a"
end
"#;

fn dashboard() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/grafana/switchyard.json"))
        .expect("the dashboard is shipped");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel target's query as Grafana sends it with "All" chosen for each variable, by panel title.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating variables")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| v["name"].as_str().expect("a variable's name"))
        .collect();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let mut expr = target["expr"].as_str().expect("an expr").to_string();
            for variable in &variables {
                expr = expr.replace(&format!("${{{variable}}}"), ".*").replace(&format!("${variable}"), ".*");
            }
            expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s");
            queries.push((panel["title"].as_str().unwrap_or_default().to_string(), expr));
        }
    }
    queries
}

#[test]
fn the_dashboard_filters_by_data_source_instance_and_profile() {
    let dashboard = dashboard();
    let variables: Vec<(&str, &str)> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating variables")
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["type"].as_str().unwrap()))
        .collect();
    assert_eq!(variables, [("datasource", "datasource"), ("instance", "query"), ("profile", "query")]);
    let required: Vec<(&str, &str)> = dashboard["__requires"]
        .as_array()
        .expect("a __requires block")
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    assert!(required.contains(&("grafana", "grafana")), "{required:?}");
    assert!(required.contains(&("datasource", "prometheus")), "{required:?}");
    let source = json!({ "type": "prometheus", "uid": "${datasource}" });
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = &panel["title"];
        assert!(required.contains(&("panel", panel["type"].as_str().unwrap())), "{title}: type not required");
        assert_eq!(panel["datasource"], source, "{title}");
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"], source, "{title}");
            let expr = target["expr"].as_str().unwrap();
            assert!(expr.contains(r#"instance=~"$instance""#), "{title}: `{expr}` ignores the instance chosen");
        }
    }
}

fn in_lane(card: &str, lane: &str) -> Value {
    with(payment(card), json!({ "metadata": { "lane": lane } }))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_shows_data_after_traffic() {
    let hooks =
        MockServer::serve(axum::Router::new().route("/hooks", post(|| async { json_answer(200, json!({})) }))).await;
    let dir = TempDir::new().unwrap();
    let mut dead = sandbox_account("dead");
    dead.metadata.insert("simulate".into(), json!("unavailable"));
    // The reconciler settles a payment whose answer was lost.
    let ledger = provider(Shared::default()).await;
    let accounts = vec![sandbox_account("sandbox_a"), sandbox_account("sandbox_b"), dead, ledger_account(&ledger.url)];
    let mut config = config_routed(dir.path(), accounts, &["sandbox_a"], "dashboard", ROUTING);
    settled_by_the_reconciler(&mut config);
    send_webhooks(&mut config, &format!("{}/hooks", hooks.url), "whk_dashboard");
    // Room for the traffic below, then 429s.
    config.limits.per_key = Some(RateConfig { per_second: 1, burst: 20 });
    let script = config.paths.routing.join("dashboard.lua");
    let app = TestApp::start_with(dir, config).await;
    let prometheus = Prometheus::scraping(app.base.trim_start_matches("http://")).await;

    let traffic = [
        ("a", "4242424242424242", "succeeded"),
        ("a", "4242424242424242", "succeeded"),
        ("a", "4000000000000002", "failed"),
        ("a", "4000000000009995", "failed"),
        ("dead", "4242424242424242", "succeeded"),
        ("dead", "4242424242424242", "succeeded"),
        ("boom", "4242424242424242", "succeeded"),
        ("ledger", "4242424242424242", "processing"),
    ];
    let mut paid = Vec::new();
    for (lane, card, status) in traffic {
        let body = pay(&app, in_lane(card, lane)).await;
        assert_eq!(body["status"], status, "{body}");
        paid.push(body);
    }
    let refund = json!({ "payment_id": id_of(&paid[0]), "merchant_reference_id": "dashboard_refund", "amount": 100 });
    let (status, body) = app.post("/v2/refunds", refund).await;
    assert_eq!(status, 200, "{body}");

    std::fs::write(&script, format!("{ROUTING}-- reloaded\n")).unwrap();
    app.reload().await;

    let mut limited = false;
    for _ in 0..50 {
        let (status, _) = app.post("/v2/payments", in_lane("4242424242424242", "a")).await;
        if status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the API limit never answered 429");

    // A rate needs two scrapes of a series: wait for them, then list every offender at once.
    let queries = queries(&dashboard());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut invalid = Vec::new();
        let mut empty = Vec::new();
        for (title, expr) in &queries {
            match prometheus.try_query(expr).await {
                Err(e) => invalid.push(format!("{title}: `{expr}`: {e}")),
                Ok(result) if result.is_empty() => empty.push(format!("{title}: `{expr}`")),
                Ok(_) => {}
            }
        }
        assert!(invalid.is_empty(), "invalid dashboard queries:\n{}", invalid.join("\n"));
        if empty.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "dashboard queries without data:\n{}", empty.join("\n"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.stop().await;
}
