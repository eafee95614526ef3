//! Crash safety: a child process writes batches and reports each commit; it is killed with
//! SIGKILL at seeded random points, and after every kill the reopened database must be intact,
//! hold every batch reported committed, and show no partial batch.
//!
//! The child is this test binary re-invoked on the ignored test `crash_child_writer`.
//!
//! What is honest to test here: a process crash. With `synchronous = NORMAL` in WAL mode a
//! commit is written to the write-ahead log (in the OS page cache) before `apply` returns, so it
//! survives the death of the process; `FULL` additionally fsyncs it, which only matters for a
//! power loss or an OS crash — which a test cannot cause. The kills alternate between the two
//! levels and both must keep every reported commit.
// This crate does IO: its tests measure deadlines with the clock. The no-clock rule
// (DESIGN §8.3) binds the engine and the simulator.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferry_engine::store::{Store, WriteOp};
use ferry_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use support::{batch, put, rev};

const ENV_DB: &str = "FERRY_CRASH_CHILD_DB";
const ENV_RUN: &str = "FERRY_CRASH_CHILD_RUN";
const ENV_SYNC_FULL: &str = "FERRY_CRASH_CHILD_SYNC_FULL";
const MARK: &str = "FERRY-CRASH ";
const DOCS_PER_BATCH: u32 = 50;
const KILLS: u32 = 24;
const SEED: u64 = 0x5EED_F0E7_2026_0001;

fn doc_id(run: u32, n: u32, i: u32) -> String {
    format!("r{run:02}-b{n:05}-d{i:02}")
}

fn batch_name(run: u32, n: u32) -> String {
    format!("r{run:02}-b{n:05}")
}

fn doc_rev(run: u32, n: u32, i: u32) -> ferry_engine::rev::RevId {
    rev(1, run * 10_000_000 + n * 100 + i)
}

fn doc_body(run: u32, n: u32, i: u32) -> Vec<u8> {
    doc_id(run, n, i).into_bytes().repeat(12)
}

