//! The local database API over the memory store.

use ferry_engine::db::{
    Database, DatabaseConfig, DbError, DocumentChange, InsertOutcome, ProposalCheck, RemoteRevision,
};
use ferry_engine::rev::{RevId, new_rev_id};
use ferry_engine::value::Value;
use ferry_store_memory::MemoryStore;
use std::sync::{Arc, Mutex};

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).expect("test JSON parses")
}

fn db() -> Database<MemoryStore> {
    Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(7)).unwrap()
}

fn remote(doc_id: &str, history: &[&RevId], body: &Value, allow_conflict: bool) -> RemoteRevision {
    RemoteRevision {
        doc_id: doc_id.to_owned(),
        history: history.iter().map(|r| (*r).clone()).collect(),
        deleted: false,
        body: body.to_cbor(),
        allow_conflict,
        remote: None,
    }
}

#[test]
fn uuid_comes_from_the_seed_and_is_persisted() {
    let a = db();
    let b = Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(8)).unwrap();
    assert_ne!(a.uuid(), b.uuid(), "different seeds give different UUIDs");
    assert_eq!(a.uuid()[6] >> 4, 4, "version 4 layout");
    let uuid = a.uuid();
    let reopened = Database::open(a.into_store(), DatabaseConfig::with_uuid_seed(999)).unwrap();
    assert_eq!(
        reopened.uuid(),
        uuid,
        "an existing UUID is kept, whatever the seed"
    );
}

