//! Operator tools: ask a script about one payment before shipping it (`switchyard route`), and
//! replay stored payments through a candidate script to see which decisions it would change
//! (`switchyard route replay`). Neither touches stored payments or the running daemon.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::api::extract::decode;
use crate::api::types::{MethodChoice, PaymentsRequest};
use crate::config::Config;
use crate::domain::decision::Decision;
use crate::domain::status::IntentStatus;
use crate::merchants::{Directory, Profile};
use crate::money::Currency;
use crate::payments::routing_view::routing_view;
use crate::routing::engine::{evaluate_alone, Accounts};
use crate::routing::scripts::{load_dir, load_script, Case, LoadResult, Script, ScriptSet};
use crate::routing::{static_order, unix_seconds, Decider};
use crate::store::{DecisionFilter, Store, StoreError, StoredDecision};

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

/// A payment as `switchyard route` takes it, with the scene it is decided in.
pub type DryRunCase = Case<Option<Vec<String>>>;

/// The fields only a golden case has, not a routing view: a file with any of them is a case.
const CASE_FIELDS: [&str; 5] = ["payment", "accounts", "health", "now", "expect"];

/// Reads a payment for a dry run: a payments request (as sent to `POST /v2/payments`), a routing
/// view, or a golden case (its view under `payment`, with `accounts`, `health` and `now`).
pub fn read_payment(path: &Path, profile: &Profile) -> Result<DryRunCase, String> {
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| shown(&e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| shown(&e))?;
    let mut case = if json.get("amount_details").is_some() {
        // Decoded as the API decodes it; the file is the operator's own, so serde_json's own
        // bound on nesting is the only one.
        let request: PaymentsRequest = decode(text.as_bytes(), usize::MAX).map_err(|e| shown(&e))?;
        let (intent, choice) = request.into_parts().map_err(|e| shown(&e))?;
        // A dry run has no vault to open: the card of a saved method is not known to it.
        let MethodChoice::Given(confirmation) = choice else {
            return Err(shown(&"a payment with a saved payment_method_id cannot be dry-run"));
        };
        let id = "pay_dry_run";
        let view = routing_view(
            id,
            &profile.id,
            &intent.amount,
            intent.customer_id.as_deref(),
            &intent.details,
            &confirmation,
        );
        DryRunCase::of(view)
    } else if CASE_FIELDS.iter().any(|field| json.get(field).is_some()) {
        serde_json::from_value::<DryRunCase>(json).map_err(|e| shown(&e))?
    } else {
        DryRunCase::of(serde_json::from_value(json).map_err(|e| shown(&e))?)
    };
    case.payment.profile_id = profile.id.clone();
    Ok(case)
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

/// `switchyard route`: the decision for one payment, as the daemon would make it now (or at the
/// case's `now`), among the profile's accounts (or the case's, with the health it gives them).
pub fn dry_run(config: &Config, profile: &str, payment: &Path, script: Option<&Path>) -> Result<String, RouteError> {
    let directory = Directory::from_config(config, None, None);
    let profile = find_profile(&directory, profile)?;
    let case = read_payment(payment, &profile)?;
    let enabled = || profile.accounts.iter().filter(|a| a.enabled).map(|a| a.name.clone()).collect();
    let accounts = case.scene(enabled).map_err(|e| RouteError::Input(format!("{}: {e}", payment.display())))?;
    let now = match case.now {
        Some(seconds) => DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
            .ok_or_else(|| RouteError::Input(format!("{}: now = {seconds} is not a time", payment.display())))?,
        None => Utc::now(),
    };
    let (scripts, profile) = scripts_for(config, &profile, script)?;
    let decider = Decider::new(crate::lua::Budget::of(&config.lua));
    // The first call also loads the script into this thread's state; the second is what a
    // request pays.
    decider.decide_in(&scripts, &profile, &accounts, case.payment.clone(), now);
    let decision = decider.decide_in(&scripts, &profile, &accounts, case.payment.clone(), now);
    let mut out = describe(&profile, &decision);
    if let Some(expect) = &case.expect {
        let matches = *expect == decision.candidates && (case.reason.is_none() || case.reason == decision.reason);
        let verdict = if matches { "matches" } else { "differs" };
        let _ = writeln!(out, "expected  {} ({verdict})", expect.join(" → "));
    }
    Ok(out)
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

/// `90s`, `30m`, `24h` or `7d` back from now, or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let wrong = || format!("`{s}` is neither a duration like 30m, 24h or 7d nor an RFC 3339 time");
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| wrong())?;
    let back = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    };
    back.and_then(|back| Utc::now().checked_sub_signed(back)).ok_or_else(wrong)
}

/// How many changed decisions a replay allows before it fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxChanged {
    Count(usize),
    /// A share of the payments replayed, in percent.
    Percent(f64),
}

impl std::str::FromStr for MaxChanged {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let wrong = || format!("`{s}` is neither a count of payments like 10 nor a share like 5%");
        match s.strip_suffix('%') {
            Some(p) => match p.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(MaxChanged::Percent(p)),
                _ => Err(wrong()),
            },
            None => s.parse().map(MaxChanged::Count).map_err(|_| wrong()),
        }
    }
}

