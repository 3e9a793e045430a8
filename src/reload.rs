//! Live reload of the files the daemon runs (routing scripts, connector plugins): a watcher on
//! each folder and SIGHUP both trigger a reload, run off the request path. Bursts of file events
//! (an editor writing a file in several steps) are gathered into one reload.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a burst of file events may take before the reload starts.
const SETTLE: Duration = Duration::from_millis(150);

/// Keeps the watcher and its tasks alive; dropping it stops them.
pub struct Reloader {
    _watcher: Option<notify::RecommendedWatcher>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Reloader {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a reload does; it runs on a blocking thread.
pub type Reload = Arc<dyn Fn() + Send + Sync>;

/// Starts watching `dir` and listening for SIGHUP, running `reload` on either. A folder that
/// cannot be watched (it does not exist) leaves SIGHUP as the only trigger, with a warning.
pub fn start(dir: &std::path::Path, reload: Reload) -> Reloader {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watch_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = watch_tx.send(());
        }
    })
    .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w));
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the folder; reload with SIGHUP");
            None
        }
    };
    let mut tasks = vec![tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            let reload = reload.clone();
            let _ = tokio::task::spawn_blocking(move || reload()).await;
        }
    })];
    #[cfg(unix)]
    let shown = dir.display().to_string();
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tasks.push(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!(dir = %shown, "SIGHUP: reloading");
                let _ = tx.send(());
            }
        }));
    }
    Reloader { _watcher: watcher, tasks }
}
