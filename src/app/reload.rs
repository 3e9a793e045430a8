//! A reload: the configuration file and the folders read again, a new version built and checked
//! off the request path (`snapshot::build`), and swapped in whole — or refused whole, with every
//! problem logged, while the version serving goes on.
//!
//! Some settings shape what was set up at the start (the listener, the database pool, the
//! vault, the HTTP client, the Lua budget, background tasks); a change to one is checked like
//! any other, then named in the log as waiting for a restart, and the running value stays.
//! Merchants, keys, profiles, connector accounts, `limits`, the hash secret, scripts and
//! plugins change live. A connector account the new version drops (or gives another connector)
//! must hold nothing unfinished: its payments still need it to be captured, cancelled, synced
//! or reconciled, and its refunds to settle. Disabling it (`enabled = false`) stops new
//! payments and keeps it for those.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::snapshot::{build, Built, Inputs};
use crate::config::{Config, Problem};
use crate::diff::differences;
use crate::snapshot::{Live, Snapshot};
use crate::store::Store;

/// The sections of the configuration that apply live; every other one waits for a restart.
const LIVE: [&str; 3] = ["merchants", "limits", "security"];

/// Builds and swaps in new versions, one at a time.
pub struct Reloader {
    /// Where the configuration was read from; without a file, a reload reads the folders only.
    pub file: Option<PathBuf>,
    /// The configuration the daemon started with: its restart-only settings hold until a restart.
    pub started: Config,
    pub inputs: Inputs,
    pub live: Live,
    pub store: Store,
    pub one_at_a_time: tokio::sync::Mutex<()>,
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new version serves.
    Applied,
    /// Nothing that serves changed.
    Unchanged,
    /// The version serving goes on; these are why.
    Refused(Vec<Problem>),
}

impl Reloader {
    pub async fn reload(self: &Arc<Self>) -> Outcome {
        let _one = self.one_at_a_time.lock().await;
        let this = self.clone();
        let built = tokio::task::spawn_blocking(move || this.build()).await;
        let outcome = match built {
            Ok(Ok((built, restart))) => self.apply(built, restart).await,
            Ok(Err(problems)) => Outcome::Refused(problems),
            Err(e) => Outcome::Refused(vec![Problem { path: "reload".into(), message: e.to_string() }]),
        };
        let serving = self.live.load().version.clone();
        let result = match &outcome {
            Outcome::Applied => "applied",
            Outcome::Unchanged => {
                tracing::info!(version = %serving, result = %"unchanged", "configuration reload");
                "unchanged"
            }
            Outcome::Refused(problems) => {
                for problem in problems {
                    tracing::error!(%problem, "configuration refused");
                }
                tracing::error!(version = %serving, result = %"refused", problems = problems.len(),
                    "configuration reload refused; the version serving goes on");
                "refused"
            }
        };
        metrics::counter!("switchyard_config_reloads_total", "result" => result).increment(1);
        outcome
    }

    /// The new version, and the restart-only settings the file changes.
    fn build(&self) -> Result<(Built, Vec<String>), Vec<Problem>> {
        let read = match &self.file {
            Some(file) => Config::load(Some(file))?,
            None => self.started.clone(),
        };
        // What serves keeps the running values of the settings that need a restart.
        let serving = Config {
            merchants: read.merchants.clone(),
            limits: read.limits.clone(),
            security: read.security.clone(),
            ..self.started.clone()
        };
        let built = build(&serving, &self.inputs, Some(&self.live.load()))?;
        // The file is checked whole, restart-only settings too: what a reload takes, a start takes.
        let (problems, _) = super::check::configuration(&read, &built.snapshot.registry);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok((built, restart_only_changes(&self.started, &read)))
    }

    async fn apply(&self, built: Built, restart: Vec<String>) -> Outcome {
        metrics::gauge!("switchyard_config_restart_pending").set(if restart.is_empty() { 0.0 } else { 1.0 });
        if !restart.is_empty() {
            tracing::warn!(settings = %restart.join(", "), "these settings apply at the next restart; their running values stay");
        }
        let previous = self.live.load();
        if built.snapshot.version == previous.version {
            // A file that did not load leaves the version as it was, and still says so.
            built.report.announce(&previous, Some(&previous));
            return Outcome::Unchanged;
        }
        let stranded = stranded(&self.store, &previous, &built.snapshot).await;
        if !stranded.is_empty() {
            return Outcome::Refused(stranded);
        }
        let version = built.snapshot.version.clone();
        let replaced = self.live.swap(built.snapshot);
        built.report.announce(&self.live.load(), Some(&replaced));
        metrics::gauge!("switchyard_config_info", "version" => replaced.version.to_string()).set(0.0);
        metrics::gauge!("switchyard_config_info", "version" => version.to_string()).set(1.0);
        tracing::info!(%version, replaced = %replaced.version, result = %"applied", "configuration reload");
        Outcome::Applied
    }
}

/// The restart-only settings that differ between `running` and `read`, by their paths.
pub fn restart_only_changes(running: &Config, read: &Config) -> Vec<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) = (serde_json::to_value(running), serde_json::to_value(read))
    else {
        return Vec::new();
    };
    old.iter()
        .filter(|(section, _)| !LIVE.contains(&section.as_str()))
        .flat_map(|(section, value)| differences(section, value, new.get(section).unwrap_or(&Value::Null)))
        .collect()
}

/// The connector accounts `previous` has and `next` drops (or moves to another connector) that
/// still hold unfinished payments or refunds, as problems.
async fn stranded(store: &Store, previous: &Snapshot, next: &Snapshot) -> Vec<Problem> {
    let mut problems = Vec::new();
    for profile in previous.directory.profiles() {
        let kept = next.directory.profile(&profile.merchant_id, &profile.id);
        for account in &profile.accounts {
            let same = kept.and_then(|p| p.account(&account.name)).is_some_and(|a| a.connector == account.connector);
            if same {
                continue;
            }
            let path = format!("merchants.{}.profiles.{}.connector_accounts", profile.merchant_id, profile.id);
            match store.unfinished(&profile.merchant_id, &profile.id, &account.name).await {
                Ok(unfinished) if unfinished.is_empty() => {}
                Ok(unfinished) => problems.push(Problem {
                    path,
                    message: format!(
                        "account `{}` ({}) holds {} unfinished payment(s) and {} pending refund(s): keep it, \
                         disabled (enabled = false), until they settle",
                        account.name, account.connector, unfinished.payments, unfinished.refunds
                    ),
                }),
                Err(e) => problems.push(Problem {
                    path,
                    message: format!("cannot tell whether account `{}` holds unfinished payments: {e}", account.name),
                }),
            }
        }
    }
    problems
}
