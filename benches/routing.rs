//! How long a routing decision takes: the default script (`routing/default.lua`) deciding for a
//! card payment, the conversion of the payment view into Lua included, on one warm worker state.
//! Run with `cargo bench --bench routing`; it prints the median and the 99th percentile.
//! `ROUNDS=2000` makes a run short enough to profile under callgrind; `ROUTING_DIR` and `SCRIPT`
//! measure another script.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use switchyard::config::ConnectorAccountConfig;
use switchyard::connectors::Account;
use switchyard::domain::decision::{CardView, RoutingView};
use switchyard::lua::Budget;
use switchyard::merchants::Profile;
use switchyard::routing::scripts::{load_dir, ScriptSet};
use switchyard::routing::Decider;

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let limits = Budget { time_budget: std::time::Duration::from_millis(5), memory_bytes: 16 << 20 };
    let dir = std::env::var("ROUTING_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/routing").into());
    let script = std::env::var("SCRIPT").unwrap_or_else(|_| "default".into());
    let router = Decider::new(limits);
    let (scripts, _) = load_dir(std::path::Path::new(&dir), limits, &ScriptSet::default());
    let account = |name: &str| {
        Account::from_config(
            "web",
            &ConnectorAccountConfig {
                name: name.into(),
                connector: "sandbox".into(),
                enabled: true,
                base_url: None,
                credentials: Default::default(),
                metadata: Default::default(),
                rate_limit: None,
            },
        )
    };
    let profile = Arc::new(Profile {
        serial: u64::MAX,
        id: "pro_bench".into(),
        merchant_id: "bench".into(),
        accounts: vec![account("sandbox"), account("backup")],
        fallback: vec![],
        routing: Some(script.as_str().into()),
        reject_expired_cards: true,
        session_expiry_secs: 900,
        webhook: None,
        decisions: Default::default(),
        outcomes: Default::default(),
    });
    let view = RoutingView {
        id: "sy_pay_01926c58bc6e77c09e809964e72af8c8".into(),
        amount: 6540,
        currency: "USD".into(),
        payment_method_type: "card".into(),
        payment_method_subtype: Some("credit".into()),
        card: Some(CardView { network: Some("Visa".into()), bin: Some("424242".into()), issuing_country: None }),
        billing_country: Some("US".into()),
        customer_id: None,
        profile_id: "pro_bench".into(),
        metadata: None,
        attempt: 1,
    };
    let now = Utc::now();
    let first = router.decide(&scripts, &profile, view.clone(), now);
    assert_eq!(first.fallback, None, "the script must decide: {:?}", first.fallback);
    for _ in 0..10_000 {
        router.decide(&scripts, &profile, view.clone(), now);
    }
    let mut took = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let view = view.clone();
        let started = Instant::now();
        let decision = router.decide(&scripts, &profile, view, now);
        took.push(started.elapsed());
        std::hint::black_box(decision);
    }
    took.sort_unstable();
    let at = |q: f64| took[((rounds as f64 * q) as usize).min(rounds - 1)];
    println!("routing decision, script `{script}`, {rounds} rounds on one worker:");
    println!("  median {:.2} µs   p99 {:.2} µs   max {:.2} µs", micros(at(0.5)), micros(at(0.99)), micros(at(1.0)));
}

fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
