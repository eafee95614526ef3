//! Conflict resolution on the active side, over the deterministic pair harness.

use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActivityLevel, ConflictResolver, Direction, PassiveConfig, Profile,
    RemoteIdentity, Resolution,
};
use ferry_engine::value::Value;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).unwrap()
}

fn sync(active: MemDb, passive: MemDb, resolver: Option<ConflictResolver>) -> Pair {
    let mut pair = Pair::new(active, passive, Profile::CbMobile3);
    let mut cfg = ActiveConfig::new(
        Direction::PushAndPull,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    if let Some(resolver) = resolver {
        cfg.conflict_resolver = resolver;
    }
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
    pair
}

fn same(a: &MemDb, b: &MemDb) {
    let diff = differences(&snapshot(a), &snapshot(b), 5);
    assert!(diff.is_empty(), "{diff:?}");
}

/// Both sides edit `doc` from a common revision; returns (active, passive, local, remote).
fn diverged(local: &str, remote: &str) -> (MemDb, MemDb) {
    let mut a = memory_db(1);
    let base = a.put("doc", &json(r#"{"v":0}"#), None).unwrap();
    let pair = sync(a, memory_db(2), None);
    let (mut a, mut b) = (pair.active_db, pair.passive_db);
    a.put("doc", &json(local), Some(&base)).unwrap();
    b.put("doc", &json(remote), Some(&base)).unwrap();
    (a, b)
}

#[test]
fn the_default_resolver_picks_the_same_winner_and_both_sides_converge() {
    let (a, b) = diverged(r#"{"v":"local"}"#, r#"{"v":"remote","more":1}"#);
    let pair = sync(a, b, None);
    same(&pair.active_db, &pair.passive_db);
    let resolved = pair
        .link
        .active_events
        .iter()
        .filter(|e| matches!(e, ActiveEvent::ConflictResolved { .. }))
        .count();
    assert_eq!(resolved, 1, "{:?}", pair.link.active_events);
    assert!(pair.active_db.conflicts("doc").unwrap().is_empty());
    assert!(
        pair.passive_db.conflicts("doc").unwrap().is_empty(),
        "the passive never stores one"
    );
}

#[test]
fn a_deletion_wins_over_an_edit() {
    let mut a = memory_db(1);
    let base = a.put("doc", &json(r#"{"v":0}"#), None).unwrap();
    let pair = sync(a, memory_db(2), None);
    let (mut a, mut b) = (pair.active_db, pair.passive_db);
    a.put("doc", &json(r#"{"v":"edited"}"#), Some(&base))
        .unwrap();
    b.delete("doc", &base).unwrap();
    let pair = sync(a, b, None);
    assert!(
        pair.active_db.get("doc").unwrap().is_none(),
        "deleted on the active side"
    );
    assert!(
        pair.passive_db.get("doc").unwrap().is_none(),
        "and on the passive side"
    );
    same(&pair.active_db, &pair.passive_db);
}

#[test]
fn a_custom_resolver_can_merge() {
    let (a, b) = diverged(r#"{"v":"local","l":1}"#, r#"{"v":"remote","r":2}"#);
    let merge = ConflictResolver::new(|c| {
        let mut merged = c.remote.body.as_object().cloned().unwrap_or_default();
        for (k, v) in c.local.body.as_object().into_iter().flatten() {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
        merged.insert("merged".into(), Value::from(true));
        Resolution::Merged(Value::Object(merged))
    });
    let pair = sync(a, b, Some(merge));
    let expected = json(r#"{"v":"remote","r":2,"l":1,"merged":true}"#);
    assert_eq!(pair.active_db.get("doc").unwrap().unwrap().body, expected);
    assert_eq!(
        pair.passive_db.get("doc").unwrap().unwrap().body,
        expected,
        "the merge was pushed"
    );
    same(&pair.active_db, &pair.passive_db);
}

#[test]
fn a_panicking_resolver_leaves_the_document_conflicted_and_reported() {
    let (a, b) = diverged(r#"{"v":"local"}"#, r#"{"v":"remote"}"#);
    let mut a = a;
    a.put("other", &json(r#"{"x":1}"#), None).unwrap();
    let broken = ConflictResolver::new(|_| panic!("resolver bug"));
    let pair = sync(a, b, Some(broken));
    assert!(
        pair.link.active_events.iter().any(|e| matches!(e,
            ActiveEvent::DocumentFailed { doc_id, error, .. } if doc_id == "doc" && error.contains("panicked"))),
        "{:?}",
        pair.link.active_events
    );
    assert!(
        pair.active_db.get("doc").unwrap().unwrap().conflicted,
        "left conflicted"
    );
    assert!(
        pair.passive_db.get("other").unwrap().is_some(),
        "the replicator carried on"
    );

    // The next session finds the leftover conflict and resolves it with a working resolver.
    let pair = sync(pair.active_db, pair.passive_db, None);
    assert!(!pair.active_db.get("doc").unwrap().unwrap().conflicted);
    same(&pair.active_db, &pair.passive_db);
}

#[test]
fn three_peers_resolving_the_same_conflict_converge_without_new_revisions() {
    // A and B both hold the conflict between their edits; each resolves it while pulling from
    // C, which already has one side. All three end identical, and further syncs create nothing.
    let mut a = memory_db(1);
    let base = a.put("doc", &json(r#"{"v":0}"#), None).unwrap();
    let p = sync(a, memory_db(2), None);
    let (a, b) = (p.active_db, p.passive_db);
    let p = sync(a, memory_db(3), None);
    let (mut a, mut c) = (p.active_db, p.passive_db);
    let mut b = b;
    a.put("doc", &json(r#"{"v":"a"}"#), Some(&base)).unwrap();
    b.put("doc", &json(r#"{"v":"b"}"#), Some(&base)).unwrap();
    // C gets B's edit; then A and B each sync with C and with each other.
    let p = sync(b, c, None);
    let (b, cc) = (p.active_db, p.passive_db);
    c = cc;
    let p = sync(a, c, None); // A resolves A-vs-B independently
    let (a, c2) = (p.active_db, p.passive_db);
    let p = sync(a, b, None); // and meets B
    let (a, b2) = (p.active_db, p.passive_db);
    let p = sync(b2, c2, None);
    let (b3, c3) = (p.active_db, p.passive_db);
    same(&a, &b3);
    same(&b3, &c3);
    let before: Vec<u64> = [&a, &b3, &c3]
        .iter()
        .map(|d| d.last_sequence().unwrap())
        .collect();
    let p = sync(a, b3, None);
    let (a, b4) = (p.active_db, p.passive_db);
    let p = sync(b4, c3, None);
    let (b5, c5) = (p.active_db, p.passive_db);
    let after: Vec<u64> = [&a, &b5, &c5]
        .iter()
        .map(|d| d.last_sequence().unwrap())
        .collect();
    assert_eq!(
        before, after,
        "no revision was created by syncing converged peers"
    );
    same(&a, &c5);
}
