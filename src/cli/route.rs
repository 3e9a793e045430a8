//! Operator tools: ask a script about one payment before shipping it (`switchyard route`), and
//! replay stored payments through a candidate script to see which decisions it would change
//! (`switchyard route replay`). Neither touches stored payments or the running daemon.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::extract::FromBody;
use crate::api::types::{MethodChoice, PaymentsRequest};
use crate::config::Config;
use crate::domain::decision::{Decision, RoutingView};
use crate::merchants::{Directory, Profile};
use crate::payments::routing_view::routing_view;
use crate::routing::engine::{evaluate_alone, Accounts};
use crate::routing::scripts::{load_dir, load_script, LoadResult, Script, ScriptSet};
use crate::routing::{static_order, unix_seconds, Decider};
use crate::store::Store;

/// A profile named as `merchant/profile`, or by its id alone when that is unambiguous.
pub fn find_profile(directory: &Directory, name: &str) -> Result<Arc<Profile>, String> {
    let found: Vec<&Arc<Profile>> = match name.split_once('/') {
        Some((merchant, profile)) => directory.profile(merchant, profile).into_iter().collect(),
        None => directory.profiles().filter(|p| p.id == name).collect(),
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no profile `{name}` in the configuration")),
        _ => Err(format!("several merchants have a profile `{name}`: name it as merchant/profile")),
    }
}

/// Reads a payment for a dry run: a payments request (as sent to `POST /v2/payments`) or a
/// routing view (as in golden cases).
pub fn read_payment(path: &Path, profile: &Profile) -> Result<RoutingView, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if json.get("amount_details").is_some() {
        let request = PaymentsRequest::from_body(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        let (intent, choice) = request.into_parts().map_err(|e| format!("{}: {e}", path.display()))?;
        // A dry run has no vault to open: the card of a saved method is not known to it.
        let MethodChoice::Given(confirmation) = choice else {
            return Err(format!("{}: a payment with a saved payment_method_id cannot be dry-run", path.display()));
        };
        let id = "pay_dry_run";
        Ok(routing_view(id, &profile.id, &intent.amount, intent.customer_id.as_deref(), &intent.details, &confirmation))
    } else {
        let mut view: RoutingView = serde_json::from_value(json).map_err(|e| format!("{}: {e}", path.display()))?;
        view.profile_id = profile.id.clone();
        Ok(view)
    }
}

/// The scripts to decide for one profile with: its configured one, or the file given instead.
fn scripts_for(config: &Config, profile: &Profile, script: Option<&Path>) -> Result<(ScriptSet, Arc<Profile>), String> {
    let limits = crate::lua::Budget::of(&config.lua);
    let mut profile = profile.clone();
    let set = match script {
        Some(path) => {
            let script = load_script(path, limits)?;
            profile.routing = Some(script.name.as_str().into());
            let mut set = ScriptSet::default();
            set.scripts.insert(script.name.clone(), Arc::new(script));
            set
        }
        None => {
            let (set, report) = load_dir(&config.paths.routing, limits, &ScriptSet::default());
            for (name, result) in report {
                if let LoadResult::Refused(e) = result {
                    if profile.routing.as_deref() == Some(name.as_str()) {
                        return Err(e);
                    }
                }
            }
            set
        }
    };
    Ok((set, Arc::new(profile)))
}

/// `switchyard route`: the decision for one payment, as the daemon would make it now.
pub fn dry_run(config: &Config, profile: &str, payment: &Path, script: Option<&Path>) -> Result<String, String> {
    let directory = Directory::from_config(config, None);
    let profile = find_profile(&directory, profile)?;
    let view = read_payment(payment, &profile)?;
    let (scripts, profile) = scripts_for(config, &profile, script)?;
    let decider = Decider::new(crate::lua::Budget::of(&config.lua));
    // The first call also loads the script into this thread's state; the second is what a
    // request pays.
    decider.decide(&scripts, &profile, view.clone(), Utc::now());
    let decision = decider.decide(&scripts, &profile, view, Utc::now());
    Ok(describe(&profile, &decision))
}

