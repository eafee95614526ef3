//! Insert benchmark: the `Store` batch API against plain rusqlite, in the same run.
//!
//! ```text
//! cargo run --release -p ferry-store-sqlite --example bench_insert [-- DOCS]
//! ```
//!
//! DOCS documents (default 100,000) of ~1 KB: a 1,000-byte body, a ~100-byte revision tree,
//! one body per document, inserted
//! - through [`Store::apply`] in batches of 1,000, then in one batch of all of them, each into
//!   a new file;
//! - with plain rusqlite in one transaction into a minimal equivalent table (one row per
//!   document holding ID, revision, sequence, flags, size, tree and body), with the store's
//!   settings (WAL, `synchronous = NORMAL`) and with rusqlite's defaults (rollback journal);
//!   the faster of the two is the ceiling every ratio is taken against.
//!
//! Then it pages through the changes feed with limit 1,000. Every file lives in a temporary
//! directory. Absolute numbers on a shared machine are noise; the ratios are the result.
// A benchmark prints its results and reads the clock.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_engine::rev::RevId;
use ferry_engine::store::{DocFlags, DocRecord, Store, WriteBatch, WriteOp};
use ferry_store_sqlite::SqliteStore;

struct Doc {
    id: String,
    rev: RevId,
    tree: Vec<u8>,
    body: Vec<u8>,
}

fn documents(count: u32) -> Vec<Doc> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut bytes = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    (0..count)
        .map(|i| {
            let digest = bytes(20);
            Doc {
                id: format!("doc-{i:08}"),
                rev: RevId::from_digest(1, &digest),
                tree: bytes(100),
                body: bytes(1_000),
            }
        })
        .collect()
}

fn put(doc: &Doc) -> WriteOp {
    WriteOp::PutDocument {
        record: DocRecord {
            doc_id: doc.id.clone(),
            current_rev: doc.rev.clone(),
            flags: DocFlags::default(),
            sequence: 0,
            body_size: doc.body.len() as u64,
            tree: doc.tree.clone(),
        },
        put_bodies: vec![(doc.rev.clone(), doc.body.clone())],
        drop_bodies: Vec::new(),
    }
}

/// Inserts through the store API in batches of `batch_size`; returns the elapsed time.
fn store_insert(path: &Path, docs: &[Doc], batch_size: usize) -> (Duration, SqliteStore) {
    let mut store = SqliteStore::open(path).expect("open the store");
    // Batches are built before the clock starts: the caller owns that work in real use too.
    let batches: Vec<WriteBatch> = docs
        .chunks(batch_size)
        .map(|chunk| WriteBatch {
            ops: chunk.iter().map(put).collect(),
        })
        .collect();
    let started = Instant::now();
    for batch in batches {
        store.apply(batch).expect("apply");
    }
    (started.elapsed(), store)
}

/// Inserts with plain rusqlite in one transaction into a minimal table.
fn raw_insert(path: &Path, docs: &[Doc], wal: bool) -> Duration {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    if wal {
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE docs (doc_id TEXT PRIMARY KEY, rev_id TEXT NOT NULL, \
         sequence INTEGER NOT NULL, flags INTEGER NOT NULL, body_size INTEGER NOT NULL, \
         tree BLOB NOT NULL, body BLOB NOT NULL)",
    )
    .unwrap();
    let started = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare("INSERT INTO docs VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)")
            .unwrap();
        for (i, doc) in docs.iter().enumerate() {
            insert
                .execute(rusqlite::params![
                    doc.id,
                    doc.rev.as_str(),
                    i as i64 + 1,
                    doc.body.len() as i64,
                    doc.tree,
                    doc.body
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    started.elapsed()
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("DOCS is a number"))
        .unwrap_or(100_000);
    let n = count as usize;
    let dir = tempfile::tempdir().expect("temporary directory");
    let docs = documents(count);
    println!("{count} documents: 1,000-byte bodies, 100-byte trees, one body each");

    // Interleaved, so that neither side alone pays for a cold start.
    let raw_wal = raw_insert(&dir.path().join("raw-wal.db"), &docs, true);
    let (batched, store) = store_insert(&dir.path().join("batched.ferry"), &docs, 1_000);
    drop(store);
    let raw_default = raw_insert(&dir.path().join("raw-default.db"), &docs, false);
    let (single, store) = store_insert(&dir.path().join("single.ferry"), &docs, n);

    let started = Instant::now();
    let mut since = 0;
    let mut entries = 0;
    loop {
        let page = store.changes_since(since, 1_000).expect("feed");
        let Some(last) = page.last() else { break };
        since = last.sequence;
        entries += page.len();
    }
    let feed = started.elapsed();
    assert_eq!(entries, n, "the feed lists every document once");

    // The ceiling is the faster of the two plain-rusqlite runs.
    let ceiling = rate(n, raw_wal.min(raw_default));
    let row = |name: &str, elapsed: Duration| {
        let r = rate(n, elapsed);
        println!(
            "{name:<44} {:>8.3} s {:>10.0} docs/s   ratio {:.2}",
            elapsed.as_secs_f64(),
            r,
            r / ceiling
        );
    };
    row("raw rusqlite, 1 transaction (WAL, NORMAL)", raw_wal);
    row("raw rusqlite, 1 transaction (defaults)", raw_default);
    row("Store::apply, batches of 1,000", batched);
    row(&format!("Store::apply, 1 batch of {count}"), single);
    println!(
        "changes feed, pages of 1,000: {entries} entries in {:.3} s = {:.0} entries/s",
        feed.as_secs_f64(),
        rate(entries, feed)
    );
    println!(
        "BENCH docs={count} raw_wal_s={:.3} raw_default_s={:.3} batched_s={:.3} single_s={:.3} \
         ratio_batched={:.3} ratio_single={:.3} feed_entries_per_s={:.0}",
        raw_wal.as_secs_f64(),
        raw_default.as_secs_f64(),
        batched.as_secs_f64(),
        single.as_secs_f64(),
        rate(n, batched) / ceiling,
        rate(n, single) / ceiling,
        rate(entries, feed)
    );
}