/// The writer run in the child process: batches of 50 new documents, an update of the `hot`
/// document (guarded by `ExpectDocument`) and a local checkpoint naming the batch.
#[test]
#[ignore = "child process of `sigkill_never_loses_a_committed_batch`, which runs it"]
fn crash_child_writer() {
    let db = std::env::var(ENV_DB).expect("run by sigkill_never_loses_a_committed_batch only");
    let run: u32 = std::env::var(ENV_RUN).unwrap().parse().unwrap();
    let level = if std::env::var_os(ENV_SYNC_FULL).is_some() {
        Synchronous::Full
    } else {
        Synchronous::Normal
    };
    let mut store = SqliteConfig::new(db).synchronous(level).open().unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0..100_000u32 {
        let hot = store.document("hot").unwrap();
        let mut ops = vec![WriteOp::ExpectDocument {
            doc_id: "hot".to_owned(),
            sequence: hot.as_ref().map(|d| d.sequence),
            tree: None,
        }];
        ops.extend(
            (0..DOCS_PER_BATCH)
                .map(|i| put(&doc_id(run, n, i), doc_rev(run, n, i), &doc_body(run, n, i))),
        );
        let generation = hot.map_or(1, |d| d.current_rev.generation() + 1);
        ops.push(put(
            "hot",
            rev(generation, run),
            batch_name(run, n).as_bytes(),
        ));
        ops.push(WriteOp::SetLocalCheckpoint {
            id: batch_name(run, n),
            body: Some(batch_name(run, n).into_bytes()),
        });
        store.apply(batch(ops)).unwrap();
        // Printed only after `apply` returned: the batch is committed.
        std::io::Write::write_all(
            &mut out,
            format!("\n{MARK}committed {run} {n}\n").as_bytes(),
        )
        .unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Parses a child's `committed RUN N` line.
fn parse_commit(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let mut words = rest.strip_prefix("committed ")?.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

#[test]
fn sigkill_never_loses_a_committed_batch() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.ferry");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(SEED);
    let mut committed: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut kills_after_a_commit = 0;
    for run in 0..KILLS {
        let mut command = Command::new(&exe);
        command
            .args([
                "crash_child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DB, &path)
            .env(ENV_RUN, run.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if run % 2 == 1 {
            command.env(ENV_SYNC_FULL, "1");
        }
        let mut child = command.spawn().expect("spawn the writer");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let pump = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines_tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        // Kill at a seeded random point 0..200 ms after the start: some kills land while
        // the child opens (WAL recovery, migration), most while it writes.
        let kill_at = Instant::now() + Duration::from_micros(rng.next() % 200_000);
        let seen = committed.entry(run).or_default();
        loop {
            let now = Instant::now();
            if now >= kill_at {
                break;
            }
            match lines.recv_timeout(kill_at - now) {
                Ok(line) => seen.extend(parse_commit(&line).map(|(_, n)| n)),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "run {run}: the writer exited before it was killed: {:?}",
                        child.wait()
                    )
                }
            }
        }
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().unwrap();
        assert!(!status.success(), "run {run}: the writer was killed");
        // Everything the child printed before dying was printed after a commit returned.
        let drain_deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = drain_deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => seen.extend(parse_commit(&line).map(|(_, n)| n)),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("run {run}: stdout never closed"),
            }
        }
        pump.join().unwrap();
        if !seen.is_empty() {
            kills_after_a_commit += 1;
            let expected: BTreeSet<u32> = (0..seen.len() as u32).collect();
            assert_eq!(*seen, expected, "run {run}: commits are reported in order");
        }
        if path.exists() {
            verify(&path, &committed, run);
        }
    }
    let total: usize = committed.values().map(BTreeSet::len).sum();
    #[allow(clippy::print_stderr)] // a summary for `--nocapture` runs
    {
        eprintln!(
            "crash test: {KILLS} kills, {kills_after_a_commit} after at least one commit, \
             {total} batches reported committed, {:?}",
            started.elapsed()
        );
    }
    assert!(
        kills_after_a_commit >= KILLS / 2,
        "most kills must land while the writer commits ({kills_after_a_commit} of {KILLS} did)"
    );
    assert!(
        total >= KILLS as usize,
        "the writers committed {total} batches in all"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the crash test stays bounded ({:?})",
        started.elapsed()
    );
}

/// Reopens the database after the kill of run `last_run` and checks it.
fn verify(path: &Path, committed: &BTreeMap<u32, BTreeSet<u32>>, last_run: u32) {
    let store = SqliteStore::open(path).expect("the database reopens after SIGKILL");
    store
        .check_integrity()
        .expect("PRAGMA integrity_check is ok");
    let last_sequence = store.last_sequence().unwrap();

    // The whole feed, paged: unique increasing sequences, each document once.
    let mut since = 0;
    let mut doc_ids = BTreeSet::new();
    let mut per_batch: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    let mut max_sequence = 0;
    loop {
        let page = store.changes_since(since, 1_000).unwrap();
        let Some(last) = page.last() else { break };
        since = last.sequence;
        for change in page {
            assert!(
                change.sequence > max_sequence,
                "feed sequences strictly increase"
            );
            max_sequence = change.sequence;
            assert!(
                change.sequence <= last_sequence,
                "no sequence above last_sequence"
            );
            assert!(
                doc_ids.insert(change.doc_id.clone()),
                "each document once in the feed"
            );
            if change.doc_id == "hot" {
                continue;
            }
            let (run, n, i) = parse_doc_id(&change.doc_id);
            assert_eq!(change.current_rev, doc_rev(run, n, i), "{}", change.doc_id);
            *per_batch.entry((run, n)).or_default() += 1;
        }
    }
    assert_eq!(store.document_count().unwrap(), doc_ids.len() as u64);
    if per_batch.is_empty() {
        assert!(
            committed.values().all(BTreeSet::is_empty),
            "committed batches were lost"
        );
        return;
    }
    assert_eq!(
        max_sequence, last_sequence,
        "the hot document carries the last sequence"
    );

    // No partial batch: a visible batch has all its documents and its checkpoint.
    for (&(run, n), &count) in &per_batch {
        assert_eq!(
            count,
            DOCS_PER_BATCH,
            "batch {} is partial",
            batch_name(run, n)
        );
        assert_eq!(
            store.local_checkpoint(&batch_name(run, n)).unwrap(),
            Some(batch_name(run, n).into_bytes()),
            "the checkpoint of a visible batch is there"
        );
    }
    // Every batch reported committed is visible; at most one more per run (committed, killed
    // before it was reported) may be.
    for (&run, batches) in committed {
        for &n in batches {
            assert!(
                per_batch.contains_key(&(run, n)),
                "batch {} was reported committed but is missing",
                batch_name(run, n)
            );
        }
        let visible = per_batch.range((run, 0)..=(run, u32::MAX)).count();
        assert!(
            visible == batches.len() || visible == batches.len() + 1,
            "run {run}: {visible} batches visible, {} reported",
            batches.len()
        );
        let unreported = batches.len() as u32 + 1;
        if !per_batch.contains_key(&(run, batches.len() as u32)) {
            assert_eq!(
                store
                    .local_checkpoint(&batch_name(run, batches.len() as u32))
                    .unwrap(),
                None,
                "an invisible batch left no checkpoint"
            );
        }
        assert!(!per_batch.contains_key(&(run, unreported)));
    }
    // The hot document names the newest visible batch.
    let (&(run, n), _) = per_batch.last_key_value().unwrap();
    let hot = store
        .document("hot")
        .unwrap()
        .expect("the hot document exists");
    assert_eq!(
        store.body("hot", hot.current_rev.as_str()).unwrap(),
        Some(batch_name(run, n).into_bytes()),
        "the hot document was last written by the newest visible batch"
    );
    // Bodies of the latest run's batches read back exactly.
    for &n in committed.get(&last_run).into_iter().flatten() {
        for i in [0, DOCS_PER_BATCH - 1] {
            let id = doc_id(last_run, n, i);
            assert_eq!(
                store.body(&id, doc_rev(last_run, n, i).as_str()).unwrap(),
                Some(doc_body(last_run, n, i)),
                "{id}"
            );
        }
    }
    store.close().unwrap();
}

fn parse_doc_id(doc_id: &str) -> (u32, u32, u32) {
    let mut parts = doc_id.split('-');
    let mut field = |prefix: char| -> u32 {
        parts
            .next()
            .and_then(|p| p.strip_prefix(prefix))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected document {doc_id:?}"))
    };
    (field('r'), field('b'), field('d'))
}
