//! Building a configuration version: the connectors (built-in and the plugin folder's), the
//! routing scripts, the merchants' directory and the rate limits, checked as a whole by the
//! same rules at a start, a reload and `switchyard check`.
//!
//! Each script a profile names is swept over the payments that profile may route
//! (`routing::sweep`), besides its golden cases. A configuration with any problem is refused
//! whole. A plugin or script file that does not
//! load is not such a problem: its previous version, if this daemon had one, serves instead;
//! with none (at a start), the accounts of a plugin that did not load are out of service and a
//! profile whose script did not load routes by its fallback list — both named as what keeps
//! the version from being ready.

use std::collections::BTreeSet;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::check;
use crate::config::{Config, ConnectorAccountConfig, Problem};
use crate::connectors::{Refused, Registry};
use crate::limits::Limits;
use crate::lua::Budget;
use crate::merchants::Directory;
use crate::routing::scripts::{load_dir, LoadResult, ScriptSet};
use crate::routing::sweep::Offer;
use crate::shared::Shared;
use crate::snapshot::{Snapshot, Version};

/// What building a version takes that stays the same while the daemon runs.
#[derive(Clone)]
pub struct Inputs {
    /// How customers' browsers reach this daemon, for connectors that hand out links to it.
    pub public_url: String,
    pub http: reqwest::Client,
    pub budget: Budget,
    /// The state daemons share, when `[shared]` names a Redis.
    pub shared: Option<Arc<Shared>>,
}

/// A version built and checked, with what it refused on the way.
pub struct Built {
    pub snapshot: Snapshot,
    pub report: Report,
}

/// What building a version found in the folders.
pub struct Report {
    /// Plugin and script files that did not load, and why.
    pub refused: Vec<Problem>,
    scripts: Vec<(String, LoadResult)>,
    plugins: Vec<Refused>,
    /// Accounts out of service, their plugin not loaded.
    out_of_service: Vec<Problem>,
    /// Profiles naming a script that has no file.
    missing: Vec<Problem>,
}

/// Builds the version `config` describes, reusing what it shares with `previous`.
pub fn build(config: &Config, inputs: &Inputs, previous: Option<&Snapshot>) -> Result<Built, Vec<Problem>> {
    let (registry, plugins) = Registry::builtin(&inputs.public_url, inputs.http.clone()).with_plugins(
        &config.paths.plugins,
        inputs.budget,
        inputs.http.clone(),
        &inputs.public_url,
        previous.map(|p| &p.registry),
    );
    let (mut problems, out_of_service) = check::configuration(config, &registry);
    let serving = check::without(config, &out_of_service);
    let none = ScriptSet::default();
    let earlier = previous.map_or(&none, |p| &p.scripts);
    let (mut scripts, mut report) = load_dir(&config.paths.routing, inputs.budget, earlier);
    problems.extend(sweep(&serving, &registry, inputs.budget, earlier, &mut scripts, &mut report));
    let mut refused: Vec<Problem> = plugins
        .iter()
        .map(|r| Problem { path: format!("connector plugin `{}`", r.name), message: r.error.clone() })
        .collect();
    refused.extend(report.iter().filter_map(|(name, result)| match result {
        LoadResult::Refused(error) => {
            Some(Problem { path: format!("routing script `{name}`"), message: error.clone() })
        }
        _ => None,
    }));
    if !problems.is_empty() {
        // The files that did not load are listed too, so one run names every problem.
        return Err([problems, refused].concat());
    }
    let refused_scripts: Vec<&str> =
        report.iter().filter(|(_, r)| matches!(r, LoadResult::Refused(_))).map(|(name, _)| name.as_str()).collect();
    let (missing, not_loaded) = check::missing_scripts(config, &scripts, &refused_scripts);
    let unready = [out_of_service.as_slice(), &missing, &not_loaded].concat();
    let directory = Directory::from_config(&serving, previous.map(|p| &p.directory), inputs.shared.as_ref());
    let limits = Limits::new(config, previous.map(|p| &p.limits), inputs.shared.clone());
    let version = version_of(config, &scripts, &registry);
    let snapshot = Snapshot { version, directory, registry, scripts: Arc::new(scripts), limits, unready };
    let report = Report { refused, scripts: report, plugins, out_of_service, missing };
    Ok(Built { snapshot, report })
}

/// Runs each script a profile names over the payments that profile may route (`routing::sweep`).
/// A new or changed script that fails is refused as a broken golden case refuses it: its earlier
/// version, if any, serves. An unchanged one that fails does so because of the configuration (an
/// account renamed or removed): that is a problem of the configuration, answered.
fn sweep(
    config: &Config,
    registry: &Registry,
    limits: Budget,
    earlier: &ScriptSet,
    scripts: &mut ScriptSet,
    report: &mut [(String, LoadResult)],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (merchant_id, merchant) in &config.merchants {
        for (profile_id, profile) in &merchant.profiles {
            let Some(name) = profile.routing.as_deref() else { continue };
            let Some(script) = scripts.get(name).cloned() else { continue };
            let enabled: Vec<&ConnectorAccountConfig> =
                profile.connector_accounts.iter().filter(|a| a.enabled).collect();
            let mut methods: Vec<(String, String)> =
                enabled.iter().filter_map(|a| registry.get(&a.connector)).flat_map(|c| c.payment_methods()).collect();
            methods.sort();
            methods.dedup();
            let offer = Offer {
                profile_id,
                enabled: enabled.iter().map(|a| a.name.clone()).collect(),
                all: profile.connector_accounts.iter().map(|a| a.name.clone()).collect(),
                methods,
            };
            let Err(error) = crate::routing::sweep::sweep(limits, &script, &offer) else { continue };
            let before = earlier.get(name);
            if before.is_some_and(|b| b.hash == script.hash) {
                problems.push(Problem {
                    path: format!("merchants.{merchant_id}.profiles.{profile_id}.routing"),
                    message: format!("script `{name}` fails {error}"),
                });
                continue;
            }
            match before {
                Some(before) => drop(scripts.scripts.insert(name.to_string(), before.clone())),
                None => drop(scripts.scripts.remove(name)),
            }
            if let Some((_, result)) = report.iter_mut().find(|(n, _)| n == name) {
                *result = LoadResult::Refused(format!("{}: {error}", script.path.display()));
            }
        }
    }
    problems
}

