//! The writing connection's write-ahead log written past the page cache (`O_DIRECT`), through an
//! image of the log it keeps in memory.
//!
//! Through the page cache, a commit's frames are copied into the kernel's pages, then written
//! back page by page when the log is flushed. Written direct, the disk takes them from this
//! process's memory in one request: for a commit's sixty-odd kilobytes, a write and its flush
//! cost about 29 CPU µs here against 48 through the page cache (README, Performance). A direct
//! write must cover whole blocks from block-aligned memory, while SQLite's frames (4,120 bytes)
//! start anywhere; so the connection keeps the log in aligned blocks, writes its frames into
//! them, and writes out every block they touch. The image also answers the connection's own
//! reads of the log (a checkpoint reads back each frame it copies): a direct write drops the
//! pages it covers from the page cache, so those reads would otherwise go to the disk.
//!
//! The image holds the file only as long as no other connection writes the log, so it is used
//! only where that is known:
//! - from the start of a cycle of the log that this connection begins (SQLite writes the log's
//!   header then, and only then): all that follows is this connection's;
//! - in a transaction of this connection that began with no other connection's commit since its
//!   previous one ([`Direct::begin`], from SQLite's data version): the image is the file up to
//!   all this connection wrote in the cycle;
//! - between its transactions, for a checkpoint's reads and for those a transaction makes as it
//!   begins (before the data version is known), once the log's header read back from the file
//!   shows the same cycle: up to this connection's last commit. No other connection can begin a
//!   new cycle while this one is reading frames of the cycle it holds (a checkpoint copying them,
//!   or a transaction's read mark on them), and any frame appended since lies past the commit.
//!   Each checkpoint and each transaction checks afresh.
//!
//! A checkpoint's start, and a commit, are told by the log's flush (`flushed`): with the writing
//! connection's `synchronous = FULL`, SQLite flushes the log at every commit, and at the start of
//! every checkpoint before it reads the log back. A transaction's start is told by the writing
//! thread (`starting`).
//!
//! Anywhere else the image is dropped, until this connection begins a new cycle, and the log is
//! read and written through the page cache. Around the frames, a block is written with the
//! image's bytes: up to what this connection wrote, the file's own; past it, bytes after the last
//! frame of the cycle, which SQLite never reads.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What a direct write is aligned to: a multiple of any disk's logical block.
const BLOCK: usize = 4096;

/// The log's header; its salts name the cycle, and change with each one.
pub(super) const HEADER: usize = 32;
const SALTS: std::ops::Range<usize> = 16..24;

/// The most of one cycle kept: a log that checkpoints cannot keep short (a reader holding on to
/// an old snapshot) goes back to the page cache until the next cycle.
const MOST_KEPT: usize = 64 << 20;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

/// When the image may stand for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    Nowhere,
    /// In a transaction of this connection: up to `written`.
    Writing,
    /// Between transactions: up to `committed`, once the file's header has shown the cycle
    /// unchanged.
    Committed {
        checked: bool,
    },
}

pub(super) struct Direct {
    file: File,
    image: Vec<Block>,
    /// The salts of the cycle the image holds.
    cycle: Option<[u8; 8]>,
    /// The end of all this connection wrote in the cycle; of what its transaction under way has
    /// written; and of its last commit.
    written: usize,
    transaction: usize,
    committed: usize,
    trust: Trust,
    /// Writes made direct, and reads the image answered.
    #[cfg(test)]
    pub(super) counts: (usize, usize),
}

