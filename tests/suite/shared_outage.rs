//! Three daemons sharing a Redis, which stalls, dies mid-run and comes back: every request is
//! still answered (no 5xx from the outage), every payment answered is on record as answered,
//! each daemon goes by its own circuits while Redis is away, and takes the shared state back
//! once Redis answers again. (What limits and security codes do meanwhile is shown in
//! `shared_limits` and `shared_codes`; the `switchyard_shared_state_*` metrics, process-wide,
//! in the Prometheus test, a process of its own.)

use crate::common;

use std::time::{Duration, Instant};

use common::redis::Redis;
use common::*;
use serde_json::{json, Value};
use switchyard::config::RateConfig;
use tempfile::TempDir;

/// Tries `dead` (a provider that is down), then `steady`.
const SCRIPT: &str = r#"return function(p, ctx) return { "dead", "steady" }, "dead first" end"#;

/// `rounds` payments, one daemon after another; each must succeed. Gives them, and how many
/// tried the dead provider first.
async fn pay_round(daemons: &[&TestApp], rounds: usize) -> (Vec<Value>, usize) {
    let mut paid = Vec::new();
    let mut tried_dead = 0;
    for i in 0..rounds {
        let (status, body) = daemons[i % daemons.len()].post("/v2/payments", payment("4242424242424242")).await;
        assert_eq!((status.as_u16(), &body["status"]), (200, &json!("succeeded")), "{body}");
        tried_dead += attempts(&body).len() - 1;
        paid.push(body);
    }
    (paid, tried_dead)
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stalling_dying_and_coming_back_loses_nothing() {
    let mut redis = Redis::start().await;
    let dir = TempDir::new().unwrap();
    let mut config =
        config_routed(dir.path(), vec![down_account("dead"), sandbox_account("steady")], &[], "dead", SCRIPT);
    config.shared = redis.shared();
    config.limits.per_key = Some(RateConfig { per_second: 1000, burst: 1000 });
    let a = TestApp::start_with(dir, config).await;
    let (b, c) = (a.another().await, a.another().await);
    let daemons = [&a, &b, &c];

    // Shared: the dead provider's circuit opens after ten failures in all.
    let (mut paid, tried_dead) = pay_round(&daemons, 15).await;
    assert_eq!(tried_dead, 10);

    // Stalled: a payment does not wait for Redis, and goes by this daemon's own state.
    redis.stall(5).await;
    let asked = Instant::now();
    let (more, _) = pay_round(&daemons, 1).await;
    assert!(asked.elapsed() < Duration::from_secs(3), "a payment waited {:?} for a stalled Redis", asked.elapsed());
    paid.extend(more);

    // Gone: each daemon judges the dead provider by its own calls, so it is tried again until each
    // daemon's own window has seen ten failures; every payment is still taken.
    redis.kill();
    let (more, tried_dead) = pay_round(&daemons, 45).await;
    assert!(tried_dead > 0, "no daemon went back to its own circuit");
    assert!(tried_dead <= 30, "a daemon tried the dead provider past its own circuit: {tried_dead}");
    paid.extend(more);
    let refund = json!({ "payment_id": id_of(&paid[0]), "merchant_reference_id": "outage", "amount": 100 });
    let (status, body) = b.post("/v2/refunds", refund).await;
    assert_eq!((status.as_u16(), &body["status"]), (200, &json!("succeeded")), "{body}");

    // Back: the shared state is taken up again once Redis answers (a fresh, empty one, whose
    // circuit is closed: the dead provider is tried again, and opened after ten more failures
    // in all).
    redis.restart().await;
    // A daemon takes it back with its first call Redis answers: once all three have connected
    // again, each does within a refresh of its shared health (every 0.5 s), however busy the
    // machine is.
    let restarted = Instant::now();
    while redis.clients().await < daemons.len() {
        assert!(restarted.elapsed() < Duration::from_secs(30), "the daemons did not connect to Redis again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (more, tried_dead) = pay_round(&daemons, 15).await;
    assert_eq!(tried_dead, 10);
    paid.extend(more);

    // Nothing lost: every payment answered is on record, as answered, on another daemon.
    for (i, body) in paid.iter().enumerate() {
        let (status, stored) = daemons[(i + 1) % 3].get(&format!("/v2/payments/{}", id_of(body))).await;
        assert_eq!((status.as_u16(), &stored["status"]), (200, &body["status"]), "{stored}");
    }
    for daemon in [a, b, c] {
        daemon.stop().await;
    }
}