/// Every problem `config` has, as `switchyard check` lists them: what would refuse it, then the
/// files that would not load and what would not be ready.
pub fn problems(config: &Config) -> Vec<Problem> {
    let inputs = Inputs {
        public_url: config.public_url(),
        http: reqwest::Client::new(),
        budget: Budget::of(&config.lua),
        shared: None,
    };
    match build(config, &inputs, None) {
        Err(problems) => problems,
        Ok(Built { report, .. }) => [report.refused, report.out_of_service, report.missing].concat(),
    }
}

impl Report {
    /// Logs and counts what `serving`, the version built, changed and refused, once it serves;
    /// `previous` is the version it replaced.
    pub fn announce(&self, serving: &Snapshot, previous: Option<&Snapshot>) {
        for (name, result) in &self.scripts {
            let outcome = match result {
                LoadResult::Loaded { changed: false, .. } => continue,
                LoadResult::Loaded { hash, .. } => {
                    tracing::info!(script = %name, %hash, "routing script loaded");
                    "loaded"
                }
                LoadResult::Refused(error) if serving.scripts.get(name).is_some() => {
                    tracing::error!(script = %name, %error, "routing script refused; its previous version keeps serving");
                    "refused"
                }
                LoadResult::Refused(error) => {
                    tracing::error!(script = %name, %error, "routing script refused");
                    "refused"
                }
                LoadResult::Removed => {
                    tracing::warn!(script = %name, "routing script removed");
                    "removed"
                }
            };
            metrics::counter!("switchyard_script_reloads_total", "kind" => "routing", "result" => outcome).increment(1);
        }
        for refused in &self.plugins {
            let error = &refused.error;
            match refused.kept {
                true => {
                    tracing::error!(plugin = %refused.name, %error, "plugin refused; its previous version keeps serving")
                }
                false => tracing::error!(plugin = %refused.name, %error, "connector plugin not loaded"),
            }
            metrics::counter!("switchyard_script_reloads_total", "kind" => "plugin", "result" => "refused")
                .increment(1);
        }
        let before: BTreeSet<(&str, &str)> = previous.iter().flat_map(|p| p.registry.plugin_versions()).collect();
        for (plugin, hash) in serving.registry.plugin_versions() {
            if !before.contains(&(plugin, hash)) {
                tracing::info!(%plugin, %hash, "plugin loaded");
                metrics::counter!("switchyard_script_reloads_total", "kind" => "plugin", "result" => "loaded")
                    .increment(1);
            }
        }
        for problem in &serving.unready {
            tracing::error!(%problem, "not ready");
        }
        metrics::gauge!("switchyard_accounts_out_of_service").set(self.out_of_service.len() as f64);
        swap_info(
            "switchyard_script_info",
            &["profile", "script", "hash"],
            previous.map(script_info),
            script_info(serving),
        );
        swap_info("switchyard_plugin_info", &["connector", "hash"], previous.map(plugin_info), plugin_info(serving));
    }
}

/// The label values of `switchyard_script_info`: each profile's script and its hash.
fn script_info(s: &Snapshot) -> BTreeSet<Vec<String>> {
    s.directory
        .profiles()
        .filter_map(|p| {
            let name = p.routing.as_deref()?;
            Some(vec![p.id.clone(), name.to_string(), s.scripts.get(name)?.hash.to_string()])
        })
        .collect()
}

/// The label values of `switchyard_plugin_info`: each plugin connector and its hash.
fn plugin_info(s: &Snapshot) -> BTreeSet<Vec<String>> {
    s.registry.plugin_versions().map(|(name, hash)| vec![name.to_string(), hash.to_string()]).collect()
}

/// An info metric: 1 for the series of the version serving, 0 for those it replaced.
fn swap_info(
    name: &'static str,
    keys: &[&'static str],
    before: Option<BTreeSet<Vec<String>>>,
    now: BTreeSet<Vec<String>>,
) {
    let labels = |values: &Vec<String>| keys.iter().copied().zip(values.iter().cloned()).collect::<Vec<_>>();
    for gone in before.unwrap_or_default().difference(&now) {
        metrics::gauge!(name, &labels(gone)).set(0.0);
    }
    for serving in &now {
        metrics::gauge!(name, &labels(serving)).set(1.0);
    }
}

/// The version of a configuration with its scripts and plugins: an HMAC under the API-key hash
/// secret, so the same content has the same version on every daemon that shares it, and the
/// version shows nothing of the secrets in the configuration.
fn version_of(config: &Config, scripts: &ScriptSet, registry: &Registry) -> Version {
    let secret = config.security.api_key_hash_secret.resolve().map(|s| s.expose().clone()).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(&serde_json::to_vec(config).expect("a configuration serializes"));
    let mut files: Vec<(&str, &str, &str)> =
        scripts.scripts.iter().map(|(name, s)| ("script", name.as_str(), &*s.hash)).collect();
    files.extend(registry.plugin_versions().map(|(name, hash)| ("plugin", name, hash)));
    files.sort();
    for (kind, name, hash) in files {
        mac.update(format!("\n{kind} {name} {hash}").as_bytes());
    }
    Version::new(hex::encode(&mac.finalize().into_bytes()[..8]))
}
