//! The one thread that writes to a SQLite database. SQLite takes one writer at a time, so a
//! write is sent here whole and runs on this thread's own connection: one hop between threads
//! per write, rather than one per statement as through a pool.
//!
//! Writes that arrive while a commit is under way are committed together, in one transaction
//! and so one flush of the write-ahead log (group commit); a write undone (a condition not met,
//! a duplicate key) leaves the others. A write is answered once its transaction is on disk
//! (`synchronous = FULL`).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, Connection, OpenFlags, PrepFlags};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::write::{Bound, Statement, Write};
use super::{sqlite_wal, Result, StoreError};

/// The most writes one transaction takes, so that a long queue is answered in steps.
const MOST_PER_COMMIT: usize = 256;

/// How long a write waits for another process holding the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Answer = oneshot::Sender<rusqlite::Result<bool>>;

enum Command {
    Write(Write, Answer),
    /// Closes the connection, and so ends the thread, once the writes sent before are done.
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(super) struct SqliteWriter {
    commands: mpsc::Sender<Command>,
}

impl SqliteWriter {
    /// Starts the writing thread for the SQLite file at `path`, which must exist, in WAL mode.
    pub(super) fn open(path: &Path) -> Result<Self> {
        sqlite_wal::register()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags_and_vfs(path, flags, sqlite_wal::NAME)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")?;
        let (commands, queue) = mpsc::channel();
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || serve(conn, queue))?;
        Ok(Self { commands })
    }

    /// Runs `write`; false when one of its conditions stopped it. It runs to the end even if
    /// the caller stops waiting.
    pub(super) async fn write(&self, write: Write) -> Result<bool> {
        let (answer, answered) = oneshot::channel();
        self.commands.send(Command::Write(write, answer)).map_err(|_| StoreError::Closed)?;
        Ok(answered.await.map_err(|_| StoreError::Closed)??)
    }

    /// Waits for the writes sent so far, then closes the connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

/// What one turn of the writing thread does: writes to commit together, and perhaps then close.
#[derive(Default)]
struct Batch {
    writes: Vec<(Write, Answer)>,
    close: Option<oneshot::Sender<()>>,
}

/// Waits for a command, then takes every one already queued behind it, up to a close or to
/// `MOST_PER_COMMIT` writes. None once every sender is gone.
fn next_batch(queue: &mpsc::Receiver<Command>) -> Option<Batch> {
    let first = queue.recv().ok()?;
    let mut batch = Batch::default();
    for command in std::iter::once(first).chain(queue.try_iter()) {
        match command {
            Command::Write(write, answer) => batch.writes.push((write, answer)),
            Command::Close(done) => {
                batch.close = Some(done);
                break;
            }
        }
        if batch.writes.len() == MOST_PER_COMMIT {
            break;
        }
    }
    Some(batch)
}

fn serve(conn: Connection, queue: mpsc::Receiver<Command>) {
    let mut writing = Writing::new(&conn);
    while let Some(Batch { writes, close }) = next_batch(&queue) {
        let outcomes = commit(&mut writing, writes.iter().map(|(write, _)| write));
        for ((_, answer), outcome) in writes.into_iter().zip(outcomes) {
            // A caller that stopped waiting has nothing to be told.
            let _ = answer.send(outcome);
        }
        if let Some(done) = close {
            drop(writing);
            drop(conn);
            let _ = done.send(());
            return;
        }
    }
}

/// A statement compiled once and kept, with the value each of its placeholders takes.
struct Compiled<'c> {
    statement: rusqlite::Statement<'c>,
    /// For each placeholder, in SQLite's order, the index of its value among the statement's:
    /// SQLite numbers `$n` placeholders in the order they first appear, not by `n`.
    values: Vec<usize>,
}

/// More texts than the writes use: a bound, should some be made with lists of any length.
const MOST_COMPILED: usize = 256;

