//! Checkpoints off the writer's path.
//!
//! In WAL mode a commit is appended to the write-ahead log; a *checkpoint* copies the log's
//! pages into the database file and fsyncs both, after which the log can start over. SQLite's
//! automatic checkpoint runs inside the commit that takes the log past 1,000 pages, on the
//! writer's thread: that commit waits for the copy and the fsyncs, which take tens of
//! milliseconds, and far longer while the disk is busy writing back other files. Every session
//! queued on the store's thread waits with it. A re-sync of 1,000 scattered updates spent half
//! its time there.
//!
//! A [`SqliteStore`](crate::SqliteStore) replaces that automatic checkpoint (registering a WAL
//! hook turns SQLite's off):
//! - After each write, the writer learns from the hook how many pages the log holds.
//! - Each time [`SqliteConfig::checkpoint_pages`] more pages have been added, it wakes a
//!   background thread. That thread has a connection of its own and runs
//!   `PRAGMA wal_checkpoint(PASSIVE)`. The writer and the readers go on meanwhile.
//! - If the log still reaches [`INLINE_FACTOR`] × that many pages, the writer waits for the
//!   background run to end and checkpoints the log itself. This happens when the background
//!   thread cannot keep up with the writes, and it keeps the log's size bounded.
//! - If the background thread or its connection cannot be had, the writer checkpoints itself
//!   every `checkpoint_pages` pages, as SQLite would.
//!
//! A checkpoint never changes what a reader sees, and a failed one loses nothing: the pages
//! stay in the log, and the next checkpoint copies them. A failure is therefore logged, not
//! returned. The write it follows has committed, and reporting an error for it would be a lie.
//!
//! [`SqliteConfig::checkpoint_pages`]: crate::SqliteConfig::checkpoint_pages

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::SqliteConfig;

/// The log size, in multiples of `checkpoint_pages`, at which the writer checkpoints itself.
pub const INLINE_FACTOR: u32 = 8;

/// The page cache of the background connection, in KiB: a checkpoint copies pages from the
/// log to the file without keeping them.
const BACKGROUND_CACHE_KIB: i64 = 256;

thread_local! {
    /// The log's page count reported by the WAL hook of the last commit on this thread.
    ///
    /// SQLite calls the hook on the committing thread, inside the commit, and the store reads
    /// the value back right after that commit on the same thread. A plain function is all
    /// rusqlite's safe hook takes, hence a thread-local rather than state of the store.
    static LOG_PAGES: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The WAL hook: records the log's size.
fn record_log_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|cell| cell.set(Some(u32::try_from(pages).unwrap_or(0))));
    Ok(())
}

/// Runs a passive checkpoint on `conn`: copies what it can without waiting for anyone.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    // The row is (busy, pages in the log, pages copied); a busy or partial checkpoint is
    // fine, the next one goes on from there.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// What the writer and the background thread share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The writer asked for a checkpoint that has not started yet.
    requested: bool,
    /// A background checkpoint is under way.
    running: bool,
    /// The store is closing: the thread ends.
    stop: bool,
    /// The thread could not start or open its connection.
    failed: bool,
    /// Background checkpoints finished.
    runs: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer's side: decides after each write whether the log needs a checkpoint, and owns
/// the background thread (started on the first checkpoint, ended and joined on drop).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    path: PathBuf,
    busy_timeout: Duration,
    pages: u32,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The log's size after the previous write; a smaller one means the log started over.
    last_pages: u32,
    /// The log's size at which the background thread is woken next.
    next_wake: u32,
}

impl Checkpointer {
    /// Installs the WAL hook on the writer's connection (which turns SQLite's automatic
    /// checkpoint off) and returns the checkpointer for it.
    pub(crate) fn install(conn: &Connection, config: &SqliteConfig) -> Self {
        conn.wal_hook(Some(record_log_pages));
        let pages = config.checkpoint_pages.max(1);
        Checkpointer {
            path: config.path.clone(),
            busy_timeout: config.busy_timeout_clamped(),
            pages,
            shared: Arc::default(),
            thread: None,
            last_pages: 0,
            next_wake: pages,
        }
    }

