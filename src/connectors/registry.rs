//! The registry: every connector the daemon can route to, by the name accounts use in config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use super::plugin::PluginConnector;
use super::plugin::{fixtures, loader};
use super::sandbox::Sandbox;
use super::stripe::Stripe;
use super::Connector;
use crate::lua::Budget;

/// The connectors of one configuration version.
#[derive(Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    plugins: Vec<Arc<PluginConnector>>,
    /// The plugins whose files did not load, with no earlier version to serve instead: the
    /// accounts that use one are out of service.
    broken: BTreeSet<String>,
}

/// A plugin file that did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The plugin, as its file is named.
    pub name: String,
    pub error: String,
    /// Whether an earlier version of it serves instead.
    pub kept: bool,
}

impl Registry {
    /// The built-in connectors, calling out through `http`. `public_url` is how customers'
    /// browsers reach this daemon, for connectors whose pages it serves itself.
    pub fn builtin(public_url: &str, http: reqwest::Client) -> Self {
        let mut registry = Self { connectors: BTreeMap::new(), plugins: Vec::new(), broken: BTreeSet::new() };
        registry.add(Arc::new(Sandbox::new(public_url)));
        registry.add(Arc::new(Stripe::new(http, public_url)));
        registry
    }

    /// Adds the connector plugins in `dir`. A plugin unchanged since `previous` is the same
    /// connector, its access tokens and worker states kept; a file that does not load serves
    /// its version in `previous` if there is one, and is answered among the refused.
    pub fn with_plugins(
        mut self,
        dir: &Path,
        limits: Budget,
        http: reqwest::Client,
        public_url: &str,
        previous: Option<&Registry>,
    ) -> (Self, Vec<Refused>) {
        let earlier = |name: &str| previous.and_then(|r| r.plugins.iter().find(|p| p.name() == name));
        let (plugins, failed) = loader::load_dir(dir, limits);
        let mut refused = Vec::with_capacity(failed.len());
        for (name, error) in failed {
            let kept = previous.and_then(|r| r.plugins.iter().find(|p| p.path().file_stem() == Some(name.as_ref())));
            match kept {
                Some(plugin) => self.add_plugin(plugin.clone()),
                None => drop(self.broken.insert(name.clone())),
            }
            refused.push(Refused { name, error, kept: kept.is_some() });
        }
        for plugin in plugins {
            let name = plugin.declaration.name.clone();
            if self.connectors.contains_key(name.as_str()) {
                let error =
                    format!("{}: `{name}` is a built-in connector or another plugin's name", plugin.path.display());
                refused.push(Refused { name, error, kept: false });
                continue;
            }
            let connector = match earlier(&name) {
                Some(same) if same.hash() == plugin.hash => same.clone(),
                Some(older) => Arc::new(older.next_version(plugin).expect("a version of the plugin of that name")),
                None => Arc::new(PluginConnector::new(plugin, limits, http.clone(), public_url)),
            };
            // A version whose own fixtures fail is refused as one that does not load is; the
            // version serving (the same one, when only its fixtures changed) serves on.
            if let Err(error) = fixtures::verify(&connector) {
                let kept = earlier(&name);
                match kept {
                    Some(earlier) => self.add_plugin(earlier.clone()),
                    None => drop(self.broken.insert(name.clone())),
                }
                refused.push(Refused { name, error, kept: kept.is_some() });
                continue;
            }
            self.add_plugin(connector);
        }
        (self, refused)
    }

    fn add_plugin(&mut self, plugin: Arc<PluginConnector>) {
        self.plugins.push(plugin.clone());
        self.add(plugin);
    }

    /// Each plugin serving, by name, with the hash of its version.
    pub fn plugin_versions(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.plugins.iter().map(|p| (p.name(), p.hash()))
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
