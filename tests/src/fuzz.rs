//! Fuzz harnesses that need a store, shared by the `cargo fuzz` targets `passive_frames` and
//! `pair_operations` in `fuzz/` and the stable replay test (`tests/tests/fuzz_corpus.rs`).

use std::time::Duration;

use ferry_engine::blip::fuzz::split_frames;
use ferry_engine::repl::{
    ActiveConfig, Direction, PassiveConfig, PassiveSession, Profile, RemoteIdentity,
};
use ferry_engine::value::Value;

use crate::check::{Snapshot, differences, snapshot};
use crate::clock::Clock;
use crate::memory_db;
use crate::pair::Pair;

/// Feeds `data`'s frames (the format of [`split_frames`]: what a replicator sends, as recorded)
/// into a passive session over a memory database, answering, draining and firing timers as a
/// listener would. Panics if the database ends inconsistent (a current revision without a
/// body) or a session that failed keeps producing output. Returns the frames fed.
pub fn passive_frames(data: &[u8]) -> usize {
    let mut db = memory_db(1);
    let mut clock = Clock::new();
    let mut session = PassiveSession::new(Profile::CbMobile3, PassiveConfig::default());
    let frames = split_frames(data);
    for frame in &frames {
        let failed_before = session.error().is_some();
        let _ = session.handle_frame(clock.now(), frame, &mut db);
        clock.advance(Duration::from_millis(10));
        if session.poll_timeout().is_some_and(|t| t <= clock.now()) {
            let _ = session.handle_timeout(clock.now(), &mut db);
        }
        let mut out = 0;
        while session.poll_frame().is_some() {
            out += 1;
        }
        while session.poll_event().is_some() {}
        assert!(
            !(failed_before && out > 0),
            "a failed session sent {out} frames"
        );
    }
    let _ = snapshot(&db);
    frames.len()
}

/// Drives an active/passive pair (continuous push and pull over one connection) with the
/// operations `data` encodes, two bytes each: writes and deletions on either side, disconnects,
/// reconnects and partial runs. Then reconnects, runs to quiescence and panics unless both
/// databases hold the same documents at the same revisions.
pub fn pair_operations(data: &[u8]) {
    let mut pair = Pair::new(memory_db(11), memory_db(12), Profile::CbMobile3);
    let config = |pair: &Pair| {
        let mut config = ActiveConfig::new(
            Direction::PushAndPull,
            RemoteIdentity::Uuid(pair.passive_db.uuid()),
        );
        config.continuous = true;
        config.changes_batch = 5;
        config
    };
    pair.connect(config(&pair), PassiveConfig::default());
    let mut started_empty = true;
    for op in data.chunks(2) {
        let (kind, arg) = (op[0] % 8, op.get(1).copied().unwrap_or(0));
        let id = format!("doc-{}", arg % 12);
        let body = Value::object([("v", Value::from(u64::from(arg)))]);
        match kind {
            0..=3 => {
                let active = kind % 2 == 0;
                let db = if active {
                    &mut pair.active_db
                } else {
                    &mut pair.passive_db
                };
                let current = db.get(&id).expect("read").map(|d| d.rev);
                let _ = match current {
                    Some(rev) if kind >= 2 => db.delete(&id, &rev),
                    current => db.put(&id, &body, current.as_ref()),
                };
                if active {
                    pair.active_db_changed();
                } else {
                    pair.passive_db_changed();
                }
            }
            4 => pair.disconnect(),
            5 | 6 => pair.run_steps(usize::from(arg)),
            _ => {
                if !pair.link.is_connected() {
                    started_empty &= pair.active_db.document_count().expect("count") == 0;
                    pair.connect(config(&pair), PassiveConfig::default());
                }
            }
        }
    }
    if !pair.link.is_connected() {
        pair.connect(config(&pair), PassiveConfig::default());
    }
    pair.run(1_000_000);
    assert!(pair.active_error().is_none(), "{:?}", pair.active_error());
    let (a, mut p) = (snapshot(&pair.active_db), snapshot(&pair.passive_db));
    // A first pull into an empty database skips deletions (`activeOnly`).
    let skipped = |s: &mut Snapshot, other: &Snapshot| {
        s.retain(|id, (_, deleted, _)| !*deleted || other.contains_key(id));
    };
    if started_empty {
        let active = a.clone();
        skipped(&mut p, &active);
    }
    let diff = differences(&a, &p, 10);
    if let Some(first) = diff.first() {
        let doc = first.split(':').next().unwrap_or_default();
        panic!(
            "the pair did not converge: {diff:#?}\nactive: {}\npassive: {}\nevents: {:#?}",
            crate::sim::describe_tree(&pair.active_db, doc),
            crate::sim::describe_tree(&pair.passive_db, doc),
            pair.link
                .active_events
                .iter()
                .filter(|e| format!("{e:?}").contains(&format!("{doc:?}")))
                .collect::<Vec<_>>()
        );
    }
}
