//! Group commit for SQLite. With `synchronous = FULL`, every commit waits for its own fsync of
//! the write-ahead log, one after another on the single writing connection, and the disk's
//! flush rate caps the daemon's. Here the writer commits with `synchronous = NORMAL` (written to
//! the log, not yet flushed) and each writer then waits for one fsync of the log that began
//! after its commit: one flush serves every commit made while the previous one ran, and none
//! holds the writing connection. A write is answered only once it is on disk, as with `FULL`.
//!
//! The log file stays the same file for as long as the daemon runs: SQLite deletes it only when
//! its last connection closes, and the store keeps its connections open.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

pub struct WalSync {
    /// Held by the one flush under way; others wait for it, then see whether it served them.
    log: Mutex<Arc<std::fs::File>>,
    /// Commits counted so far; each is in the log (not yet flushed, perhaps) before it counts.
    committed: AtomicU64,
    /// Every commit up to this count is on disk.
    flushed: AtomicU64,
    #[cfg(test)]
    flushes: AtomicU64,
}

impl WalSync {
    /// Follows the write-ahead log of the SQLite database at `db`, which must be in WAL mode.
    pub fn open(db: &Path) -> io::Result<Self> {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        let log = std::fs::File::open(path)?;
        Ok(Self {
            log: Mutex::new(Arc::new(log)),
            committed: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            #[cfg(test)]
            flushes: AtomicU64::new(0),
        })
    }

    /// Returns once the commit just made is on disk.
    pub async fn flushed(&self) -> io::Result<()> {
        let mine = self.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let log = self.log.lock().await;
        if self.flushed.load(Ordering::Acquire) >= mine {
            return Ok(());
        }
        // Every commit counted by now was written before this flush begins, so it covers them.
        let upto = self.committed.load(Ordering::Acquire);
        let file = Arc::clone(&log);
        tokio::task::spawn_blocking(move || file.sync_data()).await.map_err(io::Error::other)??;
        #[cfg(test)]
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flushed.store(upto, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_made_while_a_flush_runs_share_the_next_one() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("s.db");
        std::fs::write(dir.path().join("s.db-wal"), b"log").unwrap();
        let sync = Arc::new(WalSync::open(&db).unwrap());

        // Hold the flush lock, as a flush under way does, while 50 commits arrive.
        let held = sync.log.lock().await;
        let waiting: Vec<_> = (0..50)
            .map(|_| {
                let sync = Arc::clone(&sync);
                tokio::spawn(async move { sync.flushed().await })
            })
            .collect();
        while sync.committed.load(Ordering::Acquire) < 50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sync.flushed.load(Ordering::Acquire), 0, "nothing is flushed while the lock is held");
        drop(held);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        // The first to take the lock flushed for all 50; the others found themselves covered.
        assert_eq!(sync.flushed.load(Ordering::Acquire), 50);
        assert_eq!(sync.flushes.load(Ordering::Relaxed), 1);

        // A commit after that flush is not covered by it: it makes a flush of its own.
        sync.flushed().await.unwrap();
        assert_eq!(sync.flushed.load(Ordering::Acquire), 51);
        assert_eq!(sync.flushes.load(Ordering::Relaxed), 2);
    }
}
