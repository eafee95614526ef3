//! The on-disk schema and its migrations.
//!
//! A Ferry database is a SQLite file whose header carries [`APPLICATION_ID`] (`PRAGMA
//! application_id`) and whose `PRAGMA user_version` is the schema version. A list of migrations
//! (`MIGRATIONS`) holds the SQL that brings a database from version `n` to `n + 1`; version 1 is
//! the first schema, and entries are only ever appended.
//! A database whose version is above [`SCHEMA_VERSION`] was written by a newer Ferry and is
//! refused (see [`crate::open`]) without being modified.
//!
//! # Version 1
//!
//! ```sql
//! -- One row: the database UUID and the highest sequence ever assigned. The latter is kept
//! -- here, not derived from `documents`, so it never goes down when the document holding the
//! -- highest sequence is purged.
//! CREATE TABLE database (singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
//!                        uuid BLOB, last_sequence INTEGER NOT NULL);
//! -- Documents keyed by their latest sequence: the table's rowid *is* the changes feed, so
//! -- `changes_since` is a range scan of the table itself; `doc_id` has a unique index.
//! CREATE TABLE documents (sequence INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE,
//!                         current_rev TEXT NOT NULL, flags INTEGER NOT NULL,
//!                         body_size INTEGER NOT NULL, tree BLOB NOT NULL);
//! CREATE TABLE bodies (doc_id TEXT NOT NULL, rev_id TEXT NOT NULL, body BLOB NOT NULL,
//!                      PRIMARY KEY (doc_id, rev_id)) WITHOUT ROWID;
//! CREATE TABLE local_checkpoints (id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
//! CREATE TABLE peer_checkpoints (id TEXT PRIMARY KEY, body BLOB NOT NULL,
//!                                generation INTEGER NOT NULL) WITHOUT ROWID;
//! CREATE TABLE blobs (digest BLOB PRIMARY KEY, bytes BLOB NOT NULL);
//! ```
//!
//!
//! # Version 2
//!
//! Blobs move to pieces written through a staging area; version 1's `blobs` rows become one
//! piece each, under their rowid as content number, and the table is dropped:
//!
//! ```sql
//! -- Blobs being written: numbers come from the AUTOINCREMENT key, never reused.
//! CREATE TABLE blob_staging (blob INTEGER PRIMARY KEY AUTOINCREMENT, length INTEGER NOT NULL);
//! -- Content of staged and committed blobs: pieces of at most 1 MiB at byte offset `pos`.
//! CREATE TABLE blob_contents (blob INTEGER NOT NULL, pos INTEGER NOT NULL,
//!                             bytes BLOB NOT NULL, PRIMARY KEY (blob, pos));
//! -- Committed blobs by digest.
//! CREATE TABLE blob_index (digest BLOB PRIMARY KEY, blob INTEGER NOT NULL UNIQUE,
//!                          length INTEGER NOT NULL) WITHOUT ROWID;
//! ```
//!
//! # Version 3
//!
//! ```sql
//! -- The documents whose flags say conflicted (bit 1), which replicators look for at the start
//! -- of every session (`Store::conflicted_documents`).
//! CREATE INDEX documents_conflicted ON documents (doc_id) WHERE flags & 2 != 0;
//! ```
//!
//! # Version 4
//!
//! Each document's current body moves into its row, as Couchbase Lite keeps it: storing a new
//! document writes one row and one index entry, and the changes feed reads the current body
//! with the rest of the row. `bodies` keeps the bodies of the other revisions (conflicting
//! branches, delta bases); a revision's body moves between the two as it becomes or stops
//! being current.
//!
//! ```sql
//! ALTER TABLE documents ADD COLUMN body BLOB;  -- NULL: the current body is not stored
//! -- existing current bodies move into their rows and out of `bodies`
//! ```
//!
//! New databases use 8 KiB pages ([`PAGE_SIZE`]) so that a ~1 KB revision body fits in its
//! b-tree cell without an overflow page.

use ferry_engine::store::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::ctx;

/// The value of `PRAGMA application_id` in every Ferry database: `"FRRY"` in ASCII.
pub const APPLICATION_ID: i32 = 0x4652_5259;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The page size of new databases, in bytes.
pub const PAGE_SIZE: u32 = 8192;

