//! The live snapshot: everything an operator edits while the daemon runs — merchants, their
//! keys and profiles, connector accounts, rate limits, routing scripts and connector plugins —
//! as one immutable version. A new version is built and checked off the request path and
//! swapped in whole; a request holds the version it started on to its end, so no request ever
//! sees half of one change.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Problem;
use crate::connectors::Registry;
use crate::limits::Limits;
use crate::merchants::Directory;
use crate::routing::scripts::ScriptSet;

/// A version of what serves: a keyed hash of its configuration, scripts and plugins, the same
/// for the same content on every daemon that shares the hash secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(Arc<str>);

impl Version {
    pub fn new(hex: impl Into<Arc<str>>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version's text, shared: what each payment it routes records, with no copy made.
    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One version of everything an operator edits.
pub struct Snapshot {
    pub version: Version,
    pub directory: Directory,
    pub registry: Registry,
    pub scripts: Arc<ScriptSet>,
    pub limits: Limits,
    /// What keeps this version from serving everything it configures: accounts whose plugin
    /// did not load, profiles whose routing script did not. Empty when all is ready.
    pub unready: Vec<Problem>,
}

/// The snapshot serving now. Reading it is a lock-free load; replacing it leaves every holder
/// of the old one on the old one.
#[derive(Clone)]
pub struct Live(Arc<ArcSwap<Snapshot>>);

impl Live {
    pub fn new(first: Snapshot) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(first)))
    }

    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Serves `next` from now on; answers the version it replaces.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        self.0.swap(Arc::new(next))
    }
}
