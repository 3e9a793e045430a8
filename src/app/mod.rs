//! The running daemon: the parts wired into the payment core and the API's state once, the live
//! configuration version and what reloads it, the listeners, the background tasks (webhook
//! delivery, the reconciler), and a clean stop.

pub mod check;
pub mod reload;
pub mod snapshot;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::state::AppState;
use crate::config::{Config, Problem};
use crate::events::delivery::Courier;
use crate::events::Outbox;
use crate::ids::IdMinter;
use crate::payments::Core;
use crate::routing::Decider;
use crate::shared::Shared;
use crate::snapshot::Live;
use crate::store::{Store, StoreError};
use crate::vault::Vault;
use reload::Reloader;
use snapshot::Inputs;
use watch::Watched;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the configuration has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Problem>),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot make the outbound HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("vault: {0}")]
    Vault(String),
}

/// A daemon serving on `addr` until `stop` (or its shutdown signal).
pub struct Running {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    /// The configuration version serving.
    pub live: Live,
    reloader: Arc<Reloader>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    store: Store,
    _watch: watch::Watch,
    /// The idle-key evictor, webhook delivery, the reconciler and the metrics listener: stopped
    /// with the daemon.
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Reads the configuration and the folders again, as a file change or SIGHUP does.
    pub async fn reload(&self) -> reload::Outcome {
        self.reloader.reload().await
    }

    /// Stops accepting, lets in-flight requests finish, and closes the database.
    pub async fn stop(self) {
        for task in &self.background {
            task.abort();
        }
        let _ = self.stop.send(());
        if let Ok(Err(e)) = self.task.await {
            tracing::error!(error = %e, "server stopped with an error");
        }
        self.store.close().await;
    }

    /// Serves until the task ends by itself (a signal handler sends `stop`, then `signalled`).
    /// From the signal on, requests under way have `grace` to finish; then the daemon stops
    /// anyway. Either way the store is closed last, its write-ahead log folded in.
    pub async fn wait(self, signalled: oneshot::Receiver<()>, grace: std::time::Duration) -> std::io::Result<()> {
        let mut task = self.task;
        let drained = async {
            match signalled.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            done = &mut task => done.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            () = drained => {
                tracing::warn!(?grace, "requests still under way after the shutdown grace; stopping anyway");
                task.abort();
                Ok(())
            }
        };
        for task in &self.background {
            task.abort();
        }
        self.store.close().await;
        result
    }

    pub fn stopper(&mut self) -> oneshot::Sender<()> {
        std::mem::replace(&mut self.stop, oneshot::channel().0)
    }
}