/// The writing connection and the statements it has compiled, by their text. rusqlite's own
/// cache would copy the text into a new key, hash it twice and look up every placeholder's name
/// on each use.
struct Writing<'c> {
    conn: &'c Connection,
    compiled: FxHashMap<Box<str>, Compiled<'c>>,
    /// SQLite's data version of the database as the last transaction left it, which changes
    /// when another connection commits: the write-ahead log is told whether one has
    /// (`sqlite_wal::begin`).
    version: Option<u32>,
}

impl<'c> Writing<'c> {
    fn new(conn: &'c Connection) -> Self {
        Self { conn, compiled: FxHashMap::default(), version: None }
    }

    /// Begins a transaction that holds the write lock from the start.
    fn begin(&mut self) -> rusqlite::Result<()> {
        sqlite_wal::starting(self.conn);
        self.control("BEGIN IMMEDIATE")?;
        let version = self.data_version();
        sqlite_wal::begin(self.conn, version.is_some() && version == self.version);
        Ok(())
    }

    /// Ends the transaction with `sql` (`COMMIT` or `ROLLBACK`), and notes the data version it
    /// leaves.
    fn end(&mut self, sql: &'static str) -> rusqlite::Result<()> {
        let ended = self.control(sql);
        self.version = self.data_version();
        ended
    }

    fn data_version(&self) -> Option<u32> {
        let mut version: u32 = 0;
        let rc = unsafe {
            ffi::sqlite3_file_control(
                self.conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_DATA_VERSION,
                (&mut version as *mut u32).cast(),
            )
        };
        (rc == ffi::SQLITE_OK).then_some(version)
    }

    fn compiled(&mut self, sql: &str) -> rusqlite::Result<&mut Compiled<'c>> {
        if !self.compiled.contains_key(sql) {
            if self.compiled.len() == MOST_COMPILED {
                self.compiled.clear();
            }
            let statement = self.conn.prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?;
            let values = (1..=statement.parameter_count())
                .map(|index| {
                    let name = statement.parameter_name(index).unwrap_or_default();
                    let number = name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok());
                    number
                        .and_then(|n| n.checked_sub(1))
                        .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.into()))
                })
                .collect::<rusqlite::Result<_>>()?;
            self.compiled.insert(sql.into(), Compiled { statement, values });
        }
        Ok(self.compiled.get_mut(sql).expect("compiled above"))
    }

    /// Runs a statement that steers the transaction: the same few on every write, so they are
    /// compiled once and kept, like the writes' own statements.
    fn control(&mut self, sql: &'static str) -> rusqlite::Result<()> {
        self.compiled(sql)?.statement.raw_execute().map(drop)
    }

    /// Runs a statement of a write; how many rows it changed.
    fn execute(&mut self, statement: &Statement) -> rusqlite::Result<usize> {
        let Compiled { statement: compiled, values } = self.compiled(&statement.sql)?;
        for (index, &value) in values.iter().enumerate() {
            let value = match statement.value(value) {
                Some(Bound::Text(Some(text))) => ValueRef::Text(text.as_bytes()),
                Some(Bound::Int(Some(n))) => ValueRef::Integer(n),
                Some(Bound::Text(None) | Bound::Int(None)) => ValueRef::Null,
                None => return Err(rusqlite::Error::InvalidParameterCount(statement.len(), value + 1)),
            };
            compiled.raw_bind_parameter(index + 1, ToSqlOutput::Borrowed(value))?;
        }
        compiled.raw_execute()
    }
}

/// Applies `writes` in one transaction and gives each its outcome.
///
/// Nearly every batch applies whole, so it is run straight through first. A savepoint per write
/// costs SQLite two more statements and a copy of each page the write touches; only when a write
/// does not apply is that run undone and the batch run again with each write in a savepoint of
/// its own, which undoes that write alone.
fn commit<'a, I>(conn: &mut Writing, writes: I) -> Vec<rusqlite::Result<bool>>
where
    I: ExactSizeIterator<Item = &'a Write> + Clone,
{
    let count = writes.len();
    if count == 0 {
        return Vec::new();
    }
    match straight(conn, writes.clone()) {
        Ok(None) => (0..count).map(|_| Ok(true)).collect(),
        // A write alone in its transaction was undone with it.
        Ok(Some(outcome)) if count == 1 => vec![outcome],
        Ok(Some(_)) => one_by_one(conn, writes),
        Err(e) => failed(count, &e),
    }
}

