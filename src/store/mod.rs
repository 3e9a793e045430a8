//! Durable storage for payments: SQLite (WAL) by default, PostgreSQL when the URL says so, with
//! one code path for both. Reads go through sqlx's `Any` driver; writes are described once, as
//! data, and run by either database's writer. Queries are checked at run time, so building
//! needs no database.
//!
//! Every state change is a compare-and-set on the intent's status (or on its refunded amount),
//! so two requests racing on one payment can never both win, on either database, without locks
//! held across a connector call.
//!
//! Every write is one [`write::Write`]: its statements, as data, run as one transaction.
//! SQLite takes one writer at a time and makes the others sleep and retry, which turns
//! contention into long stalls; so on SQLite all writes go to one thread with its own connection
//! (`sqlite_writer`), where they queue in order and commit in groups, and reads use the pool.
//! PostgreSQL writes through the whole pool.

mod customers;
mod events;
mod payment_method_sessions;
mod payment_methods;
mod payments;
mod query;
mod rechecks;
mod refunds;
mod sqlite_direct;
mod sqlite_wal;
mod sqlite_writer;
mod write;

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use events::{AfterTry, EventFilter};
pub use payments::{
    AttemptKey, Cursor, DecisionFilter, IntentFilter, IntentOrder, IntentUpdate, SortOn, StoredDecision, TimeBounds,
};
pub use rechecks::{Recheck, Unfinished, Unsettled};
pub use refunds::{RefundFilter, RefundKey};

/// A connector account as the profile it belongs to has it: what a provider's notification is
/// about is looked for among that account's own payments and refunds only.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub merchant_id: &'a str,
    pub profile_id: &'a str,
    pub connector_account: &'a str,
}
use sqlite_writer::SqliteWriter;
use write::{Json, Statement, Write};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Duplicate(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store is closed")]
    Closed,
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot prepare the database location: {0}")]
    Location(#[from] std::io::Error),
    #[error("there is no database at {0}: the daemon makes it when it first starts")]
    Missing(String),
    #[error("the database holds no payments table: the daemon has not prepared it")]
    NotPrepared,
}

impl StoreError {
    /// Whether a write broke a unique key.
    fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(
                    e.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
            }
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    /// Reads, and writes on PostgreSQL.
    pool: AnyPool,
    /// SQLite's writing thread.
    sqlite_writer: Option<SqliteWriter>,
}

impl Store {
    /// Opens the database at `url`, creating a SQLite file (and its folder) when needed, and
    /// brings its schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let file = sqlite_file(url);
        let url = prepare_sqlite_location(url)?;
        let sqlite = url.starts_with("sqlite:");
        if sqlite && file.is_none() {
            return Err(StoreError::Location(std::io::Error::other(
                "SQLite needs a database file (an in-memory database is not supported)",
            )));
        }
        // A SQLite connection is a thread of this process and cannot be lost on the way: checking
        // it before each use would only cost one more round trip to that thread.
        let options = match sqlite {
            true => AnyPoolOptions::new().test_before_acquire(false).min_connections(1).idle_timeout(None),
            false => AnyPoolOptions::new(),
        };
        let pool = options.max_connections(max_connections).connect(&url).await?;
        let mut store = Self { pool, sqlite_writer: None };
        // PostgreSQL keeps daemons that start together from migrating at once (sqlx holds an
        // advisory lock); SQLite has no such lock, so a daemon starting beside another on a new
        // file can find the other's tables made under it, or the file locked. It tries again,
        // and finds the schema made.
        let mut tries = 1;
        loop {
            match store.prepare(sqlite).await {
                Err(e) if sqlite && tries < 10 => {
                    tracing::debug!(error = %e, "preparing the database again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                    tries += 1;
                }
                prepared => break prepared?,
            }
        }
        store.sqlite_writer = file.map(|file| SqliteWriter::open(Path::new(file))).transpose()?;
        Ok(store)
    }

    /// Brings the schema up to date.
    async fn prepare(&self, sqlite: bool) -> Result<()> {
        if sqlite {
            // WAL lets readers proceed while a payment is written; the mode sticks to the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&self.pool).await?;
        }
        sqlx::migrate!("./migrations").run(&self.pool).await?;
        Ok(())
    }

    /// Opens a database that must exist already and hold switchyard's tables, without migrating
    /// it; SQLite files are opened read-only. For tools that only look.
    pub async fn open_existing(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if let Some(file) = sqlite_file(url).filter(|file| !Path::new(file).exists()) {
            return Err(StoreError::Missing(file.to_string()));
        }
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=ro", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
        if sqlx::query("SELECT 1 FROM payment_intents LIMIT 1").fetch_optional(&pool).await.is_err() {
            pool.close().await;
            return Err(StoreError::NotPrepared);
        }
        Ok(Self { pool, sqlite_writer: None })
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Row `id` of `table`, if merchant `merchant_id` owns it, read with `from_row`.
    async fn find_owned<T>(
        &self,
        table: &str,
        columns: &str,
        id: &str,
        merchant_id: &str,
        from_row: fn(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = sqlx::query(&format!("SELECT {columns} FROM {table} WHERE id = $1 AND merchant_id = $2"))
            .bind(id)
            .bind(merchant_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Runs `write` as one transaction; false when one of its conditions stopped it, leaving
    /// nothing changed. It is on disk when this returns.
    async fn write(&self, write: Write) -> Result<bool> {
        match &self.sqlite_writer {
            Some(writer) => writer.write(write).await,
            None => write.run_in(&self.pool).await,
        }
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// The file of a SQLite URL; none for other databases and SQLite's in-memory ones.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory")).then_some(path)
}

/// SQLite wants the folder to exist and `mode=rwc` to create the file.
fn prepare_sqlite_location(url: &str) -> Result<String> {
    let Some(path) = sqlite_file(url) else {
        return Ok(url.to_string());
    };
    if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time_col(row: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    let ms: i64 = row.try_get(col)?;
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| StoreError::Corrupt(format!("{col} = {ms} is not a time")))
}

pub(crate) fn parse_col<T: FromStr<Err = String>>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    s.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn json_col<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))).transpose()
}
