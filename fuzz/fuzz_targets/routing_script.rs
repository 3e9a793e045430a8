//! The Rust↔Lua boundary of routing: any payment view, with any accounts and health, handed to
//! every shipped routing script and to one that answers hostile values (`lua/hostile_routing.lua`).
//! Each call ends in an error or a choice the payment can be routed by (enabled accounts, each
//! once, a bounded reason); never a panic.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use switchyard::connectors::health::{Circuit, HealthSnapshot};
use switchyard::domain::decision::{CardView, RoutingView};
use switchyard::routing::engine::{Accounts, Engine};
use switchyard::routing::scripts::{load_script, Script};
use switchyard_fuzz::{here, lua_limits, repo, JsonObject};

/// Account names the shipped scripts route to; the input adds its own.
const ACCOUNTS: [&str; 5] = ["sandbox", "stripe", "adyen", "fintecture", "backup"];

#[derive(Debug, Arbitrary)]
struct Input {
    script: usize,
    view: View,
    accounts: Vec<(String, Health)>,
    now: f64,
}

#[derive(Debug, Arbitrary)]
struct View {
    id: String,
    amount: i64,
    currency: String,
    payment_method_type: String,
    payment_method_subtype: Option<String>,
    card: Option<(Option<String>, Option<String>, Option<String>)>,
    billing_country: Option<String>,
    customer_id: Option<String>,
    profile_id: String,
    metadata: Option<JsonObject>,
    attempt: u32,
}

#[derive(Debug, Arbitrary)]
struct Health {
    calls: usize,
    success_rate: f64,
    p95_ms: u32,
    circuit: u8,
}

impl From<View> for RoutingView {
    fn from(v: View) -> Self {
        RoutingView {
            id: v.id,
            amount: v.amount,
            currency: v.currency,
            payment_method_type: v.payment_method_type,
            payment_method_subtype: v.payment_method_subtype,
            card: v.card.map(|(network, bin, issuing_country)| CardView { network, bin, issuing_country }),
            billing_country: v.billing_country,
            customer_id: v.customer_id,
            profile_id: v.profile_id,
            metadata: v.metadata.map(|m| m.0),
            attempt: v.attempt,
        }
    }
}

impl From<Health> for HealthSnapshot {
    fn from(h: Health) -> Self {
        let circuit = [Circuit::Closed, Circuit::Open, Circuit::HalfOpen][usize::from(h.circuit % 3)];
        let p95 = Duration::from_millis(u64::from(h.p95_ms));
        HealthSnapshot { calls: h.calls, success_rate: h.success_rate, p95, circuit }
    }
}

/// The engine, and every script: loaded once, as the daemon loads them (golden cases included).
fn setup() -> &'static (Engine, Vec<Script>) {
    static SETUP: OnceLock<(Engine, Vec<Script>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut files: Vec<_> = std::fs::read_dir(repo("routing"))
            .expect("the routing folder")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.extension().is_some_and(|x| x == "lua"))
            .collect();
        files.sort();
        files.push(here("lua/hostile_routing.lua"));
        let scripts = files.iter().map(|f| load_script(f, lua_limits()).expect("the script loads")).collect();
        (Engine::new(lua_limits()), scripts)
    })
}

fuzz_target!(|input: Input| {
    let (engine, scripts) = setup();
    let script = &scripts[input.script % scripts.len()];
    let mut names: Vec<String> = ACCOUNTS.iter().map(ToString::to_string).collect();
    let mut health = HashMap::new();
    for (name, h) in input.accounts {
        names.push(name.clone());
        health.insert(name, h.into());
    }
    let accounts = Accounts::Fixed { names: names.clone(), health };
    // An error is an answer too; a choice must be one the payment can be routed by.
    if let Ok(choice) = engine.evaluate(script, &accounts, &input.view.into(), input.now) {
        let candidates = &choice.candidates;
        assert!(!candidates.is_empty() && candidates.iter().all(|c| names.contains(c)), "{choice:?}");
        assert!(candidates.iter().enumerate().all(|(i, c)| !candidates[..i].contains(c)), "{choice:?}");
        assert!(choice.reason.as_ref().is_none_or(|r| r.chars().count() <= 200), "{choice:?}");
    }
});