/// Runs `writes` in one transaction and commits it if every one applies. Otherwise undoes the
/// transaction and gives the outcome of the first write that did not apply.
fn straight<'a>(
    conn: &mut Writing,
    writes: impl Iterator<Item = &'a Write>,
) -> rusqlite::Result<Option<rusqlite::Result<bool>>> {
    conn.begin()?;
    for write in writes {
        let outcome = run(conn, write);
        if !matches!(outcome, Ok(true)) {
            rollback(conn)?;
            return Ok(Some(outcome));
        }
    }
    if let Err(e) = conn.end("COMMIT") {
        rollback(conn)?;
        return Err(e);
    }
    Ok(None)
}

/// Runs `writes` in one transaction, each in a savepoint of its own.
fn one_by_one<'a>(conn: &mut Writing, writes: impl ExactSizeIterator<Item = &'a Write>) -> Vec<rusqlite::Result<bool>> {
    let count = writes.len();
    if let Err(e) = conn.begin() {
        return failed(count, &e);
    }
    let mut outcomes = Vec::with_capacity(count);
    for write in writes {
        match apply(conn, write) {
            // Some errors (a full disk, say) make SQLite roll the whole transaction back, and
            // the writes before this one with it.
            Ok(outcome) if !conn.conn.is_autocommit() => outcomes.push(outcome),
            Ok(Err(e)) | Err(e) => {
                let _ = rollback(conn);
                return failed(count, &e);
            }
            Ok(Ok(_)) => {
                return failed(
                    count,
                    &rusqlite::Error::SqliteFailure(
                        ffi::Error::new(ffi::SQLITE_ABORT),
                        Some("the transaction was rolled back".into()),
                    ),
                )
            }
        }
    }
    match conn.end("COMMIT") {
        Ok(()) => outcomes,
        Err(e) => {
            let _ = rollback(conn);
            failed(count, &e)
        }
    }
}

/// Each of `count` writes failing with `e`, as when their transaction fails as a whole.
fn failed(count: usize, e: &rusqlite::Error) -> Vec<rusqlite::Result<bool>> {
    (0..count).map(|_| Err(copy(e))).collect()
}

/// Undoes the transaction under way, if an error has not already.
fn rollback(conn: &mut Writing) -> rusqlite::Result<()> {
    if conn.conn.is_autocommit() {
        return Ok(());
    }
    // Frames gathered for the log and never flushed are this transaction's own; written now, while
    // the write lock is held, they cannot land over a later writer's.
    let wrote = sqlite_wal::write_out(conn.conn);
    conn.end("ROLLBACK")?;
    wrote
}

/// Applies one write inside a savepoint, undoing it unless it applied. The outer error is one the
/// transaction cannot go on after.
fn apply(conn: &mut Writing, write: &Write) -> rusqlite::Result<rusqlite::Result<bool>> {
    conn.control("SAVEPOINT write")?;
    let outcome = run(conn, write);
    if !matches!(outcome, Ok(true)) {
        conn.control("ROLLBACK TO write")?;
    }
    conn.control("RELEASE write")?;
    Ok(outcome)
}

