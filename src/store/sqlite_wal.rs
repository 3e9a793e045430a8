//! How the writing thread's connection writes SQLite's write-ahead log: a commit's frames are
//! gathered in memory and written in one call when the log is flushed to disk, rather than two
//! calls a frame (its header, then its page) as SQLite makes them, and where the system takes it,
//! past the page cache (`sqlite_direct`). Each call into the kernel costs more than the bytes it
//! copies, and each page the kernel writes back costs more than the disk's own copy.
//!
//! It is a VFS over the system's default one that differs only for write-ahead log files. Every
//! other call on such a file (a read, a flush, its size, a truncation) writes out what is
//! gathered first, so SQLite finds the file as if each write had been made at once. SQLite
//! promises nothing of bytes it has not flushed, and no other connection reads frames before the
//! commit that flushed them, so holding them until the flush changes nothing it counts on. Frames
//! gathered but never flushed belong to a transaction that is undone: the writing thread writes
//! them out before it lets go of the write lock (`write_out`), so that no later writer's frames
//! can be overwritten by them.

use std::ffi::{c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use rusqlite::{ffi, Connection};

use super::sqlite_direct::{self, Direct};

/// The VFS's name, to open a connection with.
pub(super) const NAME: &str = "switchyard-wal";
const C_NAME: &CStr = c"switchyard-wal";

/// The most bytes gathered before they are written anyway: some thirty 4 KiB frames. The default
/// VFS writes less than 128 KiB in one call, all SQLite ever asks of it.
const MOST_GATHERED: usize = 120 << 10;

/// The system's default VFS, which does the work.
static INNER: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(null_mut());

/// Registers the VFS, once per process.
pub(super) fn register() -> rusqlite::Result<()> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    let rc = *REGISTERED.get_or_init(|| unsafe {
        let inner = ffi::sqlite3_vfs_find(null());
        if inner.is_null() {
            return ffi::SQLITE_ERROR;
        }
        INNER.store(inner, Ordering::Release);
        let mut vfs = *inner;
        vfs.szOsFile = (LOG_FILE + (*inner).szOsFile as usize) as c_int;
        vfs.pNext = null_mut();
        vfs.zName = C_NAME.as_ptr();
        vfs.xOpen = Some(open);
        ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0)
    });
    match rc {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(format!("registering the {NAME} VFS")))),
    }
}

/// Tells `conn`'s write-ahead log that a transaction is about to begin.
pub(super) fn starting(conn: &Connection) {
    if let Some(direct) = unsafe { direct_of(conn) } {
        direct.starting();
    }
}

/// Tells `conn`'s write-ahead log that a transaction has begun; `alone` when no other connection
/// has committed since the connection's previous one.
pub(super) fn begin(conn: &Connection, alone: bool) {
    if let Some(direct) = unsafe { direct_of(conn) } {
        direct.begin(alone);
    }
}

/// Where `conn`'s write-ahead log is written direct.
unsafe fn direct_of<'a>(conn: &Connection) -> Option<&'a mut Direct> {
    log_of(conn).and_then(|log| log.direct.as_mut())
}

/// How many writes of `conn`'s write-ahead log went direct, and how many reads its image
/// answered; None when it is not written direct.
#[cfg(test)]
pub(super) fn direct_counts(conn: &Connection) -> Option<(usize, usize)> {
    unsafe { direct_of(conn) }.map(|direct| direct.counts)
}

/// Writes out what `conn`'s write-ahead log has gathered. Called before the connection undoes a
/// transaction, while it still holds the write lock.
pub(super) fn write_out(conn: &Connection) -> rusqlite::Result<()> {
    match unsafe { log_of(conn).map(|log| log.write_out()) } {
        None | Some(ffi::SQLITE_OK) => Ok(()),
        Some(rc) => Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None)),
    }
}

/// The write-ahead log `conn` has open on this VFS, if it has one.
unsafe fn log_of<'a>(conn: &Connection) -> Option<&'a mut LogFile> {
    let mut file: *mut ffi::sqlite3_file = null_mut();
    let rc = ffi::sqlite3_file_control(
        conn.handle(),
        c"main".as_ptr(),
        ffi::SQLITE_FCNTL_JOURNAL_POINTER,
        (&mut file as *mut *mut ffi::sqlite3_file).cast(),
    );
    // A connection on another VFS, or one with no log open yet, has none.
    if rc != ffi::SQLITE_OK || file.is_null() || !std::ptr::eq((*file).pMethods, &METHODS) {
        return None;
    }
    Some(log(file))
}

/// A write-ahead log file as SQLite holds it: this, then the default VFS's own file object.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    gathered: Vec<u8>,
    /// Where in the file `gathered` starts.
    at: i64,
    /// Where the log is written past the page cache.
    direct: Option<Direct>,
    /// How many writes reached the default VFS.
    #[cfg(test)]
    writes: usize,
}

