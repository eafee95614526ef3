//! Opening files that are not (current) Ferry databases, and the typed errors of a full,
//! read-only or locked database.
// This crate does IO: its tests measure deadlines with the clock. The no-clock rule
// (DESIGN §8.3) binds the engine and the simulator.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_engine::store::{Store, StoreError};
use ferry_store_sqlite::schema::{APPLICATION_ID, SCHEMA_VERSION};
use ferry_store_sqlite::{SqliteConfig, SqliteStore};
use support::{batch, put, rev, snapshot};

/// Opens `path` read-write and read-only; both must fail as `expected` says, and the file must
/// be byte-for-byte what it was.
fn assert_refused(path: &Path, expected: fn(&StoreError) -> bool) -> StoreError {
    let before = snapshot(path);
    let err = SqliteStore::open(path).expect_err("opening must fail");
    assert!(expected(&err), "unexpected error: {err:?}");
    let err_ro = SqliteConfig::new(path)
        .read_only(true)
        .open()
        .expect_err("read-only opening must fail too");
    assert!(expected(&err_ro), "unexpected read-only error: {err_ro:?}");
    assert!(
        snapshot(path) == before,
        "a refused file is left byte-for-byte untouched"
    );
    err
}

fn new_ferry_db(path: &Path) {
    let mut store = SqliteStore::open(path).unwrap();
    store.apply(batch([put("a", rev(1, 1), b"a")])).unwrap();
    store.close().unwrap();
}

#[test]
fn random_bytes_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.bin");
    // Deterministic pseudo-random bytes (xorshift), 64 KiB.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let err = assert_refused(&path, |e| matches!(e, StoreError::Corrupt(_)));
    assert!(
        err.to_string().contains("not a Ferry database"),
        "the message says what is wrong: {err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_text_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "SQLite format 3 is what this file is not.\n".repeat(100),
    )
    .unwrap();
    assert_refused(&path, |e| matches!(e, StoreError::Corrupt(_)));
}

#[test]
fn another_applications_sqlite_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // With its own application_id.
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA application_id = 0x12345678; PRAGMA user_version = 1;
             CREATE TABLE documents (x); INSERT INTO documents VALUES (1);",
        )
        .unwrap();
    }
    let err = assert_refused(&path, |e| matches!(e, StoreError::Incompatible(_)));
    assert!(err.to_string().contains("not a Ferry database"), "{err}");

    // Without an application_id, but with tables: still not ours.
    let path = dir.path().join("plain.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES ('keep me');")
            .unwrap();
    }
    assert_refused(&path, |e| matches!(e, StoreError::Incompatible(_)));

    // In WAL mode, as many applications use it.
    let path = dir.path().join("wal.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA application_id = 7;
             CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        )
        .unwrap();
    }
    assert_refused(&path, |e| matches!(e, StoreError::Incompatible(_)));
}

#[test]
fn a_ferry_database_with_a_destroyed_header_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.ferry");
    new_ferry_db(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"garbage garbage!");
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(&path, |e| matches!(e, StoreError::Corrupt(_)));
}

#[test]
fn a_database_of_a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.ferry");
    new_ferry_db(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let app: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            app, APPLICATION_ID,
            "Ferry databases carry Ferry's application_id"
        );
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        conn.execute_batch("CREATE TABLE added_by_v2 (x)").unwrap();
    }
    let err = assert_refused(&path, |e| matches!(e, StoreError::Incompatible(_)));
    assert!(err.to_string().contains("newer"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1, "the version was not touched");
}

#[test]
fn a_missing_file_is_not_created_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.ferry");
    let err = SqliteConfig::new(&path)
        .create_if_missing(false)
        .open()
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = SqliteConfig::new(&path).read_only(true).open().unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(!path.exists(), "nothing was created");
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.ferry");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.last_sequence().unwrap(), 0);
}