    /// Forgets what the hook reported before a write, so that [`Self::after_write`] sees only
    /// that write's commit.
    pub(crate) fn before_write(&self) {
        LOG_PAGES.with(|cell| cell.set(None));
    }

    /// Called after every write through `conn`, committed or not.
    pub(crate) fn after_write(&mut self, conn: &Connection) {
        let Some(pages) = LOG_PAGES.with(Cell::take) else {
            return; // nothing was committed
        };
        if pages < self.last_pages {
            self.next_wake = self.pages; // the log started over
        }
        self.last_pages = pages;
        if pages >= self.pages.saturating_mul(INLINE_FACTOR) {
            self.checkpoint_here(conn);
        } else if pages >= self.next_wake {
            self.next_wake = pages.saturating_add(self.pages);
            if !self.wake() {
                self.checkpoint_here(conn);
            }
        }
    }

    /// Checkpoints on the writer's connection, after any background run has ended (two
    /// checkpoints cannot run at once). The next write starts the log over.
    fn checkpoint_here(&mut self, conn: &Connection) {
        {
            let mut state = self.shared.lock();
            state.requested = false;
            while state.running {
                state = self.shared.wait(state);
            }
        }
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(path = %self.path.display(), error = %e, "checkpoint failed");
        }
        self.next_wake = self.pages;
    }

    /// Asks the background thread for a checkpoint, starting it if needed; `false` if there
    /// is no background thread to ask.
    fn wake(&mut self) -> bool {
        if self.thread.is_none() && !self.shared.lock().failed {
            self.spawn();
        }
        let mut state = self.shared.lock();
        if state.failed {
            return false;
        }
        state.requested = true;
        drop(state);
        self.shared.changed.notify_all();
        true
    }

    fn spawn(&mut self) {
        let shared = Arc::clone(&self.shared);
        let (path, busy_timeout) = (self.path.clone(), self.busy_timeout);
        let spawned = std::thread::Builder::new()
            .name("ferry-sqlite-checkpoint".to_owned())
            .spawn(move || background(&shared, &path, busy_timeout));
        match spawned {
            Ok(handle) => self.thread = Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints");
                self.shared.lock().failed = true;
            }
        }
    }

    /// Background checkpoints finished so far.
    #[cfg(test)]
    fn runs(&self) -> u64 {
        self.shared.lock().runs
    }

    /// Waits until the background thread is idle with no request pending.
    #[cfg(test)]
    fn wait_idle(&self) {
        let mut state = self.shared.lock();
        while (state.requested || state.running) && !state.failed {
            state = self.shared.wait(state);
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread only logs; a panic in it has nothing left to report.
            let _ = thread.join();
        }
    }
}

