//! What the payment core works with, and on whose behalf. A `Core` is built once by the program
//! and shared by every call; a `Context` is one call's view of it, with the configuration
//! version (`Snapshot`) the call runs on from its start to its end. A `Scope` names the
//! merchant a call acts for and, when known, the profile — the API's authentication produces it
//! from a key, the reconciler from the record it settles. A client-side call shows an object's
//! client secret instead (`client_secret`), and acts in that object's scope.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::config::PaymentsConfig;
use crate::events::Outbox;
use crate::ids::IdMinter;
use crate::payments::error::{Error, Result};
use crate::routing::Decider;
use crate::snapshot::{Live, Snapshot};
use crate::store::Store;
use crate::vault::Vault;

/// The parts the payment flows call on that do not change while the daemon runs.
pub struct Core {
    pub store: Store,
    /// The configuration version serving now.
    pub live: Live,
    pub decider: Decider,
    pub ids: IdMinter,
    pub vault: Vault,
    pub events: Outbox,
    pub settings: PaymentsConfig,
    /// How long the HTTP client lets one provider call take (`http.request_timeout_ms`): all
    /// that bounds a refund's call.
    pub call_timeout_ms: u64,
}

impl Core {
    /// A call on the version serving now.
    pub fn now(self: &Arc<Self>) -> Context {
        self.on(self.live.load())
    }

    /// A call on `snapshot`, the version its caller started on.
    pub fn on(self: &Arc<Self>, snapshot: Arc<Snapshot>) -> Context {
        Context { core: self.clone(), snapshot }
    }
}

/// One call's view of the core: the parts, and the configuration version it runs on.
#[derive(Clone)]
pub struct Context {
    core: Arc<Core>,
    pub snapshot: Arc<Snapshot>,
}

impl Deref for Context {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// The merchant a call acts for, and the one of its profiles when the call names one. Without
/// a profile, a call on an existing object acts in the object's profile, and a call that makes
/// a new one, or lists a profile's, is refused (`ProfileNotNamed`): nothing says which profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub merchant_id: String,
    pub profile_id: Option<String>,
}

impl Scope {
    pub fn new(merchant_id: impl Into<String>, profile_id: impl Into<String>) -> Self {
        Self { merchant_id: merchant_id.into(), profile_id: Some(profile_id.into()) }
    }

    /// A scope over every profile of the merchant.
    pub fn merchant(merchant_id: impl Into<String>) -> Self {
        Self { merchant_id: merchant_id.into(), profile_id: None }
    }

    /// The profile of a call that cannot go without one: one making an object, or listing a
    /// profile's.
    pub fn profile_needed(&self) -> Result<&str> {
        self.profile_id.as_deref().ok_or(Error::ProfileNotNamed)
    }

    /// Whether an object of `profile_id` is within this scope.
    pub fn covers(&self, profile_id: &str) -> bool {
        self.profile_id.as_deref().is_none_or(|p| p == profile_id)
    }
}

/// Checks the client secret a client presented for an object (`what`: "payment", …) whose
/// secret is `expected` and lapses at `expires_at`. Compared in constant time: a secret is the
/// only thing standing between a publishable key and the object.
pub fn client_secret(
    presented: Option<&str>,
    expected: &str,
    expires_at: DateTime<Utc>,
    what: &'static str,
) -> Result<()> {
    let presented = presented
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::ClientSecretInvalid("client_secret was not provided".into()))?;
    if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(Error::ClientSecretMismatch(what));
    }
    if Utc::now() >= expires_at {
        return Err(Error::ClientSecretInvalid(format!("the client_secret of this {what} has expired")));
    }
    Ok(())
}
