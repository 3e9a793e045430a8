//! The registry: every connector the daemon can route to, by the name accounts use in config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plugin::{loader, PluginConnector};
use super::sandbox::Sandbox;
use super::stripe::Stripe;
use super::Connector;
use crate::lua::Limits;

#[derive(Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    plugins: Vec<Arc<PluginConnector>>,
    plugin_dir: Option<(PathBuf, Limits)>,
}

impl Registry {
    /// The built-in connectors, calling out through `http`. `public_url` is how customers'
    /// browsers reach this daemon, for connectors whose pages it serves itself.
    pub fn builtin(public_url: &str, http: reqwest::Client) -> Self {
        let mut registry = Self { connectors: BTreeMap::new(), plugins: Vec::new(), plugin_dir: None };
        registry.add(Arc::new(Sandbox::new(public_url)));
        registry.add(Arc::new(Stripe::new(http)));
        registry
    }

    /// Adds the connector plugins in `dir`. Returns, for each file that did not load, why; such
    /// a file is simply not a connector.
    pub fn with_plugins(
        mut self,
        dir: &Path,
        limits: Limits,
        http: reqwest::Client,
        public_url: &str,
    ) -> (Self, Vec<String>) {
        let (plugins, mut errors) = loader::load_dir(dir, limits);
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

    /// Reads the plugin folder again: a plugin whose file loads serves its new version; one whose
    /// file does not keeps its old one. A new plugin needs a restart to be added.
    pub fn reload_plugins(&self) {
        let Some((dir, limits)) = &self.plugin_dir else { return };
        let (plugins, errors) = loader::load_dir(dir, *limits);
        for error in errors {
            tracing::error!(%error, "plugin refused; its previous version keeps serving");
            metrics::counter!("switchyard_script_reloads_total", "kind" => "plugin", "result" => "refused")
                .increment(1);
        }
        for plugin in plugins {
            let (name, hash) = (plugin.declaration.name.clone(), plugin.hash.clone());
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

    pub fn names(&self) -> Vec<&'static str> {
        self.connectors.keys().copied().collect()
    }
}
