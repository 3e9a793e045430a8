//! Routing: which connector accounts a payment tries, in order.
//!
//! A profile names a Lua script in the routing folder; the script sees a small view of the payment
//! and `ctx` (the profile's enabled accounts, their live health, helpers) and answers an ordered
//! list of account names, optionally with a reason. When a profile has no script, or its script
//! fails in any way (does not compile, errs, overruns its budget, answers something that is not a
//! list of enabled accounts), the profile's static `fallback` list decides instead, with a log
//! line and a metric; a script can never fail a payment or the daemon.
//!
//! Every decision says which script version made it, why, and how long it took; it is stored with
//! the attempt, so `switchyard route replay` can ask a new script about the same payments.

pub mod engine;
pub mod scripts;
pub mod sweep;
pub mod view;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::connectors::Account;
use crate::domain::decision::{Decision, RoutingView};
use crate::lua::{Budget, ScriptError};
use crate::merchants::Profile;
use engine::{Accounts, Choice, Engine};
use scripts::ScriptSet;

/// The order of accounts when no script decides: the profile's `fallback` list, or every
/// enabled account in the order configured. Disabled accounts are never tried.
pub fn static_order(profile: &Profile) -> Vec<&Account> {
    let enabled = |a: &&Account| a.enabled;
    if profile.fallback.is_empty() {
        profile.accounts.iter().filter(enabled).collect()
    } else {
        profile.fallback.iter().filter_map(|name| profile.account(name)).filter(enabled).collect()
    }
}

/// Clock time as scripts see it: Unix seconds.
pub fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Decides which accounts a payment tries, with the routing scripts of the version it runs on.
pub struct Decider {
    engine: Engine,
}

impl Decider {
    pub fn new(limits: Budget) -> Self {
        Self { engine: Engine::new(limits) }
    }

    /// Decides the accounts `view` tries, for `profile`, at `now`.
    pub fn decide(
        &self,
        scripts: &ScriptSet,
        profile: &Arc<Profile>,
        view: RoutingView,
        now: DateTime<Utc>,
    ) -> Decision {
        self.decide_among(scripts, profile, None, view, now)
    }

    /// `decide`, with the script choosing among `only` of the profile's accounts when given (the
    /// accounts that can give a wallet's session token).
    pub fn decide_among(
        &self,
        set: &ScriptSet,
        profile: &Arc<Profile>,
        only: Option<&[&Account]>,
        view: RoutingView,
        now: DateTime<Utc>,
    ) -> Decision {
        let accounts = match only {
            None => Accounts::Profile(profile.clone()),
            Some(subset) => Accounts::Fixed {
                names: subset.iter().filter(|a| a.enabled).map(|a| a.name.clone()).collect(),
                health: subset.iter().map(|a| (a.name.clone(), a.health.snapshot())).collect(),
            },
        };
        self.decide_in(set, profile, &accounts, view, now)
    }

    /// `decide`, with the script seeing `accounts` (a dry run sets the scene as a golden case
    /// does).
    pub fn decide_in(
        &self,
        set: &ScriptSet,
        profile: &Arc<Profile>,
        accounts: &Accounts,
        view: RoutingView,
        now: DateTime<Utc>,
    ) -> Decision {
        let started = Instant::now();
        let script = profile.routing.as_deref().map(|name| (name, set.get(name)));
        let outcome: Option<Result<Choice, ScriptError>> = script.map(|(name, found)| match found {
            Some(s) => self.engine.evaluate(s, accounts, &view, unix_seconds(now)),
            None => Err(ScriptError::BadResult(format!("no routing script `{name}` is loaded"))),
        });
        let (candidates, reason, fallback) = match outcome {
            Some(Ok(choice)) => (choice.candidates, choice.reason, None),
            other => {
                let error = other.and_then(Result::err);
                if let (Some((name, _)), Some(error)) = (script, &error) {
                    tracing::warn!(script = name, profile = %profile.id, %error, "routing script failed; using the fallback list");
                    metrics::counter!("switchyard_script_errors_total", "script" => name.to_string()).increment(1);
                }
                // What the payment keeps, and its merchant reads: the script's own error text,
                // with its file and line, stays in the log.
                let fallback = error.map(|e| e.public());
                let order = static_order(profile).into_iter().filter(|a| accounts.contains(&a.name));
                (order.map(|a| a.name.clone()).collect(), None, fallback)
            }
        };
        let took = started.elapsed();
        if let Some((_, Some(s))) = script {
            s.record_duration(took);
        }
        if let Some(first) = candidates.first() {
            profile.count_decision(first);
        }
        let hash = script.and_then(|(_, s)| s.map(|s| s.hash.clone()));
        Decision {
            script: profile.routing.clone(),
            script_hash: hash,
            candidates,
            reason,
            fallback,
            duration_us: Decision::micros(took),
            decided_at: now,
            config_version: None,
            view,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    type Snapshot = Vec<(CompositeKey, Option<metrics::Unit>, Option<metrics::SharedString>, DebugValue)>;

    use super::*;
    use crate::config::ConnectorAccountConfig;

    fn profile(script: &str) -> Arc<Profile> {
        let account = Account::from_config(
            "p",
            &ConnectorAccountConfig {
                name: "a".into(),
                connector: "sandbox".into(),
                enabled: true,
                base_url: None,
                credentials: Default::default(),
                metadata: Default::default(),
                rate_limit: None,
            },
        );
        Arc::new(Profile {
            serial: u64::MAX - 1,
            id: "p".into(),
            merchant_id: "m".into(),
            accounts: vec![account],
            fallback: vec![],
            routing: Some(script.into()),
            reject_expired_cards: true,
            session_expiry_secs: 900,
            webhook: None,
            decisions: Default::default(),
            outcomes: Default::default(),
        })
    }

    /// The counter's value, by name and one label.
    fn counter(snapshot: &Snapshot, name: &str, label: (&str, &str)) -> u64 {
        snapshot
            .iter()
            .filter(|(key, ..)| {
                key.kind() == MetricKind::Counter
                    && key.key().name() == name
                    && key.key().labels().any(|l| l.key() == label.0 && l.value() == label.1)
            })
            .map(|(.., value)| match value {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn a_failing_script_is_counted_and_replaced_by_the_fallback_list() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join("boom.lua"), "return function() error('boom') end").unwrap();
        std::fs::write(dir.path().join("broken.lua"), "return function(").unwrap();
        let limits = Budget { time_budget: Duration::from_millis(20), memory_bytes: 4 << 20 };
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let decider = Decider::new(limits);
            let (scripts, report) = scripts::load_dir(dir.path(), limits, &ScriptSet::default());
            assert!(report
                .iter()
                .any(|(n, r)| n == "broken"
                    && matches!(r, scripts::LoadResult::Refused(e) if e.contains("broken.lua:1"))));
            let decision = decider.decide(&scripts, &profile("boom"), RoutingView::default(), Utc::now());
            assert_eq!(decision.candidates, ["a"], "the fallback list decides");
            assert_eq!(decision.fallback.as_deref(), Some(ScriptError::RUNTIME_PUBLIC), "no Lua detail: {decision:?}");
            assert_eq!(decision.script_hash.as_deref().map(str::len), Some(12));
        });
        let snapshot = recorder.snapshotter().snapshot().into_vec();
        assert_eq!(counter(&snapshot, "switchyard_script_errors_total", ("script", "boom")), 1);
        assert_eq!(counter(&snapshot, "switchyard_routing_decisions_total", ("account", "a")), 1);
    }
}
