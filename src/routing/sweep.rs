//! The load-time sweep: a script is run, for each profile that names it, over payment views
//! generated from what the profile's accounts take — each payment method, a spread of
//! currencies and of amounts, with and without card details, billing country and metadata, a
//! first attempt and a retry — with every account healthy, then with each one down. Golden
//! cases cover the paths their author thought of; the sweep covers the rest, so an error, an
//! endless loop or a misspelled account on a path no case names is found before a payment
//! takes it. A few hundred views: well under a second, even with each at its time budget
//! until the first that fails.

use std::collections::HashMap;

use serde_json::json;

use super::engine::{sweep as run, Accounts};
use super::scripts::Script;
use crate::connectors::health::{Circuit, HealthSnapshot};
use crate::domain::decision::{CardView, RoutingView};
use crate::lua::Budget;

/// What a profile offers a script.
pub struct Offer<'a> {
    pub profile_id: &'a str,
    /// The accounts routing may choose, in order.
    pub enabled: Vec<String>,
    /// Every account of the profile, disabled ones too.
    pub all: Vec<String>,
    /// The payment methods (type, subtype) the enabled accounts take.
    pub methods: Vec<(String, String)>,
}

/// Zero-, two- and three-decimal currencies, and the common ones.
const CURRENCIES: [&str; 8] = ["USD", "EUR", "GBP", "JPY", "CHF", "BRL", "INR", "KWD"];
/// Minor units, from the smallest payment to a large one, with the edges of round thresholds.
const AMOUNTS: [i64; 11] = [1, 100, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 999_999, 1_000_000, 99_999_999];
/// One view in this many is also tried with each account down.
const DOWN_EVERY: usize = 5;

/// Runs `script` over the views `offer` generates; the first view it fails on, and why.
pub fn sweep(limits: Budget, script: &Script, offer: &Offer<'_>) -> Result<(), String> {
    let views = views(offer);
    let healthy = Accounts::Fixed { names: offer.enabled.clone(), health: HashMap::new() };
    let down: Vec<(String, Accounts)> = offer
        .enabled
        .iter()
        .map(|name| {
            let health =
                HealthSnapshot { calls: 100, success_rate: 0.0, p95: Default::default(), circuit: Circuit::Open };
            let accounts =
                Accounts::Fixed { names: offer.enabled.clone(), health: HashMap::from([(name.clone(), health)]) };
            (name.clone(), accounts)
        })
        .collect();
    let mut runs: Vec<(&Accounts, &RoutingView, Option<&str>)> = views.iter().map(|v| (&healthy, v, None)).collect();
    for (name, accounts) in &down {
        runs.extend(views.iter().step_by(DOWN_EVERY).map(|v| (accounts, v, Some(name.as_str()))));
    }
    let known = |name: &str| offer.all.iter().any(|n| n == name);
    run(limits, script, runs.iter().map(|(a, v, _)| (*a, *v)), &known).map_err(|(i, error)| {
        let (_, view, down) = runs[i];
        let view = serde_json::to_string(view).unwrap_or_default();
        let health = down.map(|name| format!(" with `{name}` down")).unwrap_or_default();
        format!("for profile `{}`, the payment {view}{health}: {error}", offer.profile_id)
    })
}

/// The views of the sweep: every method, currency and amount, the other fields taking each of
/// their shapes in turn.
fn views(offer: &Offer<'_>) -> Vec<RoutingView> {
    let cards = [
        None,
        Some(CardView { network: Some("Visa".into()), bin: Some("424242".into()), issuing_country: Some("US".into()) }),
        Some(CardView {
            network: Some("Mastercard".into()),
            bin: Some("555555".into()),
            issuing_country: Some("FR".into()),
        }),
        Some(CardView::default()),
    ];
    let countries = [None, Some("DE"), Some("US")];
    let mut views = Vec::new();
    for (kind, subtype) in &offer.methods {
        for currency in CURRENCIES {
            for amount in AMOUNTS {
                let n = views.len();
                let card = if kind == "card" { cards[n % cards.len()].clone() } else { None };
                views.push(RoutingView {
                    id: format!("pay_sweep_{n}"),
                    amount,
                    currency: currency.into(),
                    payment_method_type: kind.clone(),
                    payment_method_subtype: Some(subtype.clone()),
                    card,
                    billing_country: countries[n % countries.len()].map(String::from),
                    customer_id: (n % 2 == 1).then(|| format!("cus_sweep_{n}")),
                    profile_id: offer.profile_id.into(),
                    metadata: (n % 2 == 0)
                        .then(|| json!({ "order": n, "channel": "web" }).as_object().cloned())
                        .flatten(),
                    attempt: 1 + (n % 2) as u32,
                });
            }
        }
    }
    views
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lua::compile;

    fn script(source: &str) -> Script {
        Script::new("s".into(), "s.lua".into(), "h".into(), compile("s.lua", source).unwrap())
    }

    fn offer() -> Offer<'static> {
        Offer {
            profile_id: "web",
            enabled: vec!["a".into(), "b".into()],
            all: vec!["a".into(), "b".into(), "off".into()],
            methods: vec![("card".into(), "credit".into()), ("bank_redirect".into(), "ideal".into())],
        }
    }

    const LIMITS: Budget = Budget { time_budget: Duration::from_millis(50), memory_bytes: 16 << 20 };

    #[test]
    fn a_sound_script_passes_and_a_disabled_account_is_no_fault() {
        let sound = "return function(p, ctx) if p.amount > 100000 then return { 'off', 'b' } end \
                     return ctx.first_healthy({ 'a', 'b' }) end";
        assert_eq!(sweep(LIMITS, &script(sound), &offer()), Ok(()));
        assert_eq!(sweep(LIMITS, &script("return function() return { 'off' } end"), &offer()), Ok(()));
    }

    #[test]
    fn a_fault_on_a_path_no_case_names_is_found_with_the_view_that_takes_it() {
        let faults = [
            ("if p.currency == 'JPY' and p.amount > 999999 then return { 'stirpe' } end", "`stirpe`"),
            ("if p.card and p.card.network == 'Mastercard' then while true do end end", "time budget"),
            ("if p.metadata then return { p.metadata.missing.field } end", "runtime error"),
            ("if p.payment_method_type == 'bank_redirect' then return {} end", "empty list"),
        ];
        for (path, expected) in faults {
            let source = format!("return function(p, ctx) {path} return {{ 'a' }} end");
            let error = sweep(LIMITS, &script(&source), &offer()).expect_err(path);
            assert!(error.starts_with("for profile `web`, the payment {"), "{error}");
            assert!(error.contains(expected), "{path}: {error}");
        }
        let when_down = "return function(p, ctx) if ctx.health('a').circuit == 'open' then error('a is down') end \
                         return { 'a' } end";
        let error = sweep(LIMITS, &script(when_down), &offer()).unwrap_err();
        assert!(error.contains("with `a` down") && error.contains("a is down"), "{error}");
    }
}