fn describe(profile: &Profile, d: &Decision) -> String {
    let mut out = String::new();
    let script = match (&d.script, &d.script_hash) {
        (Some(name), Some(hash)) => format!("{name} ({hash})"),
        (Some(name), None) => format!("{name} (not loaded)"),
        _ => "none: the profile routes by its fallback list".into(),
    };
    let _ = writeln!(out, "profile   {}/{}", profile.merchant_id, profile.id);
    let _ = writeln!(out, "script    {script}");
    let _ = writeln!(out, "decision  {}", d.candidates.join(" → "));
    let _ = writeln!(out, "reason    {}", d.reason.as_deref().unwrap_or("-"));
    if let Some(why) = &d.fallback {
        let _ = writeln!(out, "fallback  {why}");
    }
    let _ = writeln!(out, "time      {:.1} µs", d.duration_us);
    out
}

/// Parses `90s`, `30m`, `24h` or `7d`.
pub fn parse_since(s: &str) -> Result<chrono::Duration, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| format!("`{s}` is not a duration like 30m, 24h or 7d"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!("`{s}` is not a duration like 30m, 24h or 7d")),
    }
}

/// What a replay found.
#[derive(Debug, Default, PartialEq)]
pub struct Replay {
    pub payments: usize,
    pub changed: usize,
    /// Payments whose first account would change: (from, to) → how many.
    pub moves: BTreeMap<(String, String), usize>,
    /// Payments the candidate script failed on (the fallback list would decide them).
    pub failures: usize,
}

/// Asks `script` about every decision stored for `profile` since `since`, with the clock pinned
/// to each payment's own decision time.
pub fn replay(script: &Script, limits: crate::lua::Budget, profile: &Arc<Profile>, decisions: &[Decision]) -> Replay {
    let accounts = Accounts::Profile(profile.clone());
    let mut out = Replay::default();
    for old in decisions {
        out.payments += 1;
        let new = match evaluate_alone(limits, script, &accounts, &old.view, unix_seconds(old.decided_at)) {
            Ok(choice) => choice.candidates,
            Err(_) => {
                out.failures += 1;
                static_order(profile).iter().map(|a| a.name.clone()).collect()
            }
        };
        if new != old.candidates {
            out.changed += 1;
            let from = old.candidates.first().cloned().unwrap_or_default();
            let to = new.first().cloned().unwrap_or_default();
            if from != to {
                *out.moves.entry((from, to)).or_default() += 1;
            }
        }
    }
    out
}

/// `switchyard route replay`.
pub async fn replay_stored(config: &Config, profile: &str, script: &Path, since: &str) -> Result<String, String> {
    let since = Utc::now() - parse_since(since)?;
    let directory = Directory::from_config(config, None);
    let profile = find_profile(&directory, profile)?;
    let limits = crate::lua::Budget::of(&config.lua);
    let script = load_script(script, limits)?;
    let store = Store::open_existing(&config.database.url).await.map_err(|e| e.to_string())?;
    let decisions = store.decisions_since(&profile.merchant_id, &profile.id, since).await.map_err(|e| e.to_string());
    store.close().await;
    let decisions = decisions?;
    let result = replay(&script, limits, &profile, &decisions);
    Ok(report(&profile, &script, since, &result))
}

fn report(profile: &Profile, script: &Script, since: DateTime<Utc>, r: &Replay) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replayed {} payments of {}/{} since {} with {} ({})",
        r.payments,
        profile.merchant_id,
        profile.id,
        since.format("%Y-%m-%d %H:%M UTC"),
        script.path.display(),
        script.hash
    );
    let share = if r.payments == 0 { 0.0 } else { 100.0 * r.changed as f64 / r.payments as f64 };
    let _ = writeln!(out, "would change {} decisions ({share:.1}%), {} unchanged", r.changed, r.payments - r.changed);
    if r.failures > 0 {
        let _ = writeln!(out, "the script failed on {} payments (the fallback list would decide them)", r.failures);
    }
    if !r.moves.is_empty() {
        let width = r.moves.keys().map(|(f, _)| f.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(out, "{:width$}    {:16} payments", "from", "to");
        for ((from, to), n) in &r.moves {
            let _ = writeln!(out, "{from:width$} →  {to:16} {n}");
        }
    }
    out
}