/// Where the default VFS's file object starts within ours.
const LOG_FILE: usize = std::mem::size_of::<LogFile>().next_multiple_of(16);

impl LogFile {
    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // Set by the default VFS's open, which succeeded, and kept until close.
        unsafe { &*(*self.real).pMethods }
    }

    unsafe fn write_out(&mut self) -> c_int {
        if self.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let direct = self.direct.as_mut().map(|direct| direct.write(&self.gathered, self.at as usize));
        let rc = match direct {
            Some(Ok(true)) => ffi::SQLITE_OK,
            written => {
                if let Some(Err(e)) = written {
                    // The file system took the log's opening but not its writes: the page cache
                    // from here on.
                    tracing::warn!(error = %e, "the write-ahead log cannot be written direct; writing it through the page cache");
                    self.direct = None;
                }
                let write = self.methods().xWrite.expect("a VFS file writes");
                write(self.real, self.gathered.as_ptr().cast(), self.gathered.len() as c_int, self.at)
            }
        };
        self.gathered.clear();
        #[cfg(test)]
        {
            self.writes += 1;
        }
        rc
    }
}

unsafe fn log<'a>(file: *mut ffi::sqlite3_file) -> &'a mut LogFile {
    &mut *file.cast::<LogFile>()
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner = INNER.load(Ordering::Acquire);
    let open = (*inner).xOpen.expect("a VFS opens files");
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        return open(inner, name, file, flags, out_flags);
    }
    let real = file.cast::<u8>().add(LOG_FILE).cast::<ffi::sqlite3_file>();
    let rc = open(inner, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
            close(real);
        }
        (*file).pMethods = null();
        return rc;
    }
    let path = std::os::unix::ffi::OsStrExt::from_bytes(CStr::from_ptr(name).to_bytes());
    file.cast::<LogFile>().write(LogFile {
        base: ffi::sqlite3_file { pMethods: &METHODS },
        real,
        gathered: Vec::new(),
        at: 0,
        direct: Direct::open(std::path::Path::new::<std::ffi::OsStr>(path)),
        #[cfg(test)]
        writes: 0,
    });
    ffi::SQLITE_OK
}

/// A write-ahead log needs only the first version's methods: SQLite maps and shares memory
/// through the database file, never its log.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    let log = log(file);
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amount as usize);
    let follows = offset == log.at + log.gathered.len() as i64;
    if !follows || log.gathered.len() + bytes.len() > MOST_GATHERED {
        let rc = log.write_out();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        log.at = offset;
    }
    if bytes.len() > MOST_GATHERED {
        return (log.methods().xWrite.expect("a VFS file writes"))(log.real, data, amount, offset);
    }
    log.gathered.extend_from_slice(bytes);
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let log = log(file);
    let wrote = log.write_out();
    let closed = (log.methods().xClose.expect("a VFS file closes"))(log.real);
    std::ptr::drop_in_place(&mut log.gathered);
    std::ptr::drop_in_place(&mut log.direct);
    if wrote != ffi::SQLITE_OK {
        wrote
    } else {
        closed
    }
}

/// Each of these writes out what is gathered, then does what the default VFS does.
macro_rules! after_write_out {
    ($($name:ident($($arg:ident: $ty:ty),*) => $method:ident;)*) => {$(
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            let log = log(file);
            let rc = log.write_out();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            (log.methods().$method.expect(concat!("a VFS file has ", stringify!($method))))(log.real, $($arg),*)
        }
    )*};
}

/// A read of the log: from the image where it stands for the file (first checking, after a
/// commit, that the file's header still names the image's cycle), else from the file.
unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, data: *mut c_void, amount: c_int, offset: i64) -> c_int {
    let log = log(file);
    let rc = log.write_out();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let read = log.methods().xRead.expect("a VFS file reads");
    if let Some(direct) = log.direct.as_mut() {
        if direct.unchecked() {
            let mut header = [0u8; sqlite_direct::HEADER];
            let rc = read(log.real, header.as_mut_ptr().cast(), header.len() as c_int, 0);
            direct.checked(if rc == ffi::SQLITE_OK { &header } else { &[] });
        }
        if direct.read(std::slice::from_raw_parts_mut(data.cast(), amount as usize), offset as usize) {
            return ffi::SQLITE_OK;
        }
    }
    read(log.real, data, amount, offset)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let log = log(file);
    let mut rc = log.write_out();
    if rc == ffi::SQLITE_OK {
        rc = (log.methods().xSync.expect("a VFS file syncs"))(log.real, flags);
    }
    if let (ffi::SQLITE_OK, Some(direct)) = (rc, log.direct.as_mut()) {
        direct.flushed();
    }
    rc
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let log = log(file);
    let mut rc = log.write_out();
    if rc == ffi::SQLITE_OK {
        rc = (log.methods().xTruncate.expect("a VFS file truncates"))(log.real, size);
    }
    if let Some(direct) = log.direct.as_mut() {
        direct.truncated(size.max(0) as usize);
    }
    rc
}