impl Direct {
    /// The log at `path`, opened for direct writes where the system and the file system take them.
    #[cfg(target_os = "linux")]
    pub(super) fn open(path: &Path) -> Option<Self> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC, Mode::empty()).ok()?;
        Some(Self::on(File::from(fd)))
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn open(_: &Path) -> Option<Self> {
        None
    }

    fn on(file: File) -> Self {
        Self {
            file,
            image: Vec::new(),
            cycle: None,
            written: 0,
            transaction: 0,
            committed: 0,
            trust: Trust::Nowhere,
            #[cfg(test)]
            counts: (0, 0),
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: a block is its bytes (`repr(C)`, no padding), and the blocks are contiguous.
        unsafe { std::slice::from_raw_parts(self.image.as_ptr().cast(), self.image.len() * BLOCK) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`.
        unsafe { std::slice::from_raw_parts_mut(self.image.as_mut_ptr().cast(), self.image.len() * BLOCK) }
    }

    /// Forgets the cycle the image held: the log goes through the page cache until a new one.
    fn drop_image(&mut self) {
        self.cycle = None;
        self.trust = Trust::Nowhere;
        (self.written, self.transaction, self.committed) = (0, 0, 0);
    }

    /// A transaction of this connection is about to begin: until `begin` tells whether another
    /// connection has committed since its previous one, its reads check the cycle first, as a
    /// checkpoint's do.
    pub(super) fn starting(&mut self) {
        if self.trust != Trust::Nowhere {
            self.trust = Trust::Committed { checked: false };
        }
    }

    /// A transaction of this connection has begun; `alone` when no other connection has committed
    /// since its previous one.
    pub(super) fn begin(&mut self, alone: bool) {
        match alone && self.cycle.is_some() {
            true => self.trust = Trust::Writing,
            false => self.drop_image(),
        }
        self.transaction = 0;
    }

    /// Writes `bytes` at `at` into the image and out to the file; false, having written nothing,
    /// where the image cannot stand for the file, for the caller to write them through the page
    /// cache.
    pub(super) fn write(&mut self, bytes: &[u8], at: usize) -> io::Result<bool> {
        let end = at + bytes.len();
        if at == 0 {
            let Some(salts) = bytes.get(SALTS) else {
                self.drop_image();
                return Ok(false);
            };
            self.cycle = Some(salts.try_into().expect("eight bytes"));
            (self.written, self.transaction, self.committed) = (0, 0, 0);
            self.trust = Trust::Writing;
        }
        if self.trust != Trust::Writing || at > self.written || end > MOST_KEPT {
            self.drop_image();
            return Ok(false);
        }
        let blocks = end.div_ceil(BLOCK);
        if self.image.len() < blocks {
            self.image.resize(blocks, Block([0; BLOCK]));
        }
        self.bytes_mut()[at..end].copy_from_slice(bytes);
        self.written = self.written.max(end);
        self.transaction = self.transaction.max(end);
        let from = at - at % BLOCK;
        self.file.write_all_at(&self.bytes()[from..blocks * BLOCK], from as u64)?;
        #[cfg(test)]
        {
            self.counts.0 += 1;
        }
        Ok(true)
    }

    /// The log was flushed. In a transaction, that is its commit (SQLite also flushes a new
    /// cycle's header on its own, before the cycle's first frame, which ends no transaction).
    /// After one, it is a checkpoint beginning: SQLite flushes the log before it reads back the
    /// frames it copies, and another connection may have begun a new cycle since the last
    /// checkpoint, so the cycle is checked again before the image is read.
    pub(super) fn flushed(&mut self) {
        match self.trust {
            Trust::Writing if self.transaction > HEADER => {
                self.committed = self.transaction;
                self.trust = Trust::Committed { checked: false };
            }
            Trust::Committed { .. } => self.trust = Trust::Committed { checked: false },
            _ => {}
        }
    }

    /// Whether a read must first show the image the file's header (`checked`).
    pub(super) fn unchecked(&self) -> bool {
        self.trust == Trust::Committed { checked: false }
    }

    /// The log's header as the file has it now (empty if it could not be read).
    pub(super) fn checked(&mut self, header: &[u8]) {
        match (header.get(SALTS), &self.cycle) {
            (Some(salts), Some(cycle)) if salts == cycle => self.trust = Trust::Committed { checked: true },
            _ => self.drop_image(),
        }
    }

    /// Fills `out` from the image at `at`; false where the image does not stand for the file.
    pub(super) fn read(&mut self, out: &mut [u8], at: usize) -> bool {
        let trusted = match self.trust {
            Trust::Writing => self.written,
            Trust::Committed { checked: true } => self.committed,
            _ => return false,
        };
        let end = at + out.len();
        if end > trusted {
            return false;
        }
        out.copy_from_slice(&self.bytes()[at..end]);
        #[cfg(test)]
        {
            self.counts.1 += 1;
        }
        true
    }

    /// The file was cut to `size` bytes.
    pub(super) fn truncated(&mut self, size: usize) {
        self.written = self.written.min(size);
        self.transaction = self.transaction.min(size);
        self.committed = self.committed.min(size);
    }
}
