//! Document-ID lists and push/pull filters.

use ferry_engine::repl::{
    ActiveConfig, ActivityLevel, Direction, PassiveConfig, Profile, RemoteIdentity,
    ReplicationFilter,
};
use ferry_engine::value::Value;
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).unwrap()
}

fn fill(db: &mut MemDb, prefix: &str) {
    for i in 0..10 {
        let body = json(&format!(r#"{{"i":{i},"public":{}}}"#, i % 2 == 0));
        db.put(&format!("{prefix}-{i}"), &body, None).unwrap();
    }
}

fn run(pair: &mut Pair, cfg: ActiveConfig) {
    pair.connect(cfg, PassiveConfig::default());
    pair.run(100_000);
    let status = pair.active().unwrap().status();
    assert_eq!(
        status.activity,
        ActivityLevel::Stopped,
        "{}",
        pair.describe()
    );
    assert_eq!(status.error, None);
}

fn ids(db: &MemDb) -> Vec<String> {
    db.changes_since(0, 1_000)
        .unwrap()
        .into_iter()
        .map(|c| c.doc_id)
        .collect()
}

fn public_only() -> ReplicationFilter {
    ReplicationFilter::new(|doc| {
        doc.deleted || doc.body.get("public").and_then(Value::as_bool) == Some(true)
    })
}

#[test]
fn push_filter_sends_only_accepted_documents_and_counts_the_rest_handled() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a");
    let mut cfg = ActiveConfig::new(
        Direction::Push,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    cfg.push_filter = Some(public_only());
    run(&mut pair, cfg.clone());
    let mut got = ids(&pair.passive_db);
    got.sort();
    assert_eq!(got, ["a-0", "a-2", "a-4", "a-6", "a-8"]);
    // The checkpoint covers the filtered ones: a second session announces nothing.
    pair.disconnect();
    pair.link.active_events.clear();
    run(&mut pair, cfg);
    assert_eq!(pair.active().unwrap().status().progress.total, 0);
}

#[test]
fn pull_filter_stores_only_accepted_documents() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    fill(&mut pair.passive_db, "p");
    let mut cfg = ActiveConfig::new(
        Direction::Pull,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    cfg.pull_filter = Some(public_only());
    run(&mut pair, cfg);
    let mut got = ids(&pair.active_db);
    got.sort();
    assert_eq!(got, ["p-0", "p-2", "p-4", "p-6", "p-8"]);
}

#[test]
fn document_ids_limit_both_directions() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a");
    fill(&mut pair.passive_db, "p");
    let mut cfg = ActiveConfig::new(
        Direction::PushAndPull,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    cfg.doc_ids = Some(vec!["a-3".into(), "p-7".into(), "missing".into()]);
    run(&mut pair, cfg);
    let mut active = ids(&pair.active_db);
    active.sort();
    let mut passive = ids(&pair.passive_db);
    passive.sort();
    assert_eq!(active.len(), 11, "only p-7 was pulled: {active:?}");
    assert!(active.contains(&"p-7".to_owned()));
    assert_eq!(passive.len(), 11, "only a-3 was pushed: {passive:?}");
    assert!(passive.contains(&"a-3".to_owned()));
}

#[test]
fn a_panicking_filter_stops_the_document_not_the_replicator() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a");
    let mut cfg = ActiveConfig::new(
        Direction::Push,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    cfg.push_filter = Some(ReplicationFilter::new(|doc| {
        assert_ne!(doc.doc_id, "a-5", "filter bug");
        true
    }));
    run(&mut pair, cfg);
    assert_eq!(
        ids(&pair.passive_db).len(),
        9,
        "all but the one the filter failed on"
    );
    assert!(pair.passive_db.get("a-5").unwrap().is_none());
}