/// The background thread: opens its own connection, then checkpoints on each request until
/// the store closes.
fn background(shared: &Shared, path: &std::path::Path, busy_timeout: Duration) {
    let opened = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| {
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "cache_size", -BACKGROUND_CACHE_KIB)?;
        Ok(conn)
    });
    let conn = match opened {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e,
                "no checkpoint connection; the writer checkpoints");
            shared.lock().failed = true;
            shared.changed.notify_all();
            return;
        }
    };
    let mut state = shared.lock();
    loop {
        while !state.requested && !state.stop {
            state = shared.wait(state);
        }
        if state.stop {
            return;
        }
        state.requested = false;
        state.running = true;
        drop(state);
        if let Err(e) = checkpoint(&conn) {
            tracing::warn!(path = %path.display(), error = %e, "background checkpoint failed");
        }
        state = shared.lock();
        state.running = false;
        state.runs += 1;
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::INLINE_FACTOR;
    use crate::{SqliteConfig, SqliteStore};
    use ferry_engine::rev::RevId;
    use ferry_engine::store::{DocFlags, DocRecord, Store, WriteBatch, WriteOp};

    /// Checkpoints every 8 pages (64 KiB), so that a few writes need one.
    const PAGES: u32 = 8;

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteConfig::new(dir.path().join("c.ferry"))
            .checkpoint_pages(PAGES)
            .open()
            .unwrap()
    }

    /// Writes documents `from..from + 4`, each about a page, and returns the log's size the
    /// hook reported.
    fn write(store: &mut SqliteStore, from: u32) -> u32 {
        let mut batch = WriteBatch::new();
        for i in from..from + 4 {
            let doc_id = format!("doc-{i:06}");
            let rev = RevId::from_digest(1, &[7; 20]);
            let body = vec![b'x'; 6000];
            batch.push(WriteOp::PutDocument {
                record: DocRecord {
                    doc_id,
                    current_rev: rev.clone(),
                    flags: DocFlags::default(),
                    sequence: 0,
                    body_size: body.len() as u64,
                    tree: vec![1, 2, 3],
                },
                put_bodies: vec![(rev, body)],
                drop_bodies: Vec::new(),
            });
        }
        store.apply(batch).unwrap();
        store.checkpointer.as_ref().unwrap().last_pages
    }

    /// Writes until the log reaches `PAGES` pages; returns the number of the next document.
    fn grow(store: &mut SqliteStore) -> u32 {
        let mut next = 0;
        while write(store, next) < PAGES {
            next += 4;
            assert!(next < 400, "the log never reached {PAGES} pages");
        }
        next + 4
    }

    #[test]
    fn a_grown_log_is_checkpointed_in_the_background_and_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let next = grow(&mut store);
        let checkpointer = store.checkpointer.as_ref().unwrap();
        let grown = checkpointer.last_pages;
        checkpointer.wait_idle();
        assert!(checkpointer.runs() >= 1, "no background checkpoint ran");
        assert!(checkpointer.thread.is_some());
        let after = write(&mut store, next);
        assert!(
            after < grown,
            "the log did not start over after the checkpoint: {grown} then {after} pages"
        );
        assert_eq!(store.document_count().unwrap(), u64::from(next + 4));
    }

    #[test]
    fn without_a_background_thread_the_writer_checkpoints_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        store.checkpointer.as_ref().unwrap().shared.lock().failed = true;
        let next = grow(&mut store);
        let grown = store.checkpointer.as_ref().unwrap().last_pages;
        let after = write(&mut store, next);
        assert!(after < grown, "{grown} then {after} pages: no checkpoint");
        let checkpointer = store.checkpointer.as_ref().unwrap();
        assert_eq!(checkpointer.runs(), 0);
        assert!(checkpointer.thread.is_none());
    }

    #[test]
    fn the_log_stays_bounded_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let (mut largest, mut previous, mut step) = (0, 0, 0);
        for i in 0..1_000 {
            let pages = write(&mut store, i * 4);
            largest = largest.max(pages);
            step = step.max(pages.saturating_sub(previous));
            previous = pages;
        }
        // The writer checkpoints once the log has reached the limit: it holds at most what
        // one batch adds past it.
        let limit = PAGES * INLINE_FACTOR + step;
        assert!(
            largest <= limit,
            "the log reached {largest} pages (limit {limit})"
        );
        drop(store);
        let mut wal = dir.path().join("c.ferry").into_os_string();
        wal.push("-wal");
        assert!(
            !std::path::Path::new(&wal).exists(),
            "closing left the log behind: the checkpoint thread outlived the store"
        );
        let store = open(&dir);
        store.check_integrity().unwrap();
        assert_eq!(store.document_count().unwrap(), 4_000);
    }

    #[test]
    fn a_read_only_store_has_no_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(&dir));
        let store = SqliteConfig::new(dir.path().join("c.ferry"))
            .read_only(true)
            .open()
            .unwrap();
        assert!(store.checkpointer.is_none());
    }
}
