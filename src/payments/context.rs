//! What the payment core works with, and on whose behalf. A `Context` is built once by the
//! program from a configuration and shared by every call; a `Scope` names the merchant and
//! profile a call acts for — the API's authentication produces it from a key, the reconciler
//! from the record it settles. A client-side call holds no scope; it shows the object's client
//! secret instead (`client_secret`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::config::PaymentsConfig;
use crate::connectors::Registry;
use crate::events::Outbox;
use crate::ids::IdMinter;
use crate::limits::Limits;
use crate::merchants::Directory;
use crate::payments::error::{Error, Result};
use crate::routing::Decider;
use crate::store::Store;
use crate::vault::Vault;

/// The parts the payment flows call on.
pub struct Context {
    pub store: Store,
    pub registry: Registry,
    pub directory: Arc<Directory>,
    pub decider: Arc<Decider>,
    pub limits: Arc<Limits>,
    pub ids: IdMinter,
    pub vault: Vault,
    pub events: Outbox,
    pub settings: PaymentsConfig,
    /// How long the HTTP client lets one provider call take (`http.request_timeout_ms`): all
    /// that bounds a refund's call.
    pub call_timeout_ms: u64,
}

/// The merchant a call acts for, and the one of its profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub merchant_id: String,
    pub profile_id: String,
}

impl Scope {
    pub fn new(merchant_id: impl Into<String>, profile_id: impl Into<String>) -> Self {
        Self { merchant_id: merchant_id.into(), profile_id: profile_id.into() }
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
