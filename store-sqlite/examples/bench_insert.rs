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
//!   settings (WAL, `synchronous = NORMAL`) — the ceiling the ratio is taken against — and with
//!   rusqlite's defaults (rollback journal), whose ratio is printed too.
//!
//! Then it pages through the changes feed with limit 1,000. Every file lives in a temporary
//! directory and is deleted (and dirty pages synced) before the next run; each variant runs
//! three times, interleaved, and the best time counts. Absolute numbers on a shared machine are
//! noise; the ratios are the result.
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

/// Measured runs of each variant; the best is reported.
const REPEATS: usize = 3;

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Removes a database and its companions, and flushes dirty pages to disk, so that every
/// measured run starts from the same state of the machine.
fn clean(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let _ = std::process::Command::new("sync").status();
}

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("DOCS is a number"))
        .unwrap_or(100_000);
    let n = count as usize;
    let dir = tempfile::tempdir().expect("temporary directory");
    let docs = documents(count);
    println!(
        "{count} documents: 1,000-byte bodies, 100-byte trees, one body each; best of {REPEATS} \
         runs, interleaved, each on a new file after a sync"
    );

    let mut raw_wal = Duration::MAX;
    let mut raw_default = Duration::MAX;
    let mut batched = Duration::MAX;
    let mut single = Duration::MAX;
    let mut feed = Duration::MAX;
    for run in 0..REPEATS {
        let path = dir.path().join(format!("raw-wal-{run}.db"));
        raw_wal = raw_wal.min(raw_insert(&path, &docs, true));
        clean(&path);
        let path = dir.path().join(format!("batched-{run}.ferry"));
        let (elapsed, store) = store_insert(&path, &docs, 1_000);
        batched = batched.min(elapsed);
        drop(store);
        clean(&path);
        let path = dir.path().join(format!("raw-default-{run}.db"));
        raw_default = raw_default.min(raw_insert(&path, &docs, false));
        clean(&path);
        let path = dir.path().join(format!("single-{run}.ferry"));
        let (elapsed, store) = store_insert(&path, &docs, n);
        single = single.min(elapsed);

        let started = Instant::now();
        let mut since = 0;
        let mut entries = 0;
        loop {
            let page = store.changes_since(since, 1_000).expect("feed");
            let Some(last) = page.last() else { break };
            since = last.sequence;
            entries += page.len();
        }
        feed = feed.min(started.elapsed());
        assert_eq!(entries, n, "the feed lists every document once");
        drop(store);
        clean(&path);
    }

    // The ceiling: plain rusqlite with the store's journal mode and durability (WAL, NORMAL).
    // Against rusqlite's defaults (rollback journal) WAL mode itself costs about half: every
    // page is written twice, to the log and then by the checkpoint into the database file,
    // where a rollback journal writes new pages once. Both ratios are printed.
    let ceiling = rate(n, raw_wal);
    let rollback = rate(n, raw_default);
    println!(
        "{:<44} {:>10} {:>14}   {:>11}  {:>16}",
        "", "time", "rate", "vs raw WAL", "vs raw defaults"
    );
    let row = |name: &str, elapsed: Duration| {
        let r = rate(n, elapsed);
        println!(
            "{name:<44} {:>8.3} s {:>7.0} docs/s   {:>11.2}  {:>16.2}",
            elapsed.as_secs_f64(),
            r,
            r / ceiling,
            r / rollback
        );
    };
    row("raw rusqlite, 1 transaction (WAL, NORMAL)", raw_wal);
    row("raw rusqlite, 1 transaction (defaults)", raw_default);
    row("Store::apply, batches of 1,000", batched);
    row(&format!("Store::apply, 1 batch of {count}"), single);
    println!(
        "changes feed, pages of 1,000: {n} entries in {:.3} s = {:.0} entries/s",
        feed.as_secs_f64(),
        rate(n, feed)
    );
    println!(
        "BENCH docs={count} raw_wal_s={:.3} raw_default_s={:.3} batched_s={:.3} single_s={:.3} \
         ratio_batched={:.3} ratio_single={:.3} ratio_batched_vs_default={:.3} \
         ratio_single_vs_default={:.3} feed_entries_per_s={:.0}",
        raw_wal.as_secs_f64(),
        raw_default.as_secs_f64(),
        batched.as_secs_f64(),
        single.as_secs_f64(),
        rate(n, batched) / ceiling,
        rate(n, single) / ceiling,
        rate(n, batched) / rollback,
        rate(n, single) / rollback,
        rate(n, feed)
    );
}
