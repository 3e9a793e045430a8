//! Connector accounts' health shared through Redis by several daemons on one database: a
//! provider that is down opens every daemon's circuit after the configured number of failures in
//! total, routing scripts on every daemon see the same health, and the shared rules are the
//! local ones (the same outcomes move both alike).

use crate::common;

use std::time::{Duration, Instant};

use common::redis::Redis;
use common::*;
use serde_json::{json, Value};
use switchyard::config::Config;
use switchyard::connectors::health::{Circuit, Health, SharedWindow};
use switchyard::shared::Shared;
use tempfile::TempDir;

/// Tries `dead`, then `steady`, and tells the payment which state `dead`'s circuit is in.
const SCRIPT: &str = r#"
return function(p, ctx)
  local h = ctx.health("dead")
  return { "dead", "steady" }, "dead circuit " .. (h and h.circuit or "unknown")
end
"#;

fn routed(dir: &TempDir, redis: &Redis) -> Config {
    let mut config =
        config_routed(dir.path(), vec![down_account("dead"), sandbox_account("steady")], &[], "dead", SCRIPT);
    config.shared = redis.shared();
    config
}

/// The connector health `/health` shows for `account` of acme/web.
async fn health_of(app: &TestApp, account: &str) -> Value {
    let (status, body) = app.get("/health").await;
    assert_eq!(status, 200, "{body}");
    body["connectors"][format!("acme/web/{account}")].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_provider_opens_every_daemons_circuit_after_the_failures_in_total() {
    let redis = Redis::start().await;
    let dir = TempDir::new().unwrap();
    let config = routed(&dir, &redis);
    let a = TestApp::start_with(dir, config).await;
    let (b, c) = (a.another().await, a.another().await);
    let daemons = [&a, &b, &c];
    // Thirty payments, one daemon after another: each is saved by `steady`, and `dead` is tried
    // only until ten calls to it have failed, whichever daemons made them.
    let mut tried_dead = 0;
    let mut last = Vec::new();
    for i in 0..30 {
        let body = pay(daemons[i % 3], payment("4242424242424242")).await;
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(body["merchant_connector_id"], "steady", "{body}");
        tried_dead += attempts(&body).len() - 1;
        last.push(body);
    }
    assert_eq!(tried_dead, 10, "calls made to the dead provider by three daemons together");
    // Every daemon's circuit is open, and its routing script sees it so.
    for body in &last[27..] {
        assert_eq!(attempts(body).len(), 1, "{body}");
        assert_eq!(body["attempts"][0]["routing"]["reason"], "dead circuit open", "{body}");
    }
    // Every daemon shows the one shared window: ten calls, none of them good.
    let deadline = Instant::now() + Duration::from_secs(5);
    for daemon in daemons {
        loop {
            let health = health_of(daemon, "dead").await;
            if health["calls"] == 10 {
                assert_eq!((&health["circuit"], &health["success_rate"]), (&json!("open"), &json!(0.0)), "{health}");
                break;
            }
            assert!(Instant::now() < deadline, "a daemon does not show the shared window: {health}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for daemon in [a, b, c] {
        daemon.stop().await;
    }
}

/// The same outcomes, recorded into a local health and a shared one, move both circuits alike.
#[tokio::test(flavor = "multi_thread")]
async fn the_shared_circuit_follows_the_local_rules() {
    let redis = Redis::start().await;
    let shared = Shared::new(&redis.shared()).unwrap().expect("a shared state");
    let window = |id: &str| Some(SharedWindow::new(shared.clone(), id));
    let (here, there) = (Health::new(None), Health::new(window("acme/web/failing/sandbox")));
    let fast = Duration::from_millis(5);
    // Failures among enough successes do not open either.
    for ok in [true; 20].into_iter().chain([false; 10]) {
        assert_eq!(here.record(ok, fast).await, there.record(ok, fast).await);
    }
    assert_eq!(circuits(&here, &there), (Circuit::Closed, Circuit::Closed));
    // Ten more failures tip the rate below half: both open, on the same call.
    for i in 0..11 {
        let changed = (here.record(false, fast).await, there.record(false, fast).await);
        assert_eq!(changed.0, changed.1, "call {i}");
    }
    assert_eq!(circuits(&here, &there), (Circuit::Open, Circuit::Open));
    assert_eq!((here.allow().await.0, there.allow().await.0), (false, false), "an open circuit takes no call");
    let (h, t) = (here.snapshot(), there.snapshot());
    assert_eq!((h.calls, h.success_rate), (t.calls, t.success_rate));

    // Half of the calls slower than the limit opens a circuit too.
    let (here, there) = (Health::new(None), Health::new(window("acme/web/slow/sandbox")));
    let slow = Duration::from_millis(5_001);
    for _ in 0..10 {
        assert_eq!(here.record(true, slow).await, there.record(true, slow).await);
    }
    assert_eq!(circuits(&here, &there), (Circuit::Open, Circuit::Open));

    // Past its cool-down (as Redis is told), the shared circuit lets one probe through, for every
    // daemon together; the probe's success closes it with a fresh window.
    let other = Health::new(window("acme/web/slow/sandbox"));
    let mut connection = redis.connection().await.unwrap();
    let _: () = ::redis::cmd("HSET")
        .arg("switchyard:health:acme/web/slow/sandbox")
        .arg("since")
        .arg(0)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(there.allow().await, (true, Some(Circuit::HalfOpen)), "one probe");
    assert!(!other.allow().await.0, "and only one, whichever daemon asks");
    assert_eq!(there.record(true, Duration::from_millis(5)).await, Some(Circuit::Closed));
    assert_eq!(other.refresh().await.unwrap_or(other.snapshot().circuit), Circuit::Closed);
    assert_eq!(other.snapshot().calls, 0, "the failures that opened it are forgotten");
}

fn circuits(here: &Health, there: &Health) -> (Circuit, Circuit) {
    (here.snapshot().circuit, there.snapshot().circuit)
}