after_write_out! {
    file_size(size: *mut i64) => xFileSize;
    file_control(op: c_int, arg: *mut c_void) => xFileControl;
}

/// Each of these is the default VFS's own: they do not touch the file's bytes.
macro_rules! passed_on {
    ($($name:ident($($arg:ident: $ty:ty),*) => $method:ident;)*) => {$(
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            let log = log(file);
            (log.methods().$method.expect(concat!("a VFS file has ", stringify!($method))))(log.real, $($arg),*)
        }
    )*};
}

passed_on! {
    lock(level: c_int) => xLock;
    unlock(level: c_int) => xUnlock;
    check_reserved_lock(out: *mut c_int) => xCheckReservedLock;
    sector_size() => xSectorSize;
    device_characteristics() => xDeviceCharacteristics;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OpenFlags;

    fn open_on(path: &std::path::Path, vfs: Option<&str>) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = match vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs).unwrap(),
            None => Connection::open_with_flags(path, flags).unwrap(),
        };
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL").unwrap();
        conn
    }

    /// A new database with one table, and a connection to it on this VFS.
    fn database() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        register().unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("w.db");
        let writer = open_on(&path, Some(NAME));
        writer.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, note TEXT NOT NULL)").unwrap();
        (dir, path, writer)
    }

    fn assert_intact(conn: &Connection) {
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
    }

    fn rows(conn: &Connection) -> Vec<(i64, String)> {
        let mut select = conn.prepare("SELECT n, note FROM t ORDER BY n").unwrap();
        select.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
    }

    fn insert(conn: &Connection, from: i64, count: i64) {
        let mut insert = conn.prepare("INSERT INTO t (n, note) VALUES (?1, ?2)").unwrap();
        for n in from..from + count {
            insert.execute((n, "x".repeat(300))).unwrap();
        }
    }

    /// What a commit on the VFS wrote, read back by a connection on the default one, and by the
    /// VFS's own connection once reopened.
    #[test]
    fn a_commits_frames_go_in_one_write_and_are_all_there_for_other_connections_and_after_a_reopen() {
        let (_dir, path, writer) = database();
        writer.execute_batch("BEGIN").unwrap();
        insert(&writer, 0, 200);
        writer.execute_batch("COMMIT").unwrap();

        let reader = open_on(&path, None);
        assert_eq!(rows(&reader).len(), 200);
        let writes = || unsafe { log_of(&writer).unwrap().writes };
        let before = writes();
        writer.execute_batch("DELETE FROM t WHERE n % 2 = 0").unwrap();
        assert_eq!(writes() - before, 1, "the commit's frames, some twenty pages, in one write");
        assert_eq!(rows(&reader).len(), 100, "a later commit is seen too");
        drop((reader, writer));

        let again = open_on(&path, Some(NAME));
        let kept = rows(&again);
        assert_eq!(kept.len(), 100);
        assert!(kept.iter().all(|(n, note)| n % 2 == 1 && note.len() == 300));
        assert_intact(&again);
    }

    /// A transaction larger than the page cache writes frames before its commit; undone, those
    /// frames must not land later over what another connection committed in between.
    #[test]
    fn frames_of_an_undone_transaction_never_overwrite_a_later_writers() {
        let (dir, path, writer) = database();
        writer.execute_batch("PRAGMA cache_size = 10").unwrap();
        insert(&writer, 0, 10);

        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert(&writer, 100, 500);
        let log_size = || std::fs::metadata(dir.path().join("w.db-wal")).unwrap().len();
        let before = log_size();
        write_out(&writer).unwrap();
        assert!(log_size() > before, "the frames spilled last were gathered, and are written out now");
        writer.execute_batch("ROLLBACK").unwrap();

        let other = open_on(&path, None);
        insert(&other, 1000, 50);
        insert(&writer, 2000, 5);

        for conn in [&writer, &other] {
            let stored = rows(conn);
            assert_eq!(stored.len(), 65, "{:?}", &stored[..3]);
            assert!(stored.iter().all(|(n, _)| *n < 10 || (1000..1050).contains(n) || (2000..2005).contains(n)));
        }
        drop((writer, other));
        let again = open_on(&path, None);
        assert_intact(&again);
        assert_eq!(rows(&again).len(), 65);
    }
}
