//! [`SqliteConfig`]: how to open a database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_engine::store::StoreError;

use crate::SqliteStore;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`), in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Synchronous {
    /// `NORMAL`, the default: a commit is appended to the write-ahead log without an fsync.
    /// A committed batch survives the crash of the process (even `SIGKILL`), never leaves the
    /// database corrupt, but the last commits before a power loss or an OS crash may be lost.
    #[default]
    Normal,
    /// `FULL`: every commit fsyncs the write-ahead log before [`ferry_engine::store::Store::apply`]
    /// returns, so a committed batch also survives a power loss. Slower per commit.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Options for opening a [`SqliteStore`]: a builder.
///
/// ```no_run
/// use std::time::Duration;
/// use ferry_store_sqlite::{SqliteConfig, Synchronous};
///
/// let store = SqliteConfig::new("app.ferry")
///     .synchronous(Synchronous::Full)
///     .busy_timeout(Duration::from_secs(2))
///     .open()?;
/// # Ok::<(), ferry_engine::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    pub(crate) path: PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) create_if_missing: bool,
    pub(crate) read_only: bool,
    pub(crate) cache_size_kib: u32,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_page_count: Option<u32>,
    pub(crate) checkpoint_pages: u32,
}

impl SqliteConfig {
    /// The default page-cache size per connection, in KiB.
    pub const DEFAULT_CACHE_SIZE_KIB: u32 = 16 * 1024;
    /// The default time a connection waits for another one's lock before failing with
    /// [`StoreError::Busy`].
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default number of pages written to the write-ahead log between checkpoints
    /// (SQLite's own default).
    pub const DEFAULT_CHECKPOINT_PAGES: u32 = 1_000;

    /// Options for the database file at `path`: created if missing, opened read-write,
    /// `synchronous = NORMAL`, a 16 MiB page cache, a 5 s busy timeout, no size limit, a
    /// checkpoint every 1,000 pages.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::default(),
            create_if_missing: true,
            read_only: false,
            cache_size_kib: Self::DEFAULT_CACHE_SIZE_KIB,
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
            max_page_count: None,
            checkpoint_pages: Self::DEFAULT_CHECKPOINT_PAGES,
        }
    }

    /// The durability of commits (default [`Synchronous::Normal`]).
    pub fn synchronous(mut self, level: Synchronous) -> Self {
        self.synchronous = level;
        self
    }

    /// Whether a missing file is created as a new, empty database (default `true`). When
    /// `false`, opening a missing file fails with [`StoreError::Backend`].
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Opens the file read-only (default `false`): SQLite's read-only open flag is used, nothing
    /// is ever written to the file, and every write fails with [`StoreError::ReadOnly`]. The
    /// database must exist and be of the current schema version. Because tests and services
    /// often run as root, where file permissions do not stop writes, this flag (not `chmod`) is
    /// the way to guarantee a database is left untouched.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The page-cache size of each connection, in KiB (`PRAGMA cache_size`).
    pub fn cache_size_kib(mut self, kib: u32) -> Self {
        self.cache_size_kib = kib;
        self
    }

    /// How long to wait for another connection's lock before an operation fails with
    /// [`StoreError::Busy`] (default 5 s; clamped to about 24 days).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Caps the database file at `pages` pages (`PRAGMA max_page_count`; a page is
    /// [`crate::schema::PAGE_SIZE`] bytes in databases this crate created). A batch that would
    /// grow the file beyond it fails with [`StoreError::Full`] and changes nothing.
    pub fn max_page_count(mut self, pages: u32) -> Self {
        self.max_page_count = Some(pages);
        self
    }

    /// How many pages (of [`crate::schema::PAGE_SIZE`] bytes) the write-ahead log grows by
    /// between checkpoints (default 1,000; at least 1). A checkpoint copies the log into the
    /// database file; it runs on a background thread of the store, so a write does not wait
    /// for it, unless the log reaches 8 times this size
    /// ([`checkpoint`](crate::checkpoint) explains the policy).
    pub fn checkpoint_pages(mut self, pages: u32) -> Self {
        self.checkpoint_pages = pages.max(1);
        self
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the database: see [`SqliteStore::open_with`].
    pub fn open(self) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(self)
    }

    /// The busy timeout as the whole milliseconds SQLite takes.
    pub(crate) fn busy_timeout_clamped(&self) -> Duration {
        self.busy_timeout
            .min(Duration::from_millis(i32::MAX as u64))
    }
}
