//! # ferry-store-sqlite
//!
//! [`SqliteStore`]: Ferry's [`Store`] trait on SQLite (bundled with the crate through rusqlite,
//! so no system SQLite is used) — the durable store of real deployments.
//!
//! ```no_run
//! use ferry_engine::store::Store;
//! use ferry_store_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open("app.ferry")?;
//! let changes = store.changes_since(0, 1_000)?;
//! # Ok::<(), ferry_engine::store::StoreError>(())
//! ```
//!
//! ## Storage
//!
//! A database is one SQLite file (plus its `-wal` and `-shm` companions) in WAL mode. Its
//! header carries Ferry's `application_id` ([`schema::APPLICATION_ID`]) and the schema version
//! in `user_version`; the tables and the migration list are described in [`schema`]. Opening a
//! file that is not a Ferry database, or one written by a newer schema, fails without writing a
//! byte to it ([`open`] explains the order of checks). Commits use `synchronous = NORMAL` by
//! default, `FULL` on request ([`Synchronous`]). The write-ahead log is checkpointed into the
//! file by a background thread of the store, not inside a writer's commit ([`checkpoint`]).
//!
//! ## Threading model
//!
//! - [`SqliteStore`] owns **the one writer connection**. It is [`Send`] but not [`Sync`]: move
//!   it to the thread that does store work (an adapter's store thread, or `spawn_blocking`
//!   behind a mutex), so store work never runs on an async runtime's threads. Reads through it
//!   see its own writes.
//! - [`SqliteStore::reader`] opens a [`SqliteReader`]: an extra connection opened with SQLite's
//!   read-only flag that offers the read methods. It is [`Send`], so it can serve the changes
//!   feed or bodies from another thread while the writer writes: under WAL, readers and the
//!   writer never block each other, and a reader sees whole committed batches only.
//! - Every write ([`Store::apply`], [`Store::set_peer_checkpoint`]) is one `BEGIN IMMEDIATE`
//!   transaction. Several processes (or several stores on one file) may write: they take turns
//!   on SQLite's write lock, waiting up to the busy timeout ([`SqliteConfig::busy_timeout`]) and
//!   then failing with [`StoreError::Busy`]. Guards ([`WriteOp::ExpectDocument`]) and
//!   checkpoint generations are checked inside that transaction.
//! - Reads are one statement each, in its own implicit read transaction, unless a host batches
//!   them ([`Store::begin_read_batch`]): then they share one read transaction — one snapshot,
//!   one acquisition of SQLite's locks — until [`Store::end_read_batch`] or the next write,
//!   which commits the read transaction before it begins its own.
//!
//! ## Blobs
//!
//! Blobs are kept in pieces of at most 1 MiB, written through a staging area
//! ([`Store::begin_blob`], [`Store::append_blob`], each append one transaction) and named by
//! their digest only when [`WriteOp::CommitBlob`] commits them, so a reader never sees part of
//! a blob. Opening a store for writing discards blobs left staged by an earlier store (a
//! process that stopped mid-transfer); two stores on one file must therefore not stage blobs
//! while the other opens.
//!
//! ## Errors
//!
//! SQLite failures are mapped onto [`StoreError`] ([`error`] has the table): a full disk or a
//! reached [`SqliteConfig::max_page_count`] is [`StoreError::Full`], a read-only open is
//! [`StoreError::ReadOnly`], another connection's lock past the timeout is
//! [`StoreError::Busy`], damaged data is [`StoreError::Corrupt`], a foreign or future file is
//! [`StoreError::Incompatible`]. A failed batch leaves nothing of itself behind.
//!
//! [`WriteOp::ExpectDocument`]: ferry_engine::store::WriteOp::ExpectDocument
//! [`WriteOp::CommitBlob`]: ferry_engine::store::WriteOp::CommitBlob
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blobs;
pub mod checkpoint;
mod config;
pub mod error;
mod fold;
pub mod open;
mod read;
pub mod schema;
mod write;

use ferry_engine::store::{
    BlobDigest, ChangeEntry, DocRecord, Sequence, StagingId, Store, StoreError, WriteBatch,
};
use std::cell::Cell;

use rusqlite::Connection;

pub use config::{SqliteConfig, Synchronous};
pub use read::SqliteReader;

/// A [`Store`] in a SQLite file. See the [crate documentation](crate) for the threading model.
#[derive(Debug)]
pub struct SqliteStore {
    /// Dropped before the connection, so the writer is the last connection to close (and
    /// leaves no write-ahead log behind). `None` when read-only.
    checkpointer: Option<checkpoint::Checkpointer>,
    conn: Connection,
    config: SqliteConfig,
    reads: Cell<ReadBatch>,
}

