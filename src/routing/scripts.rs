//! The routing scripts of a folder: read, compiled, checked against their golden cases, and
//! versioned by content hash. A script that fails to compile or breaks a case never replaces the
//! version that serves: the old one stays, and the error is reported with its file and line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::engine::{check_loads, evaluate_alone, Accounts};
use crate::connectors::health::{Circuit, HealthSnapshot};
use crate::domain::decision::RoutingView;
use crate::lua::{compile, Budget};

/// One compiled version of a script.
#[derive(Debug)]
pub struct Script {
    pub name: String,
    pub path: PathBuf,
    /// The first 12 hex digits of the source's SHA-256: which version decided.
    pub hash: std::sync::Arc<str>,
    pub bytecode: Vec<u8>,
    /// `switchyard_routing_script_duration_seconds` for this script, registered on first use.
    pub duration: std::sync::OnceLock<metrics::Histogram>,
}

impl Script {
    pub fn new(name: String, path: PathBuf, hash: String, bytecode: Vec<u8>) -> Self {
        Self { name, path, hash: hash.into(), bytecode, duration: Default::default() }
    }

    /// Records how long a decision by this script took.
    pub fn record_duration(&self, took: std::time::Duration) {
        let histogram = self.duration.get_or_init(
            || metrics::histogram!("switchyard_routing_script_duration_seconds", "script" => self.name.clone()),
        );
        histogram.record(took.as_secs_f64());
    }
}

/// The scripts requests use, by name (file name without `.lua`).
#[derive(Debug, Default)]
pub struct ScriptSet {
    pub scripts: HashMap<String, Arc<Script>>,
}

impl ScriptSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Script>> {
        self.scripts.get(name)
    }
}

/// A payment and the scene it is decided in, with what the script must answer: a golden case
/// (`Case<Vec<String>>`, where the answer is required), or the payment `switchyard route` shows
/// (`Case<Option<Vec<String>>>`), read the same way so a case can be dry-run as it stands.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case<Expect> {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub payment: RoutingView,
    /// The enabled accounts; by default every name the file's cases expect.
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
    /// Health of accounts that are not simply healthy.
    #[serde(default)]
    pub health: BTreeMap<String, CaseHealth>,
    /// The clock the script sees (Unix seconds).
    #[serde(default)]
    pub now: Option<f64>,
    pub expect: Expect,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A golden case: a payment and the list the script must answer for it.
pub type GoldenCase = Case<Vec<String>>;

impl Case<Option<Vec<String>>> {
    /// A payment alone, decided among the profile's accounts at the current time.
    pub fn of(payment: RoutingView) -> Self {
        Self { name: None, payment, accounts: None, health: BTreeMap::new(), now: None, expect: None, reason: None }
    }
}

impl<Expect> Case<Expect> {
    /// The accounts the script sees: the case's own, or `default` when it names none, each with
    /// the health the case gives it (healthy otherwise).
    pub fn scene(&self, default: impl FnOnce() -> Vec<String>) -> Result<Accounts, String> {
        let names = self.accounts.clone().unwrap_or_else(default);
        let mut health = HashMap::new();
        for (name, h) in &self.health {
            let p95 = std::time::Duration::try_from_secs_f64(h.p95_ms / 1000.0)
                .map_err(|_| format!("health.{name}.p95_ms must be a number of milliseconds"))?;
            if !(0.0..=1.0).contains(&h.success_rate) {
                return Err(format!("health.{name}.success_rate must be between 0 and 1"));
            }
            let circuit = match h.circuit.as_deref() {
                None | Some("closed") => Circuit::Closed,
                Some("open") => Circuit::Open,
                Some("half_open") => Circuit::HalfOpen,
                Some(other) => return Err(format!("health.{name}.circuit `{other}` is not closed, open or half_open")),
            };
            health.insert(name.clone(), HealthSnapshot { calls: h.calls, success_rate: h.success_rate, p95, circuit });
        }
        Ok(Accounts::Fixed { names, health })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseHealth {
    pub success_rate: f64,
    #[serde(default = "many")]
    pub calls: usize,
    #[serde(default)]
    pub p95_ms: f64,
    /// `closed` (the default), `open` or `half_open`.
    #[serde(default)]
    pub circuit: Option<String>,
}

fn many() -> usize {
    100
}

/// What happened to one file in a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadResult {
    /// Serving this version (new, or unchanged).
    Loaded { hash: String, changed: bool },
    /// Refused; the previous version, if any, keeps serving.
    Refused(String),
    /// The file is gone, and so is the script.
    Removed,
}

/// Compiles a script file and runs its golden cases (`<name>.cases.json` beside it).
pub fn load_script(path: &Path, limits: Budget) -> Result<Script, String> {
    let shown = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let bytecode = compile(&shown, &source).map_err(|e| e.to_string())?;
    let hash = hex::encode(&Sha256::digest(source.as_bytes())[..6]);
    let script = Script::new(name, path.to_path_buf(), hash, bytecode);
    check_loads(limits, &script).map_err(|e| format!("{shown}: {e}"))?;
    run_cases(&script, limits)?;
    Ok(script)
}

fn cases_path(script: &Path) -> PathBuf {
    script.with_extension("cases.json")
}

fn run_cases(script: &Script, limits: Budget) -> Result<(), String> {
    let path = cases_path(&script.path);
    if !path.exists() {
        return Ok(());
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    let cases: Vec<GoldenCase> = serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    let mut every_name: Vec<String> = cases.iter().flat_map(|c| c.expect.iter().cloned()).collect();
    every_name.sort();
    every_name.dedup();
    for (i, case) in cases.iter().enumerate() {
        let label = case.name.clone().unwrap_or_else(|| format!("case {}", i + 1));
        let accounts = case.scene(|| every_name.clone()).map_err(|e| format!("{shown}: {label}: {e}"))?;
        let choice = evaluate_alone(limits, script, &accounts, &case.payment, case.now.unwrap_or(0.0))
            .map_err(|e| format!("{shown}: {label}: {e}"))?;
        if choice.candidates != case.expect {
            return Err(format!(
                "{shown}: {label}: expected {:?}, the script answered {:?}",
                case.expect, choice.candidates
            ));
        }
        if case.reason.is_some() && choice.reason != case.reason {
            return Err(format!("{shown}: {label}: expected reason {:?}, got {:?}", case.reason, choice.reason));
        }
    }
    Ok(())
}

/// Loads every `*.lua` in `dir`, keeping `previous` versions of files that fail. Returns the new
/// set and what happened to each file.
pub fn load_dir(dir: &Path, limits: Budget, previous: &ScriptSet) -> (ScriptSet, Vec<(String, LoadResult)>) {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "lua"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut set = ScriptSet::default();
    let mut report = Vec::new();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        match load_script(&path, limits) {
            Ok(script) => {
                let changed = previous.get(&name).is_none_or(|old| old.hash != script.hash);
                report.push((name.clone(), LoadResult::Loaded { hash: script.hash.to_string(), changed }));
                set.scripts.insert(name, Arc::new(script));
            }
            Err(e) => {
                if let Some(old) = previous.get(&name) {
                    set.scripts.insert(name.clone(), old.clone());
                }
                report.push((name, LoadResult::Refused(e)));
            }
        }
    }
    for name in previous.scripts.keys() {
        if !set.scripts.contains_key(name) && !report.iter().any(|(n, _)| n == name) {
            report.push((name.clone(), LoadResult::Removed));
        }
    }
    (set, report)
}