#[test]
fn a_full_database_fails_with_full_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.ferry");
    let mut store = SqliteConfig::new(&path).max_page_count(64).open().unwrap();
    let body = vec![0xAB; 4_000];
    let mut committed = 0u32;
    let err = loop {
        assert!(committed < 1_000, "a 64-page database must fill up");
        let ops = (0..10).map(|i| {
            let n = committed * 10 + i;
            put(&format!("doc-{n}"), rev(1, n), &body)
        });
        match store.apply(batch(ops)) {
            Ok(seqs) => {
                assert_eq!(seqs.len(), 10);
                committed += 1;
            }
            Err(err) => break err,
        }
    };
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert!(committed > 0, "some batches fit before the limit");
    // Nothing of the failed batch is visible; everything before it is.
    assert_eq!(store.last_sequence().unwrap(), u64::from(committed) * 10);
    assert_eq!(store.document_count().unwrap(), u64::from(committed) * 10);
    assert!(
        store
            .document(&format!("doc-{}", committed * 10))
            .unwrap()
            .is_none()
    );
    let last = committed * 10 - 1;
    assert_eq!(
        store
            .body(&format!("doc-{last}"), rev(1, last).as_str())
            .unwrap(),
        Some(body.clone())
    );
    store.check_integrity().unwrap();
    // Freeing space lets writes succeed again.
    let purges = (0..committed * 10).map(|n| ferry_engine::store::WriteOp::PurgeDocument {
        doc_id: format!("doc-{n}"),
    });
    store.apply(batch(purges)).unwrap();
    store
        .apply(batch([put("after", rev(1, 1), &body)]))
        .unwrap();
    assert_eq!(store.document_count().unwrap(), 1);
}

#[test]
fn a_read_only_database_refuses_writes_and_is_not_modified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.ferry");
    new_ferry_db(&path);
    // Tests run as root, where chmod 0444 does not stop writes; it is set anyway, as a user
    // would, and the read-only open flag is what must hold.
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    let before = snapshot(&path);

    let mut store = SqliteConfig::new(&path).read_only(true).open().unwrap();
    assert_eq!(store.last_sequence().unwrap(), 1, "reads work");
    assert!(store.document("a").unwrap().is_some());
    let err = store.apply(batch([put("b", rev(1, 2), b"b")])).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    let err = store.set_peer_checkpoint("p", None, b"x").unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    let err = store
        .apply(batch([ferry_engine::store::WriteOp::SetUuid {
            uuid: [1; 16],
        }]))
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    assert!(store.document("b").unwrap().is_none());
    assert_eq!(store.last_sequence().unwrap(), 1);
    store.close().unwrap();
    assert!(
        snapshot(&path) == before,
        "the read-only file was not modified"
    );
}

#[test]
fn a_locked_database_fails_with_busy_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.ferry");
    new_ferry_db(&path);
    let mut store = SqliteConfig::new(&path)
        .busy_timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE database SET uuid = NULL;")
        .unwrap();

    let started = Instant::now();
    let err = store.apply(batch([put("b", rev(1, 2), b"b")])).unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    assert!(err.is_transient(), "busy is worth retrying");
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "the store waited for the busy timeout"
    );
    let err = store.set_peer_checkpoint("p", None, b"x").unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    // Under WAL, reads go on while another connection writes, and opening needs no lock.
    assert_eq!(store.last_sequence().unwrap(), 1);
    assert!(store.document("a").unwrap().is_some());
    let started = Instant::now();
    let second = SqliteStore::open(&path).expect("opening does not wait for the writer");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "opening took no write lock"
    );
    assert_eq!(second.last_sequence().unwrap(), 1);
    let reader = store.reader().unwrap();
    assert!(reader.document("a").unwrap().is_some());

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        store.apply(batch([put("b", rev(1, 2), b"b")])).unwrap(),
        vec![2]
    );
}

#[test]
fn damaged_pages_surface_as_corrupt_and_are_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged-pages.ferry");
    {
        let mut store = SqliteStore::open(&path).unwrap();
        let ops = (0..2_000u32).map(|i| put(&format!("doc-{i:04}"), rev(1, i), &[i as u8; 1_000]));
        store.apply(batch(ops)).unwrap();
        store.close().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let page = ferry_store_sqlite::schema::PAGE_SIZE as usize;
    assert!(bytes.len() > 60 * page, "the database spans many pages");
    for b in &mut bytes[40 * page..50 * page] {
        *b = 0xFF;
    }
    std::fs::write(&path, &bytes).unwrap();
    let before = snapshot(&path);

    // The header is intact, so opening succeeds; the damage shows when it is read.
    let store = SqliteStore::open(&path).unwrap();
    let err = store.check_integrity().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let mut errors = Vec::new();
    let mut record = |r: Result<(), StoreError>| errors.extend(r.err());
    record(store.changes_since(0, usize::MAX).map(drop));
    for i in 0..2_000u32 {
        let id = format!("doc-{i:04}");
        record(store.document(&id).map(drop));
        record(store.body(&id, rev(1, i).as_str()).map(drop));
    }
    assert!(!errors.is_empty(), "reading damaged pages fails");
    assert!(
        errors.iter().all(|e| matches!(e, StoreError::Corrupt(_))),
        "damage is reported as Corrupt: {:?}",
        errors.iter().find(|e| !matches!(e, StoreError::Corrupt(_)))
    );
    store.close().unwrap();
    assert!(
        snapshot(&path) == before,
        "reading a damaged file does not rewrite it"
    );
}