impl std::fmt::Display for MaxChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxChanged::Count(n) => write!(f, "{n}"),
            MaxChanged::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl MaxChanged {
    fn allows(self, changed: usize, payments: usize) -> bool {
        match self {
            MaxChanged::Count(n) => changed <= n,
            MaxChanged::Percent(p) => changed as f64 * 100.0 <= p * payments as f64,
        }
    }
}

/// `switchyard route replay`: which stored payments, which candidate, and what fails the run.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("whose").required(true).multiple(true).args(["profile", "merchant"]))]
pub struct ReplayArgs {
    /// The profile: `merchant/profile`, or the profile id alone when unambiguous.
    #[arg(long)]
    pub profile: Option<String>,
    /// The merchant: every profile of it, or the one `--profile` names.
    #[arg(long)]
    pub merchant: Option<String>,
    /// The candidate script.
    #[arg(long)]
    pub script: PathBuf,
    /// Payments decided since: 90s, 30m, 24h, 7d back from now, or an RFC 3339 time.
    #[arg(long, default_value = "24h", value_parser = parse_time)]
    pub since: DateTime<Utc>,
    /// Payments decided before: as `--since`.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Payments whose status is now this (e.g. succeeded, failed).
    #[arg(long)]
    pub status: Option<IntentStatus>,
    /// Payments in this currency (ISO 4217).
    #[arg(long, value_parser = Currency::parse)]
    pub currency: Option<Currency>,
    /// The most recent this many payments.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Fail when more decisions change than this: a count (10) or a share of the payments (5%).
    /// Without it, changes do not fail the run; a payment the candidate fails on always does.
    #[arg(long)]
    pub max_changed: Option<MaxChanged>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why a route command could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A profile, payment, script or option that does not read.
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<String> for RouteError {
    fn from(e: String) -> Self {
        RouteError::Input(e)
    }
}

/// A payment whose decision the candidate would change.
#[derive(Debug, PartialEq, Serialize)]
pub struct Change {
    pub payment_id: String,
    pub profile: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

/// A payment the candidate failed on (the fallback list would decide it).
#[derive(Debug, PartialEq, Serialize)]
pub struct Failure {
    pub payment_id: String,
    pub profile: String,
    pub error: String,
}

/// How many payments an account is first for.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct FirstFor {
    /// By the stored decisions.
    pub stored: usize,
    /// By the candidate.
    pub candidate: usize,
}

/// What a replay found.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Replay {
    pub payments: usize,
    pub changed: Vec<Change>,
    pub failures: Vec<Failure>,
    pub accounts: BTreeMap<String, FirstFor>,
}

impl Replay {
    /// Payments whose first account would change: (from, to) → how many.
    fn moves(&self) -> BTreeMap<(&str, &str), usize> {
        let mut moves = BTreeMap::new();
        for change in &self.changed {
            let from = change.old.first().map_or("", String::as_str);
            let to = change.new.first().map_or("", String::as_str);
            if from != to {
                *moves.entry((from, to)).or_default() += 1;
            }
        }
        moves
    }

    /// Why the run fails, if it does: each threshold it breaks.
    pub fn verdict(&self, max_changed: Option<MaxChanged>) -> Vec<String> {
        let mut failed = Vec::new();
        if !self.failures.is_empty() {
            failed.push(format!("the script failed on {} payments", self.failures.len()));
        }
        if let Some(max) = max_changed.filter(|max| !max.allows(self.changed.len(), self.payments)) {
            failed.push(format!("{} decisions changed, more than --max-changed {max} allows", self.changed.len()));
        }
        failed
    }
}

/// Asks `script` about every stored decision, each among its own profile's accounts and with the
/// clock pinned to the payment's own decision time.
pub fn replay(script: &Script, limits: crate::lua::Budget, directory: &Directory, stored: &[StoredDecision]) -> Replay {
    let mut out = Replay::default();
    for one in stored {
        out.payments += 1;
        let old = &one.decision;
        let name = format!("{}/{}", one.merchant_id, one.profile_id);
        let new = match directory.profile(&one.merchant_id, &one.profile_id) {
            Some(profile) => {
                let accounts = Accounts::Profile(profile.clone());
                match evaluate_alone(limits, script, &accounts, &old.view, unix_seconds(old.decided_at)) {
                    Ok(choice) => choice.candidates,
                    Err(e) => {
                        out.failures.push(Failure {
                            payment_id: one.payment_id.clone(),
                            profile: name.clone(),
                            error: e.to_string(),
                        });
                        static_order(profile).iter().map(|a| a.name.clone()).collect()
                    }
                }
            }
            None => {
                let error = format!("profile {name} is not in the configuration");
                out.failures.push(Failure { payment_id: one.payment_id.clone(), profile: name.clone(), error });
                old.candidates.clone()
            }
        };
        if let Some(first) = old.candidates.first() {
            out.accounts.entry(first.clone()).or_default().stored += 1;
        }
        if let Some(first) = new.first() {
            out.accounts.entry(first.clone()).or_default().candidate += 1;
        }
        if new != old.candidates {
            out.changed.push(Change {
                payment_id: one.payment_id.clone(),
                profile: name,
                old: old.candidates.clone(),
                new,
            });
        }
    }
    out
}

