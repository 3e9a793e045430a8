//! The database a test's daemons run on, and what tests read of it directly. By default it is a
//! SQLite file in the test's folder. With `SWITCHYARD_TEST_POSTGRES` set to a PostgreSQL server's
//! URL (`scripts/with-postgres` sets it), each test folder gets a fresh database of its own on
//! that server instead, so the whole suite runs on either.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use sqlx::{AnyConnection, Connection};

/// Names a PostgreSQL server (as a URL a superuser connects with) to run the tests on.
pub const POSTGRES: &str = "SWITCHYARD_TEST_POSTGRES";

/// The URL of the PostgreSQL server the tests run on, if they do.
pub fn postgres() -> Option<String> {
    std::env::var(POSTGRES).ok().filter(|url| !url.is_empty())
}

/// Whether the tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres().is_some()
}

/// Tells why a test that only means something on SQLite does not run, and whether it should.
pub fn sqlite_only(why: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
        return false;
    }
    true
}

/// The databases made for test folders so far: one folder, one database, as with SQLite files.
static MADE: LazyLock<Mutex<HashMap<PathBuf, String>>> = LazyLock::new(Mutex::default);

/// The database URL for a test whose files go in `dir`: `switchyard.db` there, or the
/// PostgreSQL database made for `dir` (made on first asking). Safe to call from inside a
/// runtime: the database is made on a thread of its own.
pub fn database_url(dir: &Path) -> String {
    let Some(server) = postgres() else {
        return format!("sqlite://{}", dir.join("switchyard.db").display());
    };
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    made.entry(dir.to_path_buf())
        .or_insert_with(|| std::thread::spawn(move || create_database(&server)).join().expect("database made"))
        .clone()
}

/// Makes a database with a fresh name on the server at `server` and returns its URL.
fn create_database(server: &str) -> String {
    let name = format!("sy_{:016x}", rand::random::<u64>());
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let (scheme, rest) = base.split_once("://").unwrap_or_else(|| panic!("{POSTGRES} is not a URL: {server}"));
    let authority = rest.split('/').next().unwrap_or_default();
    let url = match query {
        "" => format!("{scheme}://{authority}/{name}"),
        query => format!("{scheme}://{authority}/{name}?{query}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(server).await.unwrap_or_else(|e| panic!("{POSTGRES}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("CREATE DATABASE");
        admin.close().await.ok();
    });
    url
}

/// A connection to the database at `url`.
pub async fn connect(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.unwrap_or_else(|e| panic!("the database at {url} opens: {e}"))
}

/// A connection to look at what the daemons stored: read-only on SQLite, whose file a test may
/// share with a running daemon.
pub async fn open(url: &str) -> AnyConnection {
    match url.starts_with("sqlite:") {
        true => connect(&format!("{url}{}mode=ro", if url.contains('?') { '&' } else { '?' })).await,
        false => connect(url).await,
    }
}

/// Rows in `table`.
pub async fn count(url: &str, table: &str) -> i64 {
    let mut conn = open(url).await;
    let n = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut conn).await.expect("count");
    conn.close().await.ok();
    n
}

/// Everything the database at `url` holds, as (where, bytes): on SQLite, the file with its
/// write-ahead log and other companions, byte for byte (deleted rows and free pages included);
/// on PostgreSQL, every value of every row of every table, as text.
pub async fn contents(url: &str) -> Vec<(String, Vec<u8>)> {
    if let Some(file) = url.strip_prefix("sqlite://") {
        let file = file.split('?').next().unwrap_or_default();
        let found: Vec<(String, Vec<u8>)> = ["", "-wal", "-shm", "-journal"]
            .iter()
            .filter_map(|suffix| {
                let path = format!("{file}{suffix}");
                std::fs::read(&path).ok().map(|bytes| (path, bytes))
            })
            .collect();
        assert!(!found.is_empty(), "no database file at {file}");
        return found;
    }
    let mut conn = open(url).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            .fetch_all(&mut conn)
            .await
            .expect("the tables");
    assert!(!tables.is_empty(), "no tables in {url}");
    let mut found = Vec::new();
    for table in tables {
        // Each column's value as its own text, so a document in a column reads as it was stored.
        let values: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT v.value FROM \"{table}\" t, json_each_text(row_to_json(t)) v WHERE v.value IS NOT NULL"
        ))
        .fetch_all(&mut conn)
        .await
        .expect("the rows");
        found.push((format!("table {table}"), values.join("\n").into_bytes()));
    }
    conn.close().await.ok();
    found
}

/// Whether `haystack` holds `needle`.
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts that none of `stored` holds any of `secrets`.
pub fn assert_hold_none_of(stored: &[(String, Vec<u8>)], secrets: &[&str], when: &str) {
    for (place, bytes) in stored {
        for secret in secrets {
            assert!(!holds(bytes, secret), "{place} holds a secret{when}: {}…", &secret[..secret.len().min(6)]);
        }
    }
}