/// `MIGRATIONS[n]` brings a database from schema version `n` to `n + 1`. Entries are only ever
/// appended: a released migration never changes.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the first schema.
    "CREATE TABLE database (
         singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
         uuid BLOB,
         last_sequence INTEGER NOT NULL
     );
     INSERT INTO database (singleton, uuid, last_sequence) VALUES (0, NULL, 0);
     CREATE TABLE documents (
         sequence INTEGER PRIMARY KEY,
         doc_id TEXT NOT NULL UNIQUE,
         current_rev TEXT NOT NULL,
         flags INTEGER NOT NULL,
         body_size INTEGER NOT NULL,
         tree BLOB NOT NULL
     );
     CREATE TABLE bodies (
         doc_id TEXT NOT NULL,
         rev_id TEXT NOT NULL,
         body BLOB NOT NULL,
         PRIMARY KEY (doc_id, rev_id)
     ) WITHOUT ROWID;
     CREATE TABLE local_checkpoints (
         id TEXT PRIMARY KEY,
         body BLOB NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE peer_checkpoints (
         id TEXT PRIMARY KEY,
         body BLOB NOT NULL,
         generation INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE blobs (
         digest BLOB PRIMARY KEY,
         bytes BLOB NOT NULL
     );",
    // Version 2: blobs in pieces, written through a staging area (see `crate::blobs`).
    "CREATE TABLE blob_staging (
         blob INTEGER PRIMARY KEY AUTOINCREMENT,
         length INTEGER NOT NULL
     );
     CREATE TABLE blob_contents (
         blob INTEGER NOT NULL,
         pos INTEGER NOT NULL,
         bytes BLOB NOT NULL,
         PRIMARY KEY (blob, pos)
     );
     CREATE TABLE blob_index (
         digest BLOB PRIMARY KEY,
         blob INTEGER NOT NULL UNIQUE,
         length INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO blob_contents (blob, pos, bytes)
         SELECT rowid, 0, bytes FROM blobs WHERE length(bytes) > 0;
     INSERT INTO blob_index (digest, blob, length)
         SELECT digest, rowid, length(bytes) FROM blobs;
     INSERT INTO sqlite_sequence (name, seq)
         SELECT 'blob_staging', coalesce(max(rowid), 0) FROM blobs;
     DROP TABLE blobs;",
    // Version 3: the documents in conflict, found without reading the whole table.
    "CREATE INDEX documents_conflicted ON documents (doc_id) WHERE flags & 2 != 0;",
    // Version 4: each document's current body in its row; `bodies` keeps the other revisions'.
    "ALTER TABLE documents ADD COLUMN body BLOB;
     UPDATE documents SET body = (SELECT b.body FROM bodies b
         WHERE b.doc_id = documents.doc_id AND b.rev_id = documents.current_rev);
     DELETE FROM bodies WHERE EXISTS (SELECT 1 FROM documents d
         WHERE d.doc_id = bodies.doc_id AND d.current_rev = bodies.rev_id);",
];

/// What the header of an opened file says, read without writing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) application_id: i32,
    pub(crate) user_version: i32,
    /// Number of objects in `sqlite_schema` (0 for a brand-new, empty file).
    pub(crate) schema_objects: i64,
}

/// Reads the header fields. Reading may fail with `SQLITE_NOTADB` for a file that is not SQLite.
pub(crate) fn read_header(conn: &Connection) -> Result<Header, StoreError> {
    let context = ctx("reading the database header");
    let application_id = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(&context)?;
    let user_version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(&context)?;
    let schema_objects = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(&context)?;
    Ok(Header {
        application_id,
        user_version,
        schema_objects,
    })
}

/// Decides whether a file with `header` may be opened by this build, before anything is
/// written to it. `Ok(true)`: an empty file that may be initialised; `Ok(false)`: a Ferry
/// database of a known version.
pub(crate) fn check_header(header: Header) -> Result<bool, StoreError> {
    if header.application_id == 0 && header.user_version == 0 && header.schema_objects == 0 {
        return Ok(true);
    }
    if header.application_id != APPLICATION_ID {
        return Err(StoreError::Incompatible(format!(
            "not a Ferry database (application_id is {:#010x}, a Ferry database has {:#010x})",
            header.application_id, APPLICATION_ID
        )));
    }
    if header.user_version > SCHEMA_VERSION {
        return Err(StoreError::Incompatible(format!(
            "the database was written by a newer Ferry (schema version {}, this build reads up \
             to {SCHEMA_VERSION}); it was not modified",
            header.user_version
        )));
    }
    if header.user_version < 0 {
        return Err(StoreError::Incompatible(format!(
            "invalid schema version {}",
            header.user_version
        )));
    }
    Ok(false)
}