/// What `route replay` prints, and whether the run passes as a gate.
pub struct ReplayOutcome {
    pub report: String,
    pub passed: bool,
}

/// `switchyard route replay`.
pub async fn replay_stored(config: &Config, args: &ReplayArgs) -> Result<ReplayOutcome, RouteError> {
    let directory = Directory::from_config(config, None, None);
    let (merchant_id, profile_id) = match (&args.profile, &args.merchant) {
        (Some(profile), merchant) => {
            let name = match merchant {
                Some(merchant) if !profile.contains('/') => format!("{merchant}/{profile}"),
                _ => profile.clone(),
            };
            let profile = find_profile(&directory, &name)?;
            if merchant.as_ref().is_some_and(|m| *m != profile.merchant_id) {
                return Err(RouteError::Input(format!(
                    "profile `{name}` is not one of merchant `{}`'s",
                    profile.merchant_id
                )));
            }
            (profile.merchant_id.clone(), Some(profile.id.clone()))
        }
        (None, Some(merchant)) if directory.profiles().any(|p| p.merchant_id == *merchant) => (merchant.clone(), None),
        (None, Some(merchant)) => {
            return Err(RouteError::Input(format!("no merchant `{merchant}` in the configuration")))
        }
        (None, None) => return Err(RouteError::Input("route replay needs --profile or --merchant".into())),
    };
    let limits = crate::lua::Budget::of(&config.lua);
    let script = load_script(&args.script, limits)?;
    let filter = DecisionFilter {
        merchant_id: Some(merchant_id.clone()),
        profile_id: profile_id.clone(),
        since: Some(args.since),
        until: args.until,
        status: args.status,
        currency: args.currency.map(|c| c.code().to_string()),
        limit: args.limit,
    };
    let store = Store::open_existing(&config.database.url).await?;
    let stored = store.decisions(&filter).await;
    store.close().await;
    let result = replay(&script, limits, &directory, &stored?);
    let failed = result.verdict(args.max_changed);
    let whose = match &profile_id {
        Some(profile) => format!("{merchant_id}/{profile}"),
        None => merchant_id,
    };
    let report = match args.json {
        true => json_report(&whose, &script, args, &result, &failed),
        false => report(&whose, &script, args, &result, &failed),
    };
    Ok(ReplayOutcome { report, passed: failed.is_empty() })
}

fn json_report(whose: &str, script: &Script, args: &ReplayArgs, r: &Replay, failed: &[String]) -> String {
    let moves: Vec<_> =
        r.moves().into_iter().map(|((from, to), n)| json!({ "from": from, "to": to, "payments": n })).collect();
    let report = json!({
        "replayed": whose,
        "script": { "path": script.path.display().to_string(), "hash": &*script.hash },
        "since": args.since,
        "until": args.until,
        "payments": r.payments,
        "changed": r.changed.len(),
        "unchanged": r.payments - r.changed.len(),
        "failed": r.failures.len(),
        "changes": r.changed,
        "failures": r.failures,
        "accounts": r.accounts,
        "moves": moves,
        "max_changed": args.max_changed.map(|m| m.to_string()),
        "passed": failed.is_empty(),
        "failed_because": failed,
    });
    format!("{report:#}\n")
}

fn report(whose: &str, script: &Script, args: &ReplayArgs, r: &Replay, failed: &[String]) -> String {
    let mut out = String::new();
    let until = args.until.map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
    let _ = writeln!(
        out,
        "replayed {} payments of {whose} since {}{until} with {} ({})",
        r.payments,
        args.since.format("%Y-%m-%d %H:%M UTC"),
        script.path.display(),
        script.hash
    );
    if r.payments == 0 {
        let _ = writeln!(out, "no stored payments match: nothing to compare");
        return out;
    }
    let changed = r.changed.len();
    let share = 100.0 * changed as f64 / r.payments as f64;
    let _ = writeln!(out, "would change {changed} decisions ({share:.1}%), {} unchanged", r.payments - changed);
    if !r.failures.is_empty() {
        let _ =
            writeln!(out, "the script failed on {} payments (the fallback list would decide them):", r.failures.len());
        for f in &r.failures {
            let _ = writeln!(out, "  {} ({}): {}", f.payment_id, f.profile, f.error);
        }
    }
    let moves = r.moves();
    if !moves.is_empty() {
        let width = moves.keys().map(|(f, _)| f.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(out, "{:width$}    {:16} payments", "from", "to");
        for ((from, to), n) in &moves {
            let _ = writeln!(out, "{from:width$} →  {to:16} {n}");
        }
    }
    let width = r.accounts.keys().map(String::len).max().unwrap_or(7).max(7);
    let _ = writeln!(out, "{:width$}  first by stored  first by candidate", "account");
    for (account, n) in &r.accounts {
        let _ = writeln!(out, "{account:width$}  {:>15}  {:>18}", n.stored, n.candidate);
    }
    for why in failed {
        let _ = writeln!(out, "FAILED: {why}");
    }
    out
}
