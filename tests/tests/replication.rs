//! Replication between an active and a passive session over the deterministic pair harness.

use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActivityLevel, Direction, PassiveConfig, PassiveEvent, Profile,
    RemoteIdentity,
};
use ferry_engine::value::Value;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

const PROFILES: [Profile; 2] = [Profile::CbMobile3, Profile::Ferry1];

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).unwrap()
}

fn fill(db: &mut MemDb, prefix: &str, n: usize) {
    for i in 0..n {
        let body = json(&format!(
            r#"{{"i":{i},"from":"{prefix}","tags":["a","b"],"f":1.5}}"#
        ));
        db.put(&format!("{prefix}-{i:05}"), &body, None).unwrap();
    }
}

fn config(pair: &Pair, direction: Direction) -> ActiveConfig {
    ActiveConfig::new(direction, RemoteIdentity::Uuid(pair.passive_db.uuid()))
}

fn assert_converged(pair: &Pair) {
    let a = snapshot(&pair.active_db);
    let b = snapshot(&pair.passive_db);
    let diff = differences(&a, &b, 10);
    assert!(diff.is_empty(), "databases differ:\n{}", diff.join("\n"));
}

fn replicated(pair: &Pair, direction: Direction) -> usize {
    pair.active_events
        .iter()
        .filter(|e| matches!(e, ActiveEvent::DocumentReplicated { direction: d, .. } if *d == direction))
        .count()
}

fn received_by_passive(pair: &Pair) -> usize {
    pair.passive_events
        .iter()
        .filter(|e| matches!(e, PassiveEvent::DocumentReceived { .. }))
        .count()
}

fn assert_finished_cleanly(pair: &Pair) {
    let status = pair.active.as_ref().unwrap().status();
    assert_eq!(
        status.activity,
        ActivityLevel::Stopped,
        "{}",
        pair.describe()
    );
    assert_eq!(status.error, None);
    assert_eq!(
        status.progress.completed, status.progress.total,
        "{status:?}"
    );
}

#[test]
fn one_shot_push_copies_every_document() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 50);
        let cfg = config(&pair, Direction::Push);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(snapshot(&pair.passive_db).len(), 50);
        assert_eq!(replicated(&pair, Direction::Push), 50, "{profile:?}");
        assert_eq!(received_by_passive(&pair), 50);
        assert!(pair.active_events.contains(&ActiveEvent::CheckpointSaved));
    }
}

#[test]
fn one_shot_pull_copies_every_document() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.passive_db, "p", 50);
        let cfg = config(&pair, Direction::Pull);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(replicated(&pair, Direction::Pull), 50, "{profile:?}");
    }
}

#[test]
fn push_and_pull_merges_both_databases() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 30);
        fill(&mut pair.passive_db, "p", 40);
        let cfg = config(&pair, Direction::PushAndPull);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(snapshot(&pair.active_db).len(), 70);
        assert_eq!(replicated(&pair, Direction::Push), 30);
        assert_eq!(replicated(&pair, Direction::Pull), 40);
    }
}
