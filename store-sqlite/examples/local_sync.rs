//! Ferry's demo: two SQLite databases in a temporary directory sync both ways through the real
//! replication protocol (BLIP frames, `BLIP_3+Ferry_1`), then an edit on each side syncs again
//! from the saved checkpoints. The two sessions talk over an in-process link: sockets, TLS and
//! the listener arrive with the tokio adapter.
//!
//! `cargo run --release -p ferry-store-sqlite --example local_sync [documents]`
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a demo prints and times itself

use std::io::Write;
use std::time::Instant;

use ferry_engine::db::{Database, DatabaseConfig};
use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActivityLevel, Direction, PassiveConfig, Profile, RemoteIdentity,
};
use ferry_engine::store::Store;
use ferry_store_sqlite::SqliteStore;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::clock::Clock;
use ferry_tests::link::{self, Link};
use ferry_tests::workload;

type Db = Database<SqliteStore>;

fn open(dir: &std::path::Path, name: &str, seed: u64) -> Db {
    let store = SqliteStore::open(dir.join(name)).expect("open SQLite database");
    Database::open(store, DatabaseConfig::with_uuid_seed(seed)).expect("open database")
}

/// Runs one one-shot push-and-pull session from `a` to `b`; returns documents moved.
fn sync(clock: &mut Clock, a: &mut Db, b: &mut Db, label: &str) -> u64 {
    let mut link = Link::default();
    let mut cfg = ActiveConfig::new(Direction::PushAndPull, RemoteIdentity::Uuid(b.uuid()));
    cfg.remote_id = 1;
    let mut passive = PassiveConfig::default();
    passive.remote_id = Some(1);
    link.connect(clock.now(), Profile::Ferry1, cfg, passive, a);
    let started = Instant::now();
    let mut steps = 0u64;
    loop {
        let now = clock.now();
        let moved = link.deliver(link::Direction::ToPassive, now, a, b)
            | link.deliver(link::Direction::ToActive, now, a, b);
        if !moved {
            if link.is_quiescent() {
                break;
            }
            let Some(at) = link.next_deadline() else {
                break;
            };
            clock.advance_to(at);
            link.fire_timers(clock.now(), a, b);
        }
        steps += 1;
        if steps % 2_000 == 0 {
            progress(&link, label);
        }
    }
    progress(&link, label);
    println!();
    let status = link.active.as_ref().expect("connected").status();
    assert_eq!(
        status.activity,
        ActivityLevel::Stopped,
        "the one-shot session finished"
    );
    assert!(status.error.is_none(), "no error: {:?}", status.error);
    let moved = link
        .active_events
        .iter()
        .filter(|e| matches!(e, ActiveEvent::DocumentReplicated { .. }))
        .count() as u64;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {moved} documents in {secs:.2} s: {:.0} documents/second",
        moved as f64 / secs
    );
    moved
}

fn progress(link: &Link, label: &str) {
    if let Some(active) = &link.active {
        let p = active.status().progress;
        print!("\r  {label}: {}/{} changes", p.completed, p.total);
        let _ = std::io::stdout().flush();
    }
}

fn count<S: Store>(db: &Database<S>) -> u64 {
    db.document_count().expect("count")
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    println!(
        "Ferry demo: two SQLite databases in {}",
        dir.path().display()
    );
    let mut a = open(dir.path(), "a.ferry", 1);
    let mut b = open(dir.path(), "b.ferry", 2);
    for i in 0..n {
        a.put(&workload::doc_id(i), &workload::body(i, 0), None)
            .expect("write to a");
    }
    for i in n..n + n / 5 {
        b.put(&workload::doc_id(i), &workload::body(i, 0), None)
            .expect("write to b");
    }
    println!("  a holds {} documents, b holds {}", count(&a), count(&b));

    let mut clock = Clock::new();
    println!("First sync (push and pull, BLIP_3+Ferry_1):");
    sync(&mut clock, &mut a, &mut b, "syncing");

    // One edit on each side, then sync again: the checkpoint means only those two move.
    let id_a = workload::doc_id(0);
    let rev = a.get(&id_a).expect("read").expect("exists").rev;
    a.put(&id_a, &workload::body(0, 1), Some(&rev))
        .expect("edit on a");
    let id_b = workload::doc_id(n);
    let rev = b.get(&id_b).expect("read").expect("exists").rev;
    b.put(&id_b, &workload::body(n, 1), Some(&rev))
        .expect("edit on b");
    println!("Second sync after one edit on each side:");
    let moved = sync(&mut clock, &mut a, &mut b, "syncing");
    assert_eq!(moved, 2, "only the two edits move");

    let (sa, sb) = (snapshot(&a), snapshot(&b));
    let diff = differences(&sa, &sb, 5);
    assert!(diff.is_empty(), "the databases differ: {diff:?}");
    println!(
        "Verified: both databases hold the same {} documents at the same revisions.",
        sa.len()
    );
}
