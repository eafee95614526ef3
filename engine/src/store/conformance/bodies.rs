//! Conformance checks of revision bodies: where the current revision's body goes as the
//! current revision moves, and the changes feed read with bodies.

use super::{apply_one, put, record, rev};
use crate::rev::RevId;
use crate::store::{ChangeEntry, Store, WriteOp};

/// Every stored body reads back by revision whichever revision is current, as the current
/// revision moves between revisions with and without stored bodies, and bodies are dropped and
/// given again (stores may keep the current body apart from the others).
pub fn bodies_follow_the_current_revision<S: Store>(store: &mut S) {
    let doc = |current: RevId, put: &[(RevId, &[u8])], drop: Option<&RevId>| WriteOp::PutDocument {
        record: record("a", current, false),
        put_bodies: put.iter().map(|(r, b)| (r.clone(), b.to_vec())).collect(),
        drop_bodies: drop.into_iter().cloned().collect(),
    };
    let bodies = |store: &S| -> Vec<Option<Vec<u8>>> {
        (1..=4)
            .map(|n| store.body("a", rev(n, n as u8).as_str()).unwrap())
            .collect()
    };
    let some = |b: &[u8]| Some(b.to_vec());
    let (r1, r2, r3, r4) = (rev(1, 1), rev(2, 2), rev(3, 3), rev(4, 4));
    apply_one(store, doc(r1.clone(), &[(r1.clone(), b"b1")], None));
    // A new current revision: the old one's body stays readable.
    apply_one(store, doc(r2.clone(), &[(r2.clone(), b"b2")], None));
    assert_eq!(bodies(store), [some(b"b1"), some(b"b2"), None, None]);
    // Back to a revision whose body is stored: no body given, both stay.
    apply_one(store, doc(r1.clone(), &[], None));
    assert_eq!(bodies(store), [some(b"b1"), some(b"b2"), None, None]);
    // The same current revision again, dropping another: the current body stays.
    apply_one(store, doc(r1.clone(), &[], Some(&r2)));
    assert_eq!(bodies(store), [some(b"b1"), None, None, None]);
    // A new current revision and a side one, dropping the old current one.
    apply_one(
        store,
        doc(
            r3.clone(),
            &[(r3.clone(), b"b3"), (r4.clone(), b"b4")],
            Some(&r1),
        ),
    );
    assert_eq!(bodies(store), [None, None, some(b"b3"), some(b"b4")]);
    // The side revision becomes current with a new body, then stops being current.
    apply_one(store, doc(r4.clone(), &[(r4.clone(), b"b4'")], None));
    assert_eq!(bodies(store), [None, None, some(b"b3"), some(b"b4'")]);
    apply_one(store, doc(r3.clone(), &[], None));
    assert_eq!(bodies(store), [None, None, some(b"b3"), some(b"b4'")]);
    // A body dropped and given in one write is stored.
    apply_one(store, doc(r3.clone(), &[(r3.clone(), b"b3'")], Some(&r3)));
    assert_eq!(bodies(store), [None, None, some(b"b3'"), some(b"b4'")]);
    // The current body dropped, by a put and by a tree update.
    apply_one(store, doc(r4.clone(), &[], Some(&r4)));
    assert_eq!(bodies(store), [None, None, some(b"b3'"), None]);
    apply_one(store, doc(r3.clone(), &[], None));
    apply_one(
        store,
        WriteOp::UpdateTree {
            doc_id: "a".to_owned(),
            tree: b"t".to_vec(),
            drop_bodies: vec![r3.clone()],
            expected_tree: None,
            expected_sequence: None,
        },
    );
    assert_eq!(bodies(store), [None, None, None, None]);
    let a = store.document("a").unwrap().unwrap();
    assert_eq!((a.current_rev, a.tree), (r3.clone(), b"t".to_vec()));
    // A body given again for the current revision, then the document purged.
    apply_one(store, doc(r3.clone(), &[(r3.clone(), b"b3''")], None));
    assert_eq!(bodies(store), [None, None, some(b"b3''"), None]);
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "a".to_owned(),
        },
    );
    assert_eq!(bodies(store), [None, None, None, None]);
    apply_one(store, doc(r1.clone(), &[], None));
    assert_eq!(
        bodies(store),
        [None, None, None, None],
        "nothing left from before the purge"
    );
}

/// `changes_with_bodies` is the feed with each entry's current body, in order while the bodies
/// fit in the budget together; entries whose current body is not stored have none.
pub fn feed_with_bodies<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"aa"));
    apply_one(
        store,
        WriteOp::PutDocument {
            record: record("b", rev(1, 2), false),
            put_bodies: Vec::new(),
            drop_bodies: Vec::new(),
        },
    );
    apply_one(store, put("c", rev(1, 3), b"cccc"));
    apply_one(store, put("d", rev(1, 4), b"d"));
    // c's body is its current revision's, not the one it replaced.
    apply_one(
        store,
        WriteOp::PutDocument {
            record: record("c", rev(2, 3), false),
            put_bodies: vec![(rev(2, 3), b"c2".to_vec())],
            drop_bodies: Vec::new(),
        },
    );
    let bodies = |budget| -> Vec<(String, Option<Vec<u8>>)> {
        let entries = store.changes_with_bodies(0, 10, budget).unwrap();
        let plain = store.changes_since(0, 10).unwrap();
        assert_eq!(entries.len(), plain.len());
        for (e, p) in entries.iter().zip(&plain) {
            assert_eq!(
                ChangeEntry {
                    body: None,
                    ..e.clone()
                },
                *p,
                "the same entries"
            );
        }
        entries.into_iter().map(|e| (e.doc_id, e.body)).collect()
    };
    let some = |b: &[u8]| Some(b.to_vec());
    assert_eq!(
        bodies(100),
        [
            ("a".to_owned(), some(b"aa")),
            ("b".to_owned(), None),
            ("d".to_owned(), some(b"d")),
            ("c".to_owned(), some(b"c2")),
        ]
    );
    let only_bodies =
        |v: Vec<(String, Option<Vec<u8>>)>| v.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    assert_eq!(
        only_bodies(bodies(3)),
        [some(b"aa"), None, some(b"d"), None]
    );
    assert_eq!(only_bodies(bodies(2)), [some(b"aa"), None, None, None]);
    assert_eq!(
        only_bodies(bodies(1)),
        [None, None, None, None],
        "none after one that does not fit"
    );
    assert_eq!(only_bodies(bodies(0)), [None, None, None, None]);
    assert!(
        store
            .changes_since(0, 10)
            .unwrap()
            .iter()
            .all(|e| e.body.is_none())
    );
}