/// Validates the config, opens the store, binds the listener and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    if config.metrics.enabled {
        crate::telemetry::install();
    }
    let http = crate::connectors::http::client(&config.http)?;
    let budget = crate::lua::Budget::of(&config.lua);
    // Everything is checked before anything is opened.
    let shared = crate::shared::Shared::new(&config.shared)
        .map_err(|message| StartError::Config(vec![Problem { path: "shared".into(), message }]))?;
    let inputs = Inputs { public_url: config.public_url(), http: http.clone(), budget, shared: shared.clone() };
    let built = snapshot::build(&config, &inputs, None).map_err(StartError::Config)?;
    let addr = config
        .listen_addr()
        .map_err(|m| StartError::Config(vec![Problem { path: "server.listen".into(), message: m }]))?;
    let store = Store::connect(&config.database.url, config.database.max_connections).await?;
    let vault = open_vault(&config, &store, shared).await?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let public_url = if config.server.public_url.is_empty() { format!("http://{addr}") } else { config.public_url() };
    // With port 0 the real port is known only now, and connectors hand out links with it.
    let (built, inputs) = match public_url == inputs.public_url {
        true => (built, inputs),
        false => {
            let inputs = Inputs { public_url, ..inputs };
            (snapshot::build(&config, &inputs, None).map_err(StartError::Config)?, inputs)
        }
    };
    let version = built.snapshot.version.clone();
    let live = Live::new(built.snapshot);
    built.report.announce(&live.load(), None);
    if config.metrics.enabled {
        metrics::gauge!("switchyard_config_info", "version" => version.to_string()).set(1.0);
    }
    tracing::info!(%version, "configuration version serving");
    let sharing = inputs.shared.is_some();
    let public_url = inputs.public_url.clone();
    let reloader = Arc::new(Reloader {
        file: config.source.clone(),
        started: config.clone(),
        inputs,
        live: live.clone(),
        store: store.clone(),
        one_at_a_time: tokio::sync::Mutex::new(()),
    });
    let watched = Watched {
        file: config.source.clone(),
        folders: vec![config.paths.routing.clone(), config.paths.plugins.clone()],
    };
    let watch = {
        let reloader = reloader.clone();
        watch::start(watched, move || {
            let reloader = reloader.clone();
            async move { drop(reloader.reload().await) }
        })
    };
    let evictor = {
        let live = live.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(EVICT_EVERY).await;
                live.load().limits.evict_idle();
            }
        })
    };
    let ids = IdMinter::new(&config.payments.cell_id);
    let due = Arc::new(tokio::sync::Notify::new());
    let core = Arc::new(Core {
        store: store.clone(),
        live: live.clone(),
        decider: Decider::new(budget),
        ids: ids.clone(),
        vault,
        events: Outbox::new(ids, crate::api::types::EVENT_BODIES, due.clone()),
        settings: config.payments.clone(),
        call_timeout_ms: config.http.request_timeout_ms,
    });
    let courier =
        Courier { store: store.clone(), live: live.clone(), http, settings: config.outgoing_webhooks.clone(), due };
    let mut background = vec![evictor, crate::events::delivery::spawn(Arc::new(courier))];
    if sharing {
        let live = live.clone();
        // Between a daemon's own calls, what other daemons did to an account's health reaches
        // its routing scripts and `/health` within this long.
        background.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEALTH_REFRESH).await;
                let serving = live.load();
                for account in serving.directory.profiles().flat_map(|p| p.accounts.iter()) {
                    account.refresh().await;
                }
            }
        }));
    }
    if config.reconciler.enabled {
        background.push(crate::payments::reconcile::spawn(core.clone(), config.reconciler.clone()));
    }
    let state = AppState::new(core, config, public_url);
    let admin = match (state.config.metrics.enabled, state.config.metrics.listen.as_str()) {
        (true, listen) if !listen.is_empty() => {
            let listener = TcpListener::bind(listen).await?;
            let addr = listener.local_addr()?;
            let app = crate::telemetry::metrics_router(live.clone());
            tracing::info!(%addr, "metrics listening");
            // The same limits as the API's; it runs until the daemon stops and aborts it.
            let server = state.config.server.clone();
            let serving = async move {
                let (_, drained) = crate::api::deadline::tracker();
                let _ = crate::server::serve(listener, "metrics", app, &server, drained, std::future::pending()).await;
            };
            Some((addr, tokio::spawn(serving)))
        }
        _ => None,
    };
    let (work, drained) = crate::api::deadline::tracker();
    let server = state.config.server.clone();
    let app = crate::api::router(state, work);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        crate::server::serve(listener, "api", app, &server, drained, stopped).await
    });
    tracing::info!(%addr, "switchyard listening");
    let metrics_addr = admin.as_ref().map(|(addr, _)| *addr);
    background.extend(admin.map(|(_, task)| task));
    Ok(Running { addr, metrics_addr, live, reloader, stop, task, store, _watch: watch, background })
}

/// How often a daemon reads the shared health of every connector account.
const HEALTH_REFRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// How often rate limiters forget idle keys.
const EVICT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The vault for the configured key. A database that holds sealed cards must be opened with the
/// key that sealed them: without a key, or with another one, the daemon does not start. With
/// `shared`, volatile methods' security codes are kept there.
async fn open_vault(config: &Config, store: &Store, shared: Option<Arc<Shared>>) -> Result<Vault, StartError> {
    let key = match &config.vault.key {
        None => None,
        Some(value) => {
            let key = value.resolve().and_then(|k| crate::vault::parse_key(k.expose()));
            Some(key.map_err(|e| StartError::Vault(format!("vault.key {e}")))?)
        }
    };
    let vault = Vault::new(key, config.vault.cvc_ttl_secs, shared);
    let check = match store.vault_key_check().await? {
        // The first start with a key seals the check.
        None if vault.has_key() => {
            let sealed = vault.key_check().map_err(|e| StartError::Vault(e.to_string()))?;
            Some(store.keep_vault_key_check(&sealed).await?)
        }
        check => check,
    };
    match (vault.has_key(), check) {
        (false, _) if store.sealed_cards().await? > 0 => {
            Err(StartError::Vault("the database holds saved cards, but no vault.key is configured to open them".into()))
        }
        (false, _) => Ok(vault),
        (true, Some(check)) if !vault.opens_key_check(&check) => {
            Err(StartError::Vault("vault.key is not the key this database's saved cards are sealed with".into()))
        }
        (true, _) => Ok(vault),
    }
}
