//! The registry: every connector the daemon can route to, by the name accounts use in config.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sandbox::Sandbox;
use super::stripe::Stripe;
use super::Connector;

#[derive(Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
}

impl Registry {
    /// The built-in connectors, calling out through `http`. `public_url` is how customers'
    /// browsers reach this daemon, for connectors whose pages it serves itself.
    pub fn builtin(public_url: &str, http: reqwest::Client) -> Self {
        let mut registry = Self { connectors: BTreeMap::new() };
        registry.add(Arc::new(Sandbox::new(public_url)));
        registry.add(Arc::new(Stripe::new(http)));
        registry
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
