//! What every request handler shares, and what one request holds. `AppState` is the payment
//! core and the edge's own settings (request limits); cloning it clones one `Arc`. `pin` gives
//! each request the configuration version serving when it arrived, and names it in the
//! `x-config-version` answer header; the request's authentication and its handler (a `Call`)
//! both run on that version, whatever is swapped in meanwhile.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};

use crate::config::Config;
use crate::payments::{Context, Core};
use crate::snapshot::Snapshot;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Arc<Core>,
    pub config: Config,
    /// Where payers' browsers reach the daemon: `server.public_url`, else the address it listens on.
    pub public_url: String,
}

impl AppState {
    pub fn new(core: Arc<Core>, config: Config, public_url: String) -> Self {
        Self(Arc::new(Shared { core, config, public_url }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The answer header naming the configuration version a request ran on.
pub static CONFIG_VERSION: HeaderName = HeaderName::from_static("x-config-version");

/// Pins the version serving now to the request; returns its name, for the `CONFIG_VERSION`
/// header of the answer.
pub fn pin(state: &AppState, request: &mut Request) -> Option<HeaderValue> {
    let snapshot = state.core.live.load();
    let version = HeaderValue::from_str(snapshot.version.as_str()).ok();
    request.extensions_mut().insert(snapshot);
    version
}

/// The version `pin` gave the request.
pub fn snapshot(parts: &Parts, state: &AppState) -> Arc<Snapshot> {
    // Every route is behind `pin`; loading the version now is only a fallback.
    parts.extensions.get::<Arc<Snapshot>>().cloned().unwrap_or_else(|| state.core.live.load())
}

/// One request's payment core, on the version it was pinned to.
pub struct Call {
    pub core: Context,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Call { core: state.core.on(snapshot(parts, state)) })
    }
}