/// The state of [`Store::begin_read_batch`].
#[derive(Debug, Clone, Copy, Default)]
struct ReadBatch {
    /// Reads share one read transaction.
    batching: bool,
    /// That read transaction is open.
    open: bool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path` with the default
    /// [`SqliteConfig`].
    pub fn open(path: impl Into<std::path::PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(SqliteConfig::new(path))
    }

    /// Opens a database as `config` says.
    ///
    /// Fails with [`StoreError::Corrupt`] for a file that is not SQLite (or whose header is
    /// destroyed), [`StoreError::Incompatible`] for another application's SQLite file or a
    /// database written by a newer schema version — in these cases the file is not modified —
    /// and [`StoreError::Busy`] if another connection keeps it locked past the busy timeout.
    pub fn open_with(config: SqliteConfig) -> Result<Self, StoreError> {
        let mut conn = open::open_connection(&config)?;
        if !config.read_only {
            // Blobs a previous process left half-written can never be finished.
            blobs::discard_staged(&mut conn)?;
        }
        let checkpointer =
            (!config.read_only).then(|| checkpoint::Checkpointer::install(&conn, &config));
        let store = SqliteStore {
            checkpointer,
            conn,
            config,
            reads: Cell::default(),
        };
        // The single database row must be there; fail now rather than on the first read.
        read::last_sequence(&store.conn)?;
        Ok(store)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.config
    }

    /// Opens a [`SqliteReader`] on the same file: a read-only connection for another thread.
    pub fn reader(&self) -> Result<SqliteReader, StoreError> {
        SqliteReader::open(&self.config)
    }

    /// Runs SQLite's `PRAGMA integrity_check`; damage is reported as [`StoreError::Corrupt`].
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        open::integrity_check(&self.conn)
    }

    /// Closes the connection, reporting any error (dropping the store closes it too, silently).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.end_read_batch()?;
        self.checkpointer = None; // ends the checkpoint thread first
        self.conn
            .close()
            .map_err(|(_, e)| error::map("closing the database", e))
    }
}

impl SqliteStore {
    /// The connection to read through: in a read batch, inside its read transaction (begun on
    /// the first read).
    fn read(&self) -> Result<&Connection, StoreError> {
        let mut reads = self.reads.get();
        if reads.batching && !reads.open {
            self.conn
                .prepare_cached("BEGIN")
                .and_then(|mut begin| begin.execute([]))
                .map_err(|e| error::map("beginning a read transaction", e))?;
            reads.open = true;
            self.reads.set(reads);
        }
        Ok(&self.conn)
    }

    /// Runs a write on the connection, with no read transaction open (a write begins its
    /// own), then lets the checkpointer look at the write-ahead log.
    fn write<T>(
        &mut self,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.end_read_transaction()?;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.before_write();
        }
        let result = write(&mut self.conn);
        if let Some(checkpointer) = &mut self.checkpointer {
            checkpointer.after_write(&self.conn);
        }
        result
    }

    /// Commits the batch's read transaction, if one is open.
    fn end_read_transaction(&self) -> Result<(), StoreError> {
        let mut reads = self.reads.get();
        if reads.open {
            // Cleared first: after a failed COMMIT SQLite has ended the transaction anyway
            // (a read transaction has nothing to keep), so the next read begins a new one.
            reads.open = false;
            self.reads.set(reads);
            if !self.conn.is_autocommit() {
                self.conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut commit| commit.execute([]))
                    .map_err(|e| error::map("ending a read transaction", e))?;
            }
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn begin_read_batch(&self) {
        let mut reads = self.reads.get();
        reads.batching = true;
        self.reads.set(reads);
    }

    fn end_read_batch(&self) -> Result<(), StoreError> {
        let mut reads = self.reads.get();
        reads.batching = false;
        self.reads.set(reads);
        self.end_read_transaction()
    }

    fn uuid(&self) -> Result<Option<[u8; 16]>, StoreError> {
        read::uuid(self.read()?)
    }

    fn document(&self, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
        read::document(self.read()?, doc_id)
    }

    fn documents(&self, doc_ids: &[&str]) -> Result<Vec<Option<DocRecord>>, StoreError> {
        read::documents(self.read()?, doc_ids)
    }

    fn body(&self, doc_id: &str, rev_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read::body(self.read()?, doc_id, rev_id)
    }

    fn last_sequence(&self) -> Result<Sequence, StoreError> {
        read::last_sequence(self.read()?)
    }

    fn changes_since(&self, since: Sequence, limit: usize) -> Result<Vec<ChangeEntry>, StoreError> {
        read::changes_since(self.read()?, since, limit, 0)
    }

    fn changes_with_bodies(
        &self,
        since: Sequence,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        read::changes_since(self.read()?, since, limit, budget)
    }

    fn document_count(&self) -> Result<u64, StoreError> {
        read::document_count(self.read()?)
    }

    fn conflicted_documents(&self) -> Result<Vec<String>, StoreError> {
        read::conflicted_documents(self.read()?)
    }

    fn local_checkpoint(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read::local_checkpoint(self.read()?, id)
    }

    fn peer_checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        read::peer_checkpoint(self.read()?, id)
    }

    fn set_peer_checkpoint(
        &mut self,
        id: &str,
        expected: Option<u64>,
        body: &[u8],
    ) -> Result<u64, StoreError> {
        self.write(|conn| write::set_peer_checkpoint(conn, id, expected, body))
    }

    fn blob_length(&self, digest: &BlobDigest) -> Result<Option<u64>, StoreError> {
        blobs::length(self.read()?, digest)
    }

    fn read_blob(
        &self,
        digest: &BlobDigest,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        blobs::read(self.read()?, digest, offset, max)
    }

    fn blob_digests(
        &self,
        after: Option<&BlobDigest>,
        limit: usize,
    ) -> Result<Vec<BlobDigest>, StoreError> {
        blobs::digests(self.read()?, after, limit)
    }

    fn begin_blob(&mut self) -> Result<StagingId, StoreError> {
        self.write(|conn| blobs::begin(conn))
    }

    fn append_blob(&mut self, staging: StagingId, bytes: &[u8]) -> Result<(), StoreError> {
        self.write(|conn| blobs::append(conn, staging, bytes))
    }

    fn abort_blob(&mut self, staging: StagingId) -> Result<(), StoreError> {
        self.write(|conn| blobs::abort(conn, staging))
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<Vec<Sequence>, StoreError> {
        self.write(|conn| write::apply(conn, batch))
    }
}

#[cfg(test)]
mod threading {
    /// The threading model of the crate docs, checked by the compiler.
    #[test]
    fn store_and_reader_are_send() {
        fn send<T: Send>() {}
        send::<crate::SqliteStore>();
        send::<crate::SqliteReader>();
        send::<crate::SqliteConfig>();
    }
}

#[cfg(test)]
mod settings {
    use crate::{SqliteConfig, Synchronous};

    fn pragma<T: rusqlite::types::FromSql>(store: &crate::SqliteStore, name: &str) -> T {
        store
            .conn
            .pragma_query_value(None, name, |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_connection_is_configured_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path().join("a.ferry")).unwrap();
        assert_eq!(pragma::<String>(&store, "journal_mode"), "wal");
        assert_eq!(pragma::<i64>(&store, "synchronous"), 1, "NORMAL by default");
        assert_eq!(
            pragma::<i32>(&store, "application_id"),
            crate::schema::APPLICATION_ID
        );
        assert_eq!(
            pragma::<i32>(&store, "user_version"),
            crate::schema::SCHEMA_VERSION
        );
        assert_eq!(pragma::<i64>(&store, "page_size"), 8192);
        assert_eq!(pragma::<i64>(&store, "cache_size"), -16 * 1024);
        drop(store);
        let store = SqliteConfig::new(dir.path().join("a.ferry"))
            .synchronous(Synchronous::Full)
            .cache_size_kib(1024)
            .max_page_count(1_000)
            .open()
            .unwrap();
        assert_eq!(pragma::<i64>(&store, "synchronous"), 2, "FULL on request");
        assert_eq!(pragma::<i64>(&store, "cache_size"), -1024);
        assert_eq!(pragma::<i64>(&store, "max_page_count"), 1_000);
    }
}

#[cfg(test)]
mod conformance {
    /// A file-backed store in a temporary directory that lives as long as the store.
    struct TempStore {
        store: crate::SqliteStore,
        _dir: tempfile::TempDir,
    }

    impl ferry_engine::store::conformance::Fixture for TempStore {
        type Store = crate::SqliteStore;
        fn store(&mut self) -> &mut crate::SqliteStore {
            &mut self.store
        }
    }

    fn fresh() -> TempStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = crate::SqliteStore::open(dir.path().join("conformance.ferry")).expect("open");
        TempStore { store, _dir: dir }
    }

    ferry_engine::store_conformance_tests!(fresh());
}