#[test]
fn put_get_update_round_trip() {
    let mut db = db();
    assert!(db.get("a").unwrap().is_none());
    let body = json(r#"{"name":"Zoë","n":1,"f":1.0,"tags":["x",{"y":null}]}"#);
    let r1 = db.put("a", &body, None).unwrap();
    assert_eq!(r1.generation(), 1);
    assert_eq!(
        r1,
        new_rev_id(None, false, &body).unwrap(),
        "IDs are Ferry digests"
    );
    let doc = db.get("a").unwrap().unwrap();
    assert_eq!(doc.body, body);
    assert_eq!(doc.rev, r1);
    assert!(!doc.deleted && !doc.conflicted);
    assert_eq!(doc.sequence, 1);

    let body2 = json(r#"{"name":"Zoë","n":2}"#);
    let r2 = db.put("a", &body2, Some(&r1)).unwrap();
    assert_eq!(r2.generation(), 2);
    let doc = db.get("a").unwrap().unwrap();
    assert_eq!(
        (doc.rev.clone(), doc.body.clone(), doc.sequence),
        (r2.clone(), body2, 2)
    );
    assert!(
        db.get_revision("a", &r1).unwrap().is_none(),
        "the old revision's body is released once it is no longer a leaf"
    );
    assert_eq!(db.store().body_count(), 1);
}

#[test]
fn stale_base_is_a_conflict() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let r2 = db.put("a", &json(r#"{"v":2}"#), Some(&r1)).unwrap();
    let err = db.put("a", &json(r#"{"v":3}"#), Some(&r1)).unwrap_err();
    assert_eq!(
        err,
        DbError::Conflict {
            current: Some(r2.clone())
        }
    );
    let err = db.put("a", &json(r#"{"v":3}"#), None).unwrap_err();
    assert_eq!(
        err,
        DbError::Conflict {
            current: Some(r2.clone())
        },
        "create over a live doc"
    );
    let err = db.put("b", &json(r#"{"v":3}"#), Some(&r1)).unwrap_err();
    assert_eq!(
        err,
        DbError::Conflict { current: None },
        "a base for a missing document"
    );
    assert_eq!(db.get("a").unwrap().unwrap().rev, r2, "nothing was written");
    assert_eq!(db.last_sequence().unwrap(), 2);
}

#[test]
fn same_edit_on_two_databases_gives_the_same_revision() {
    let mut a = db();
    let mut b = Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(99)).unwrap();
    let ra = a.put("x", &json(r#"{"k":[1,2]}"#), None).unwrap();
    let rb = b.put("y", &json(r#"{"k":[1,2]}"#), None).unwrap();
    assert_eq!(ra, rb, "neither the database nor the document ID is hashed");
}

#[test]
fn delete_then_recreate() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let r2 = db.delete("a", &r1).unwrap();
    assert_eq!(r2.generation(), 2);
    assert!(
        db.get("a").unwrap().is_none(),
        "a deleted document reads as absent"
    );
    let tomb = db
        .get_revision("a", &r2)
        .unwrap()
        .expect("the tombstone is readable");
    assert!(tomb.deleted);
    assert_eq!(tomb.body, Value::empty_object());
    let changes = db.changes_since(0, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].flags.deleted, "the feed carries the deletion");
    assert_eq!(
        db.delete("a", &r2).unwrap_err(),
        DbError::Conflict {
            current: Some(r2.clone())
        }
    );

    let r3 = db.put("a", &json(r#"{"v":"again"}"#), None).unwrap();
    assert_eq!(
        r3.generation(),
        3,
        "recreating continues the tombstone's branch"
    );
    assert_eq!(db.get("a").unwrap().unwrap().body, json(r#"{"v":"again"}"#));
}

#[test]
fn purge_is_local_and_complete() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    db.put("b", &json(r#"{"v":2}"#), None).unwrap();
    assert!(db.purge("a").unwrap());
    assert!(
        !db.purge("a").unwrap(),
        "purging a missing document reports false"
    );
    assert!(db.get("a").unwrap().is_none());
    assert!(db.revision_tree("a").unwrap().is_none());
    let feed: Vec<_> = db
        .changes_since(0, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.doc_id)
        .collect();
    assert_eq!(feed, vec!["b"]);
    // A purged document sent again by a peer is accepted as new.
    let body = json(r#"{"v":1}"#);
    let out = db
        .insert_revisions(&[remote("a", &[&r1], &body, false)])
        .unwrap();
    assert!(matches!(
        out[0],
        Ok(InsertOutcome::Inserted { current: true, .. })
    ));
    assert_eq!(db.get("a").unwrap().unwrap().rev, r1);
}

#[test]
fn changes_feed_lists_each_document_once_in_pages() {
    let mut db = db();
    let mut revs = Vec::new();
    for i in 0..30 {
        revs.push(
            db.put(&format!("d{i:02}"), &json(&format!(r#"{{"i":{i}}}"#)), None)
                .unwrap(),
        );
    }
    // Update a few: they move to the end of the feed.
    for i in [3usize, 17, 3] {
        let id = format!("d{i:02}");
        let current = db.get(&id).unwrap().unwrap().rev;
        db.put(&id, &json(r#"{"updated":true}"#), Some(&current))
            .unwrap();
    }
    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let page = db.changes_since(since, 8).unwrap();
        let Some(last) = page.last() else { break };
        since = last.sequence;
        seen.extend(page.into_iter().map(|c| c.doc_id));
    }
    assert_eq!(seen.len(), 30, "each document once");
    assert_eq!(seen[28], "d17");
    assert_eq!(seen[29], "d03", "the latest update is last");
    assert_eq!(db.last_sequence().unwrap(), 33);
}

#[test]
fn remote_branch_is_a_conflict_that_resolves_deterministically() {
    let build = |seed| {
        let mut db =
            Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(seed)).unwrap();
        let base = json(r#"{"v":0}"#);
        let r1 = db.put("doc", &base, None).unwrap();
        let local = db.put("doc", &json(r#"{"v":"local"}"#), Some(&r1)).unwrap();
        let theirs_body = json(r#"{"v":"remote","extra":true}"#);
        let theirs = new_rev_id(Some(&r1), false, &theirs_body).unwrap();
        let out = db
            .insert_revisions(&[remote("doc", &[&theirs, &r1], &theirs_body, true)])
            .unwrap();
        assert!(
            matches!(
                out[0],
                Ok(InsertOutcome::Inserted {
                    conflicted: true,
                    ..
                })
            ),
            "the branch is stored and reported: {out:?}"
        );
        (db, local, theirs)
    };
    let (mut a, local, theirs) = build(1);
    let doc = a.get("doc").unwrap().unwrap();
    assert!(doc.conflicted);
    let winner = std::cmp::max(&local, &theirs).clone();
    let loser = std::cmp::min(&local, &theirs).clone();
    assert_eq!(
        doc.rev, winner,
        "the winner rule picks the higher revision ID"
    );
    assert_eq!(a.conflicts("doc").unwrap(), vec![loser.clone()]);

    let merged = json(r#"{"v":"merged"}"#);
    let resolved = a.resolve_conflict("doc", &theirs, Some(&merged)).unwrap();
    assert_eq!(resolved.generation(), 3);
    assert!(a.conflicts("doc").unwrap().is_empty());
    let doc = a.get("doc").unwrap().unwrap();
    assert_eq!(
        (doc.rev.clone(), doc.body.clone(), doc.conflicted),
        (resolved.clone(), merged.clone(), false)
    );
    let (_, tree) = a.revision_tree("doc").unwrap().unwrap();
    let tombstoned = tree.leaves().iter().filter(|l| l.is_deleted()).count();
    assert_eq!(tombstoned, 1, "the losing branch ends in a tombstone");

    // Another peer resolving the same conflict the same way creates the same revisions.
    let (mut b, _, _) = build(2);
    assert_eq!(
        b.resolve_conflict("doc", &theirs, Some(&merged)).unwrap(),
        resolved
    );
    let (_, tree_b) = b.revision_tree("doc").unwrap().unwrap();
    assert_eq!(tree_b.encode(), tree.encode(), "identical trees");

    // Resolving a non-leaf or unknown revision is refused.
    let err = a.resolve_conflict("doc", &local, None).unwrap_err();
    assert!(matches!(err, DbError::NotALeaf { .. }), "{err:?}");
}

#[test]
fn passive_inserts_never_store_a_conflict() {
    let mut db = db();
    let r1 = db.put("doc", &json(r#"{"v":0}"#), None).unwrap();
    let r2 = db.put("doc", &json(r#"{"v":1}"#), Some(&r1)).unwrap();
    let other_body = json(r#"{"v":"other"}"#);
    let other = new_rev_id(Some(&r1), false, &other_body).unwrap();
    let fine_body = json(r#"{"hello":1}"#);
    let fine = new_rev_id(None, false, &fine_body).unwrap();
    let out = db
        .insert_revisions(&[
            remote("doc", &[&other, &r1], &other_body, false),
            remote("new", &[&fine], &fine_body, false),
            remote("doc", &[&r2, &r1], &json(r#"{"v":1}"#), false),
        ])
        .unwrap();
    assert!(
        matches!(out[0], Err(DbError::Conflict { .. })),
        "{:?}",
        out[0]
    );
    assert!(matches!(
        out[1],
        Ok(InsertOutcome::Inserted {
            current: true,
            conflicted: false,
            ..
        })
    ));
    assert_eq!(out[2], Ok(InsertOutcome::AlreadyKnown));
    assert!(db.conflicts("doc").unwrap().is_empty());
    assert_eq!(
        db.get("doc").unwrap().unwrap().rev,
        r2,
        "the refused branch left no trace"
    );
    assert_eq!(db.get("new").unwrap().unwrap().body, fine_body);
}

#[test]
fn remote_history_grafts_onto_known_ancestors() {
    let mut db = db();
    let r1 = db.put("doc", &json(r#"{"v":1}"#), None).unwrap();
    let r2 = RevId::parse("2-aaaa").unwrap();
    let r3 = RevId::parse("3-bbbb").unwrap();
    let body = json(r#"{"v":3}"#);
    let out = db
        .insert_revisions(&[remote("doc", &[&r3, &r2, &r1], &body, false)])
        .unwrap();
    assert!(matches!(
        out[0],
        Ok(InsertOutcome::Inserted {
            current: true,
            conflicted: false,
            ..
        })
    ));
    let doc = db.get("doc").unwrap().unwrap();
    assert_eq!((doc.rev, doc.body), (r3, body));
    assert_eq!(db.store().body_count(), 1, "only the leaf keeps a body");
    // A broken history is refused with a clear error and stores nothing.
    let bad = RevId::parse("5-cccc").unwrap();
    let out = db
        .insert_revisions(&[remote("doc", &[&bad, &r1], &json("{}"), true)])
        .unwrap();
    assert!(matches!(out[0], Err(DbError::RevTree(_))), "{:?}", out[0]);
    // A body that is not CBOR of an object is refused.
    let mut junk = remote("doc2", &[&RevId::parse("1-dd").unwrap()], &json("{}"), true);
    junk.body = vec![0xff, 0x00];
    assert!(matches!(
        db.insert_revisions(&[junk]).unwrap()[0],
        Err(DbError::Value(_))
    ));
    assert!(db.get("doc2").unwrap().is_none());
}

#[test]
fn limits_give_clear_errors() {
    let mut config = DatabaseConfig::with_uuid_seed(1);
    config.max_doc_id_len = 10;
    config.max_body_size = 64;
    let mut db = Database::open(MemoryStore::new(), config).unwrap();
    let ok = json(r#"{"a":1}"#);
    for bad_id in ["", "01234567890", "a\0b", "a\nb"] {
        assert!(
            matches!(db.put(bad_id, &ok, None), Err(DbError::InvalidDocId { .. })),
            "{bad_id:?} is refused"
        );
    }
    assert!(matches!(
        db.put("a", &json("[1]"), None),
        Err(DbError::BodyNotAnObject { .. })
    ));
    assert_eq!(
        db.put("a", &json(r#"{"_id":"x"}"#), None).unwrap_err(),
        DbError::ReservedProperty("_id".to_owned())
    );
    let big = json(&format!(r#"{{"s":"{}"}}"#, "x".repeat(100)));
    assert!(matches!(
        db.put("a", &big, None),
        Err(DbError::BodyTooLarge { max: 64, .. })
    ));
    assert_eq!(db.last_sequence().unwrap(), 0, "nothing was written");
}

#[test]
fn observers_see_every_committed_change() {
    let mut db = db();
    let seen: Arc<Mutex<Vec<DocumentChange>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let id = db.add_change_observer(Box::new(move |changes| {
        sink.lock().unwrap().extend_from_slice(changes)
    }));
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let r2 = db.delete("a", &r1).unwrap();
    let _ = db.put("a", &json(r#"{"v":1}"#), Some(&r1)); // a conflict: not committed, not seen
    let got: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.rev.clone(), c.sequence, c.deleted))
        .collect();
    assert_eq!(got, vec![(r1, 1, false), (r2, 2, true)]);
    assert!(db.remove_change_observer(id));
    db.put("b", &json("{}"), None).unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "a removed observer is not called"
    );
}

#[test]
fn trees_are_pruned_to_the_configured_depth() {
    let mut config = DatabaseConfig::with_uuid_seed(1);
    config.max_rev_tree_depth = 10;
    let mut db = Database::open(MemoryStore::new(), config).unwrap();
    let mut rev = db.put("a", &json(r#"{"i":0}"#), None).unwrap();
    for i in 1..40 {
        rev = db
            .put("a", &json(&format!(r#"{{"i":{i}}}"#)), Some(&rev))
            .unwrap();
    }
    assert_eq!(rev.generation(), 40);
    let (_, tree) = db.revision_tree("a").unwrap().unwrap();
    assert!(
        tree.len() <= 11,
        "pruned to the depth (+ the leaf): {} nodes",
        tree.len()
    );
    assert_eq!(tree.current(), Some(&rev));
    assert_eq!(db.store().body_count(), 1);
}

#[test]
fn a_revision_is_sent_from_a_tree_read_earlier_only_while_it_holds() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let (record, _) = db.revision_tree("a").unwrap().unwrap();
    let seen_at_r1 = record.tree;
    let sent = |db: &Database<MemoryStore>, rev: &RevId, seen: Option<&[u8]>| {
        db.revision_to_send_from("a", rev, &[], 20, seen, None)
            .unwrap()
    };
    // The tree still holds: the same revision as from a fresh read.
    let fresh = db.revision_to_send("a", &r1, &[], 20).unwrap().unwrap();
    let from_seen = sent(&db, &r1, Some(&seen_at_r1)).unwrap();
    assert_eq!(from_seen.body, fresh.body);
    assert_eq!(
        (from_seen.history, from_seen.deleted),
        (fresh.history, false)
    );

    // r1 superseded: its body is gone, so the old tree that still lists it sends nothing, as
    // a fresh read does.
    let r2 = db.put("a", &json(r#"{"v":2}"#), Some(&r1)).unwrap();
    assert!(db.revision_to_send("a", &r1, &[], 20).unwrap().is_none());
    assert!(sent(&db, &r1, Some(&seen_at_r1)).is_none());

    // A tree without the revision, or bytes that are no tree, fall back to reading it.
    for seen in [Some(&seen_at_r1[..]), Some(&b"not a tree"[..]), None] {
        let out = sent(&db, &r2, seen).expect("read from the stored tree");
        assert_eq!(out.history, vec![r1.clone()], "{seen:?}");
        assert_eq!(Value::from_cbor(&out.body).unwrap(), json(r#"{"v":2}"#));
    }

    // Purged since: nothing to send, whatever tree was seen.
    let (record, _) = db.revision_tree("a").unwrap().unwrap();
    assert!(db.purge("a").unwrap());
    assert!(sent(&db, &r2, Some(&record.tree)).is_none());
}

#[test]
fn a_body_read_with_the_feed_is_sent_for_its_tree_current_revision_only() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let entry = db.changes_with_bodies(0, 10, 1 << 20).unwrap().remove(0);
    let body = entry.body.clone().expect("the feed read the body");
    assert_eq!(Value::from_cbor(&body).unwrap(), json(r#"{"v":1}"#));
    let r2 = db.put("a", &json(r#"{"v":2}"#), Some(&r1)).unwrap();
    let sent = |db: &Database<MemoryStore>, rev: &RevId, body: &[u8]| {
        db.revision_to_send_from("a", rev, &[], 20, Some(&entry.tree), Some(body.to_vec()))
            .unwrap()
    };
    // The tree's current revision goes with the body read with it, though superseded since.
    let out = sent(&db, &r1, b"the body read").expect("sent as read");
    assert_eq!((out.body, out.history), (b"the body read".to_vec(), vec![]));
    // Another revision is read from the store, never given the seen body.
    let out = sent(&db, &r2, b"the body read").expect("read from the store");
    assert_eq!(Value::from_cbor(&out.body).unwrap(), json(r#"{"v":2}"#));
    assert_eq!(out.history, vec![r1.clone()]);
    // A body beyond the feed's budget is not read with it.
    let entries = db.changes_with_bodies(0, 10, 3).unwrap();
    assert!(entries.iter().all(|e| e.body.is_none()));
}

#[test]
fn remote_ancestors_are_recorded_on_a_tree_read_earlier_only_while_it_holds() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let r1b = db.put("b", &json(r#"{"v":1}"#), None).unwrap();
    let tree_of = |db: &Database<MemoryStore>, id: &str| db.revision_tree(id).unwrap().unwrap().0;
    let (seen_a, seen_b) = (tree_of(&db, "a"), tree_of(&db, "b"));
    // Fresh trees: recorded, and the documents keep their sequences.
    db.set_remote_ancestors_from(
        1,
        &[
            ("a", &r1, Some((seen_a.sequence, &seen_a.tree[..]))),
            ("b", &r1b, None),
        ],
    )
    .unwrap();
    assert_eq!(db.remote_ancestor("a", 1).unwrap(), Some(r1.clone()));
    assert_eq!(db.remote_ancestor("b", 1).unwrap(), Some(r1b.clone()));
    assert_eq!(tree_of(&db, "a").sequence, seen_a.sequence);

    // Another peer's record changed the tree since it was seen (the sequence did not move):
    // the stale tree is not written over it, both records stay.
    db.set_remote_ancestors(2, &[("b".to_owned(), r1b.clone())])
        .unwrap();
    db.set_remote_ancestors_from(3, &[("b", &r1b, Some((seen_b.sequence, &seen_b.tree[..])))])
        .unwrap();
    for remote in [1, 2, 3] {
        assert_eq!(
            db.remote_ancestor("b", remote).unwrap(),
            Some(r1b.clone()),
            "{remote}"
        );
    }

    // A document updated since, a seen tree without the revision, one that is no tree, and a
    // document purged since: each is read again, and nothing else is lost.
    let r2 = db.put("a", &json(r#"{"v":2}"#), Some(&r1)).unwrap();
    assert!(db.purge("b").unwrap());
    db.set_remote_ancestors_from(
        4,
        &[
            ("a", &r2, Some((seen_a.sequence, &seen_a.tree[..]))),
            ("b", &r1b, Some((seen_b.sequence, &seen_b.tree[..]))),
            ("c", &r1, Some((9, &b"not a tree"[..]))),
        ],
    )
    .unwrap();
    assert_eq!(db.remote_ancestor("a", 4).unwrap(), Some(r2.clone()));
    assert_eq!(db.remote_ancestor("a", 1).unwrap(), Some(r1));
    assert!(db.revision_tree("b").unwrap().is_none() && db.revision_tree("c").unwrap().is_none());
}

#[test]
fn a_document_read_to_answer_a_peer_is_read_again_when_it_changed_before_the_revision() {
    let mut db = db();
    let r1 = db.put("a", &json(r#"{"v":1}"#), None).unwrap();
    let r2 = new_rev_id(Some(&r1), false, &json(r#"{"v":2}"#)).unwrap();
    // Answering the proposal reads the document; then another peer's record changes its tree
    // in place, before the proposed revision arrives.
    assert_eq!(
        db.check_proposal("a", &r2, Some(&r1)).unwrap(),
        ProposalCheck::Accept
    );
    db.set_remote_ancestors(7, &[("a".to_owned(), r1.clone())])
        .unwrap();
    let stored = db
        .insert_revisions(&[remote("a", &[&r2, &r1], &json(r#"{"v":2}"#), false)])
        .unwrap();
    assert!(matches!(
        stored[0],
        Ok(InsertOutcome::Inserted { current: true, .. })
    ));
    assert_eq!(
        db.remote_ancestor("a", 7).unwrap(),
        Some(r1.clone()),
        "the record made meanwhile is kept"
    );

    // Read absent to answer the peer, then created here: the revision does not replace it.
    let theirs = new_rev_id(None, false, &json(r#"{"theirs":1}"#)).unwrap();
    assert_eq!(
        db.check_proposal("b", &theirs, None).unwrap(),
        ProposalCheck::Accept
    );
    let ours = db.put("b", &json(r#"{"ours":1}"#), None).unwrap();
    let stored = db
        .insert_revisions(&[remote("b", &[&theirs], &json(r#"{"theirs":1}"#), false)])
        .unwrap();
    assert!(
        matches!(stored[0], Err(DbError::Conflict { .. })),
        "{stored:?}"
    );
    assert_eq!(db.get("b").unwrap().unwrap().rev, ours);

    // And the revisions a puller asked for start from its read too.
    let r3 = new_rev_id(Some(&r2), false, &json(r#"{"v":3}"#)).unwrap();
    assert_eq!(
        db.known_ancestors("a", &r3, 20).unwrap(),
        Some(vec![r2.clone()])
    );
    let stored = db
        .insert_revisions(&[remote("a", &[&r3, &r2], &json(r#"{"v":3}"#), true)])
        .unwrap();
    assert!(matches!(
        stored[0],
        Ok(InsertOutcome::Inserted { current: true, .. })
    ));
    assert_eq!(db.get("a").unwrap().unwrap().rev, r3);
}
