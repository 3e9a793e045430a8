//! The registry: every connector the daemon can route to, by the name accounts use in config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plugin::loader::{self, Declaration};
use super::plugin::PluginConnector;
use super::sandbox::Sandbox;
use super::stripe::Stripe;
use super::Connector;
use crate::lua::Budget;

#[derive(Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    plugins: Vec<Arc<PluginConnector>>,
    plugin_dir: Option<(PathBuf, Budget)>,
    /// The plugins whose files did not load: the accounts that use one are out of service.
    broken: BTreeSet<String>,
}

/// What a reload asks of a new version of a plugin before it serves: the problems that keep it
/// out (credentials the accounts using it do not have), none when it fits.
pub type Fits<'a> = &'a dyn Fn(&Declaration) -> Vec<String>;

impl Registry {
    /// The built-in connectors, calling out through `http`. `public_url` is how customers'
    /// browsers reach this daemon, for connectors whose pages it serves itself.
    pub fn builtin(public_url: &str, http: reqwest::Client) -> Self {
        let mut registry =
            Self { connectors: BTreeMap::new(), plugins: Vec::new(), plugin_dir: None, broken: BTreeSet::new() };
        registry.add(Arc::new(Sandbox::new(public_url)));
        registry.add(Arc::new(Stripe::new(http)));
        registry
    }

    /// Adds the connector plugins in `dir`. Returns, for each file that did not load, why; such
    /// a file is simply not a connector.
    pub fn with_plugins(
        mut self,
        dir: &Path,
        limits: Budget,
        http: reqwest::Client,
        public_url: &str,
    ) -> (Self, Vec<String>) {
        let (plugins, failed) = loader::load_dir(dir, limits);
        let mut errors = Vec::with_capacity(failed.len());
        for (name, error) in failed {
            self.broken.insert(name);
            errors.push(error);
        }
        for plugin in plugins {
            let name = plugin.declaration.name.clone();
            if self.connectors.contains_key(name.as_str()) {
                errors.push(format!("{}: `{name}` is a built-in connector", plugin.path.display()));
                continue;
            }
            let connector = Arc::new(PluginConnector::new(plugin, limits, http.clone(), public_url));
            self.plugins.push(connector.clone());
            self.add(connector);
        }
        self.plugin_dir = Some((dir.to_path_buf(), limits));
        (self, errors)
    }

    /// Reads the plugin folder again: a plugin whose file loads and `fits` serves its new version;
    /// one whose file does not, or that does not fit, keeps its old one — what a start would
    /// refuse, a reload does not take. A new plugin needs a restart to be added.
    pub fn reload_plugins(&self, fits: Fits<'_>) {
        let Some((dir, limits)) = &self.plugin_dir else { return };
        let (plugins, failed) = loader::load_dir(dir, *limits);
        let refused = |error: &str| {
            tracing::error!(%error, "plugin refused; its previous version keeps serving");
            metrics::counter!("switchyard_script_reloads_total", "kind" => "plugin", "result" => "refused")
                .increment(1);
        };
        for (_, error) in failed {
            refused(&error);
        }
        for plugin in plugins {
            let (name, hash) = (plugin.declaration.name.clone(), plugin.hash.clone());
            let problems = fits(&plugin.declaration);
            if !problems.is_empty() {
                refused(&format!("{}: {}", plugin.path.display(), problems.join("; ")));
                continue;
            }
            match self.plugins.iter().find(|p| p.name() == name) {
                Some(current) if current.hash() == hash => {}
                Some(current) => {
                    let _ = current.replace(plugin);
                    tracing::info!(plugin = %name, %hash, "plugin loaded");
                    metrics::counter!("switchyard_script_reloads_total", "kind" => "plugin", "result" => "loaded")
                        .increment(1);
                }
                None => tracing::warn!(plugin = %name, "a new plugin is added at the next start"),
            }
        }
    }

    fn add(&mut self, connector: Arc<dyn Connector>) {
        self.connectors.insert(connector.name(), connector);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }

    /// Whether `name` is a plugin whose file did not load.
    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.connectors.keys().copied().collect()
    }
}