/// Brings the database to [`SCHEMA_VERSION`] in one immediate transaction, re-checking the
/// header inside it (another process may have created or migrated the file meanwhile).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // The common case, a current database, takes no write lock: opening never waits for a
    // writer in another process.
    let header = read_header(conn)?;
    if !check_header(header)? && header.user_version == SCHEMA_VERSION {
        return Ok(());
    }
    let context = ctx("migrating the schema");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&context)?;
    let header = read_header(&tx)?;
    check_header(header)?;
    let from = header.user_version;
    if from == SCHEMA_VERSION {
        return Ok(()); // dropping `tx` ends the empty transaction
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql).map_err(&context)?;
        tracing::debug!(to = version + 1, "applied schema migration");
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(&context)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(&context)?;
    tx.commit().map_err(&context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(application_id: i32, user_version: i32, schema_objects: i64) -> Header {
        Header {
            application_id,
            user_version,
            schema_objects,
        }
    }

    #[test]
    fn headers_are_classified() {
        assert_eq!(check_header(header(0, 0, 0)), Ok(true), "empty file");
        assert_eq!(check_header(header(APPLICATION_ID, 1, 7)), Ok(false));
        assert!(matches!(
            check_header(header(0, 0, 3)),
            Err(StoreError::Incompatible(_))
        ));
        assert!(matches!(
            check_header(header(0x1234, 1, 3)),
            Err(StoreError::Incompatible(_))
        ));
        let future = check_header(header(APPLICATION_ID, SCHEMA_VERSION + 1, 7)).unwrap_err();
        assert!(future.to_string().contains("newer"), "{future}");
    }

    #[test]
    fn migrations_reach_the_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let h = read_header(&conn).unwrap();
        assert_eq!(h.application_id, APPLICATION_ID);
        assert_eq!(h.user_version, SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 4);
        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
        let last: i64 = conn
            .query_row("SELECT last_sequence FROM database", [], |r| r.get(0))
            .unwrap();
        assert_eq!(last, 0);
    }
}

#[cfg(test)]
mod upgrade {
    use super::*;
    use ferry_engine::store::Store;

    /// A version 1 database's blobs are readable after the migration to version 2, and new
    /// staged blobs never take their content numbers.
    #[test]
    fn version_1_blobs_survive_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.ferry");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO blobs (digest, bytes) VALUES (?1, ?2), (?3, x'')",
                rusqlite::params![&[1u8; 20][..], &b"old blob"[..], &[2u8; 20][..]],
            )
            .unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut store = crate::SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.blob(&[1; 20]).unwrap().as_deref(),
            Some(&b"old blob"[..])
        );
        assert_eq!(store.blob(&[2; 20]).unwrap().as_deref(), Some(&b""[..]));
        let staging = store.begin_blob().unwrap();
        store.append_blob(staging, b"new").unwrap();
        let mut batch = ferry_engine::store::WriteBatch::new();
        batch.push(ferry_engine::store::WriteOp::CommitBlob {
            staging,
            digest: [3; 20],
        });
        store.apply(batch).unwrap();
        assert_eq!(
            store.blob(&[1; 20]).unwrap().as_deref(),
            Some(&b"old blob"[..])
        );
        assert_eq!(store.blob(&[3; 20]).unwrap().as_deref(), Some(&b"new"[..]));
    }

    /// A version 2 database's conflicted documents are listed after the migration to version
    /// 3, through the new partial index.
    #[test]
    fn version_2_conflicts_are_indexed_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.ferry");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.execute_batch(
                "INSERT INTO documents (sequence, doc_id, current_rev, flags, body_size, tree) \
                 VALUES (1, 'plain', '1-aa', 0, 1, x''), (2, 'torn', '2-bb', 2, 1, x''), \
                        (3, 'gone', '2-cc', 3, 1, x'');",
            )
            .unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let store = crate::SqliteStore::open(&path).unwrap();
        let mut ids = store.conflicted_documents().unwrap();
        ids.sort();
        assert_eq!(ids, ["gone", "torn"]);
        let conn = Connection::open(&path).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT doc_id FROM documents WHERE flags & 2 != 0",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("documents_conflicted"), "{plan}");
    }

    /// A version 3 database's current bodies move into their rows at the migration to version
    /// 4; every body still reads back, and the other revisions' stay in `bodies`.
    #[test]
    fn version_3_current_bodies_move_into_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.ferry");
        let (r1, r2) = (
            "1-".to_owned() + &"a".repeat(40),
            "2-".to_owned() + &"b".repeat(40),
        );
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute(
                "INSERT INTO documents (sequence, doc_id, current_rev, flags, body_size, tree) \
                 VALUES (1, 'a', ?1, 0, 2, x''), (2, 'bodiless', ?1, 0, 0, x'')",
                [&r2],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO bodies (doc_id, rev_id, body) VALUES ('a', ?1, x'a1'), ('a', ?2, x'a2')",
                [&r1, &r2],
            )
            .unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", 3).unwrap();
        }
        let store = crate::SqliteStore::open(&path).unwrap();
        assert_eq!(store.body("a", &r2).unwrap(), Some(vec![0xa2]));
        assert_eq!(store.body("a", &r1).unwrap(), Some(vec![0xa1]));
        assert_eq!(store.body("bodiless", &r2).unwrap(), None);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        fn column<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<T> {
            let mut statement = conn.prepare(sql).unwrap();
            let rows = statement.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        }
        let in_rows: Vec<Option<Vec<u8>>> =
            column(&conn, "SELECT body FROM documents ORDER BY sequence");
        assert_eq!(in_rows, [Some(vec![0xa2]), None]);
        assert_eq!(column::<String>(&conn, "SELECT rev_id FROM bodies"), [r1]);
    }
}