fn run(conn: &mut Writing, write: &Write) -> rusqlite::Result<bool> {
    for statement in &write.statements {
        let changed = conn.execute(statement)?;
        if statement.guard && changed != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The same error again, for each write of a transaction that failed as a whole.
fn copy(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::write::Statement;
    use rusqlite::OpenFlags;

    fn database() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)",
        )
        .unwrap();
        (dir, conn)
    }

    fn insert(id: &str, n: i64) -> Write {
        Write::of(Statement::new("INSERT INTO t (id, n, note) VALUES ($1, $2, $3)").bind(id).bind(n).bind(None::<&str>))
    }

    fn rows(conn: &Connection) -> Vec<(String, i64)> {
        let mut select = conn.prepare("SELECT id, n FROM t ORDER BY id").unwrap();
        select.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
    }

    /// A database in a folder on the disk the build is on (a file system in memory may refuse
    /// direct writes), with a writing connection on the write-ahead log's VFS.
    fn logged() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        sqlite_wal::register().unwrap();
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::TempDir::new_in(base).unwrap();
        let path = dir.path().join("w.db");
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags_and_vfs(&path, flags, sqlite_wal::NAME).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)",
        )
        .unwrap();
        (dir, path, conn)
    }

    /// `logged`, and another connection, on the default VFS, with a table of its own holding
    /// `(1, v)`; the log emptied, so that the writing connection's next commit begins a cycle.
    fn beginning(v: i64) -> (tempfile::TempDir, std::path::PathBuf, Connection, Connection) {
        let (dir, path, conn) = logged();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("CREATE TABLE s (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)").unwrap();
        other.execute("INSERT INTO s (k, v) VALUES (1, ?1)", [v]).unwrap();
        checkpoint(&conn, "TRUNCATE");
        (dir, path, conn, other)
    }

    fn wrote(conn: &mut Writing, writes: &[Write]) {
        let outcomes = commit(conn, writes.iter());
        assert!(outcomes.iter().all(|o| matches!(o, Ok(true))), "{outcomes:?}");
    }

    /// Four commits of `writing` and a checkpoint of the cycle they began; then `other` empties
    /// the log, to begin a cycle of its own.
    fn ours_then_emptied(writing: &mut Writing, conn: &Connection, other: &Connection) {
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            wrote(writing, &[insert(id, i as i64)]);
        }
        checkpoint(conn, "PASSIVE");
        checkpoint(other, "TRUNCATE");
    }

    fn checkpoint(conn: &Connection, mode: &str) -> i64 {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(1)).unwrap()
    }

    /// Frames in the log, as a connection on the default VFS wrote them (whole frames only).
    fn frames(path: &std::path::Path) -> u64 {
        let size = std::fs::metadata(path.with_extension("db-wal")).unwrap().len();
        size.saturating_sub(32) / (24 + 4096)
    }

    /// What every connection finds: `t`'s rows, `s`'s value, and an intact database; then the
    /// same once all are closed and the database is opened afresh, its log recovered.
    fn assert_found(path: &std::path::Path, ids: &[&str], v: i64) {
        let check = |conn: &Connection| {
            let ids_found: Vec<String> = rows(conn).into_iter().map(|(id, _)| id).collect();
            assert_eq!(ids_found, ids);
            assert_eq!(conn.query_row("SELECT v FROM s WHERE k = 1", [], |r| r.get::<_, i64>(0)).unwrap(), v);
            let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(integrity, "ok");
        };
        check(&Connection::open(path).unwrap());
    }

    #[test]
    fn the_log_written_direct_reads_back_whole_through_its_cycles() {
        let (_dir, path, conn, other) = beginning(0);
        conn.execute_batch("PRAGMA wal_autocheckpoint = 16").unwrap();
        let mut writing = Writing::new(&conn);
        let note = "x".repeat(700);
        let ids: Vec<String> = (0..300).map(|i| format!("k{i:03}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let write = Statement::new("INSERT INTO t (id, n, note) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(i as i64)
                .bind(note.as_str());
            wrote(&mut writing, &[Write::of(write)]);
        }
        let (written, read) = sqlite_wal::direct_counts(&conn).expect("the log is written direct");
        assert!(written > 100, "commits went direct: {written}");
        assert!(read > 100, "checkpoints read the frames they copied from the image: {read}");
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_found(&path, &ids, 0);
        drop(writing);
        drop((conn, other));
        assert_found(&path, &ids, 0);
    }

    /// Another connection begins a new cycle of the log and commits until it ends exactly where
    /// this connection's last commit ended: the block the next commit starts in holds the other
    /// connection's frame, not what the image held there.
    #[test]
    fn a_commit_after_another_connections_cycle_keeps_that_cycles_frames() {
        let (_dir, path, conn, other) = beginning(0);
        let mut writing = Writing::new(&conn);
        wrote(&mut writing, &[insert("a", 1)]);
        wrote(&mut writing, &[insert("b", 2)]);
        let ours = checkpoint(&conn, "PASSIVE") as u64;

        checkpoint(&other, "TRUNCATE");
        let mut v = 0;
        while frames(&path) < ours {
            other.execute("UPDATE s SET v = v + 1 WHERE k = 1", []).unwrap();
            v += 1;
        }
        assert_eq!(frames(&path), ours, "the other connection's cycle ends where ours did");

        wrote(&mut writing, &[insert("c", 3)]);
        assert_found(&path, &["a", "b", "c"], v);
        drop(writing);
        drop((conn, other));
        assert_found(&path, &["a", "b", "c"], v);
    }

    /// After another connection begins a new cycle, a checkpoint of this connection copies that
    /// cycle's frames from the file, not the image of its own.
    #[test]
    fn a_checkpoint_after_another_connections_cycle_copies_that_cycles_frames() {
        let (_dir, path, conn, other) = beginning(0);
        let mut writing = Writing::new(&conn);
        ours_then_emptied(&mut writing, &conn, &other);
        for _ in 0..3 {
            other.execute("UPDATE s SET v = v + 1 WHERE k = 1", []).unwrap();
        }
        checkpoint(&conn, "PASSIVE");
        assert_found(&path, &["a", "b", "c", "d"], 3);
        drop(writing);
        drop((conn, other));
        assert_found(&path, &["a", "b", "c", "d"], 3);
    }

    /// After a checkpoint of this connection, another connection begins a new cycle that holds the
    /// database's first page: the next transaction's start reads that page from the file, not the
    /// image of the cycle before.
    #[test]
    fn a_transaction_after_another_connections_cycle_starts_from_that_cycles_pages() {
        let (_dir, path, conn, other) = beginning(0);
        let mut writing = Writing::new(&conn);
        ours_then_emptied(&mut writing, &conn, &other);
        // A row too large for its page: the file grows, and the first page with it.
        other.execute("INSERT INTO s (k, v) VALUES (2, length(?1))", ["z".repeat(5000)]).unwrap();
        other.execute_batch("CREATE TABLE u (x)").unwrap();
        wrote(&mut writing, &[insert("e", 4)]);
        assert_found(&path, &["a", "b", "c", "d", "e"], 0);
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'u'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 1);
        drop(writing);
        drop((conn, other));
        assert_found(&path, &["a", "b", "c", "d", "e"], 0);
    }

    /// A transaction larger than the page cache writes frames before its commit and writes some
    /// of them again: what a later write rounds out to whole blocks is the file's own.
    #[test]
    fn frames_written_again_in_one_transaction_leave_the_ones_after_them_whole() {
        let (_dir, path, conn, other) = beginning(7);
        conn.execute_batch("PRAGMA cache_size = 10").unwrap();
        let mut writing = Writing::new(&conn);
        wrote(&mut writing, &[insert("a", 0)]);
        let mut write = Write::new();
        for i in 0..400 {
            write.then(
                Statement::new("INSERT INTO t (id, n, note) VALUES ($1, $2, $3)")
                    .bind(&format!("m{i:03}"))
                    .bind(i)
                    .bind("y".repeat(300).as_str()),
            );
        }
        for i in 0..400 {
            write.then(Statement::new("UPDATE t SET n = n + 1000 WHERE id = $1").bind(&format!("m{i:03}")));
        }
        wrote(&mut writing, &[write]);
        let mut ids = vec!["a".to_string()];
        ids.extend((0..400).map(|i| format!("m{i:03}")));
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_found(&path, &ids, 7);
        assert!(rows(&conn).iter().skip(1).all(|(_, n)| *n >= 1000));
        drop(writing);
        drop((conn, other));
        assert_found(&path, &ids, 7);
    }

    /// The options `.cargo/config.toml` builds SQLite with, as the library reports them.
    #[test]
    fn sqlite_is_built_with_no_global_lock_around_page_caches_or_allocations() {
        let conn = Connection::open_in_memory().unwrap();
        let mut pragma = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = pragma.query_map([], |r| r.get(0)).unwrap().map(|o| o.unwrap()).collect();
        assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    }

    #[test]
    fn writes_committed_together_keep_their_own_outcomes() {
        let (_dir, conn) = database();
        conn.execute("INSERT INTO t (id, n) VALUES ('a', 1)", []).unwrap();

        // A compare-and-set that finds `a` at 1, one that does not find `a` at 5 (its insert is
        // undone with it), a duplicate key, and a write after them all.
        let mut moved = Write::only(
            Statement::new("UPDATE t SET n = $2 WHERE id = $1 AND n = $3").bind("a").bind(2_i64).bind(1_i64),
        );
        moved.then(Statement::new("INSERT INTO t (id, n) VALUES ($1, 1)").bind("b"));
        let mut stale = Write::only(
            Statement::new("UPDATE t SET n = $2 WHERE id = $1 AND n = $3").bind("a").bind(9_i64).bind(5_i64),
        );
        stale.then(Statement::new("INSERT INTO t (id, n) VALUES ($1, 1)").bind("c"));
        let writes = [moved, stale, insert("b", 7), insert("d", 4)];

        let outcomes = commit(&mut Writing::new(&conn), writes.iter());
        assert!(matches!(outcomes[0], Ok(true)), "{:?}", outcomes[0]);
        assert!(matches!(outcomes[1], Ok(false)), "{:?}", outcomes[1]);
        let duplicate = outcomes[2].as_ref().unwrap_err();
        assert!(StoreError::Sqlite(copy(duplicate)).is_unique_violation(), "{duplicate}");
        assert!(matches!(outcomes[3], Ok(true)), "{:?}", outcomes[3]);
        assert!(conn.is_autocommit(), "the transaction is over");
        assert_eq!(rows(&conn), [("a".into(), 2), ("b".into(), 1), ("d".into(), 4)]);
    }

    #[test]
    fn a_write_alone_in_its_transaction_is_undone_whole_when_it_stops_or_fails() {
        let (_dir, conn) = database();
        conn.execute("INSERT INTO t (id, n) VALUES ('a', 1)", []).unwrap();

        // A condition not met after an insert: the insert is undone with it.
        let mut stale = Write::of(Statement::new("INSERT INTO t (id, n) VALUES ($1, 1)").bind("b"));
        stale.only_if(Statement::new("UPDATE t SET n = $2 WHERE id = $1 AND n = $3").bind("a").bind(9_i64).bind(5_i64));
        assert!(matches!(commit(&mut Writing::new(&conn), [stale].iter())[..], [Ok(false)]));
        // A duplicate key after an insert: the write fails, and its insert is undone too.
        let mut duplicate = Write::of(Statement::new("INSERT INTO t (id, n) VALUES ($1, 1)").bind("c"));
        duplicate.then(Statement::new("INSERT INTO t (id, n) VALUES ($1, 1)").bind("a"));
        let outcomes = commit(&mut Writing::new(&conn), [duplicate].iter());
        assert!(StoreError::Sqlite(copy(outcomes[0].as_ref().unwrap_err())).is_unique_violation());

        assert!(conn.is_autocommit(), "the transaction is over");
        assert_eq!(rows(&conn), [("a".into(), 1)]);
        assert!(matches!(commit(&mut Writing::new(&conn), [insert("d", 4)].iter())[..], [Ok(true)]));
        assert_eq!(rows(&conn), [("a".into(), 1), ("d".into(), 4)]);
    }

    #[test]
    fn placeholders_take_their_values_by_number_not_by_order_of_appearance() {
        let (_dir, conn) = database();
        let write = Write::of(Statement::new("INSERT INTO t (n, id) VALUES ($2, $1)").bind("x").bind(3_i64));
        assert!(matches!(commit(&mut Writing::new(&conn), [write].iter())[0], Ok(true)));
        assert_eq!(rows(&conn), [("x".into(), 3)]);
    }

    #[test]
    fn a_statement_missing_a_value_fails_its_write_whichever_time_it_runs() {
        let (_dir, conn) = database();
        let mut writing = Writing::new(&conn);
        let short = || Write::of(Statement::new("INSERT INTO t (id, n) VALUES ($1, $2)").bind("x"));
        for _ in 0..2 {
            let outcomes = commit(&mut writing, [short()].iter());
            assert!(matches!(outcomes[0], Err(rusqlite::Error::InvalidParameterCount(1, 2))), "{outcomes:?}");
        }
        let whole = Write::of(Statement::new("INSERT INTO t (id, n) VALUES ($1, $2)").bind("y").bind(5_i64));
        assert!(matches!(commit(&mut writing, [whole].iter())[0], Ok(true)));
        assert_eq!(rows(&conn), [("y".into(), 5)]);
    }

    #[test]
    fn a_transaction_that_cannot_begin_fails_every_write_in_it() {
        let (dir, conn) = database();
        conn.busy_timeout(Duration::ZERO).unwrap();
        // Another connection holds the write lock.
        let other = Connection::open(dir.path().join("w.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writes = [insert("p", 1), insert("q", 2)];
        let outcomes = commit(&mut Writing::new(&conn), writes.iter());
        assert!(outcomes.iter().all(|o| o.is_err()), "{outcomes:?}");
        other.execute_batch("ROLLBACK").unwrap();
        assert!(rows(&conn).is_empty());
    }

    #[test]
    fn writes_queued_behind_one_another_are_committed_together_up_to_a_bound() {
        let (commands, queue) = mpsc::channel();
        let send = |id: String| {
            let (answer, _) = oneshot::channel();
            commands.send(Command::Write(insert(&id, 0), answer)).unwrap();
        };
        (0..MOST_PER_COMMIT + 3).for_each(|i| send(format!("w{i}")));
        let (done, _) = oneshot::channel();
        commands.send(Command::Close(done)).unwrap();
        send("after close".into());

        let full = next_batch(&queue).unwrap();
        assert_eq!((full.writes.len(), full.close.is_some()), (MOST_PER_COMMIT, false));
        let rest = next_batch(&queue).unwrap();
        assert_eq!((rest.writes.len(), rest.close.is_some()), (3, true), "the rest, then the close");
        assert_eq!(rest.writes[0].0.statements[0].value(0), Some(Bound::Text(Some("w256"))));
        drop(commands);
        assert_eq!(next_batch(&queue).map(|b| b.writes.len()), Some(1));
        assert!(next_batch(&queue).is_none(), "no sender is left");
    }

    #[tokio::test]
    async fn concurrent_writes_all_land_and_a_closed_writer_refuses_more() {
        let (dir, _conn) = database();
        let writer = SqliteWriter::open(&dir.path().join("w.db")).unwrap();
        let sent: Vec<_> = (0..100)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write(insert(&format!("k{i:03}"), i)).await })
            })
            .collect();
        for write in sent {
            assert!(write.await.unwrap().unwrap());
        }
        // A caller that stops waiting does not stop its write.
        let _ = tokio::time::timeout(Duration::ZERO, writer.write(insert("k100", 100))).await;
        writer.close().await;
        assert!(matches!(writer.write(insert("late", 0)).await, Err(StoreError::Closed)));
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let stored = rows(&conn);
        assert_eq!(stored.len(), 101);
        assert!(stored.iter().enumerate().all(|(i, (id, n))| *id == format!("k{i:03}") && *n == i as i64));
    }
}
