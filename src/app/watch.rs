//! What sets off a reload: a change to the configuration file or to a file in the routing or
//! plugin folder, and SIGHUP. Events about anything else — a log file or a database beside the
//! configuration, say — are ignored. A burst of events (an editor writing a file in several
//! steps) is gathered into one reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long a burst of file events may take before the reload starts.
const SETTLE: Duration = Duration::from_millis(150);

/// What the daemon loads from disk, and so watches.
pub struct Watched {
    /// The configuration file, if the configuration came from one.
    pub file: Option<PathBuf>,
    /// The routing and plugin folders: any file in them.
    pub folders: Vec<PathBuf>,
}

/// Whether a file event at `path` is about the configuration `file` or a file in `folders`.
fn concerns(path: &Path, file: Option<&Path>, folders: &[PathBuf]) -> bool {
    file.is_some_and(|f| f == path) || path.parent().is_some_and(|parent| folders.iter().any(|f| f == parent))
}

/// Keeps the watcher and its tasks alive; dropping it stops them.
pub struct Watch {
    _watcher: Option<notify::RecommendedWatcher>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The absolute form of `path` as the watcher reports it (symbolic links resolved); `path` as
/// it is when it does not exist.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Watches what `watched` names and listens for SIGHUP, running `reload` after either, one
/// reload at a time. A folder that cannot be watched leaves SIGHUP to reload it, with a warning.
pub fn start<F, Fut>(watched: Watched, reload: F) -> Watch
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let due = Arc::new(Notify::new());
    let file = watched.file.as_deref().map(|f| {
        let folder = absolute(f.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
        folder.join(f.file_name().unwrap_or_default())
    });
    let folders: Vec<PathBuf> = watched.folders.iter().map(|f| absolute(f)).collect();
    let mut to_watch: Vec<PathBuf> = folders.clone();
    to_watch.extend(file.as_deref().and_then(Path::parent).map(Path::to_path_buf));
    to_watch.sort();
    to_watch.dedup();
    let notify_due = due.clone();
    let (seen_file, seen_folders) = (file.clone(), folders.clone());
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !event.kind.is_access() && event.paths.iter().any(|p| concerns(p, seen_file.as_deref(), &seen_folders)) {
            notify_due.notify_one();
        }
    });
    let watcher = match watcher {
        Ok(mut watcher) => {
            for path in &to_watch {
                if let Err(e) = watcher.watch(path, RecursiveMode::NonRecursive) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot watch; reload with SIGHUP");
                }
            }
            Some(watcher)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP");
            None
        }
    };
    let reloads = due.clone();
    let mut tasks = vec![tokio::spawn(async move {
        loop {
            reloads.notified().await;
            tokio::time::sleep(SETTLE).await;
            reload().await;
        }
    })];
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tasks.push(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                due.notify_one();
            }
        }));
    }
    Watch { _watcher: watcher, tasks }
}
