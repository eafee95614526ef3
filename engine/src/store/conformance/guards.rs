//! Conformance checks of write guards: `ExpectDocument` before, after and folded into puts,
//! `UpdateTree`'s tree and sequence guards, and a failing guard's atomicity.

use super::{apply_one, feed, put, rev};
use crate::store::{Store, StoreError, WriteBatch, WriteOp};

/// `UpdateTree` with `expected_tree` writes only over exactly that tree; otherwise (another
/// tree, a missing document) the whole batch fails with `DocumentChanged` and nothing of it is
/// applied.
pub fn update_tree_guarded_by_the_tree<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"one"));
    apply_one(store, put("b", rev(1, 2), b"b"));
    let stored = store.document("a").unwrap().unwrap().tree;
    let update = |doc_id: &str, tree: &[u8], expected: &[u8]| WriteOp::UpdateTree {
        doc_id: doc_id.to_owned(),
        tree: tree.to_vec(),
        drop_bodies: Vec::new(),
        expected_tree: Some(expected.to_vec()),
        expected_sequence: None,
    };
    apply_one(store, update("a", b"tree 2", &stored));
    assert_eq!(store.document("a").unwrap().unwrap().tree, b"tree 2");
    for stale in [
        vec![
            update("b", b"b2", b"not b's tree"),
            update("a", b"tree 3", b"tree 2"),
        ],
        vec![
            update("a", b"tree 3", b"tree 2"),
            update("a", b"tree 4", &stored),
        ],
        vec![update("a", b"tree 3", b"tree 2"), update("zzz", b"z", b"z")],
    ] {
        let mut batch = WriteBatch::new();
        for op in stale {
            batch.push(op);
        }
        assert!(
            matches!(store.apply(batch), Err(StoreError::DocumentChanged { .. })),
            "a batch with a stale tree fails"
        );
        assert_eq!(
            store.document("a").unwrap().unwrap().tree,
            b"tree 2",
            "and applies nothing"
        );
        assert!(store.document("zzz").unwrap().is_none());
    }
    let b = store.document("b").unwrap().unwrap();
    assert_eq!((b.sequence, b.current_rev), (2, rev(1, 2)));

    // Guarded by the sequence, alone or with the tree: a document that moved on (or is gone)
    // fails the batch; one still there takes the tree and keeps its sequence.
    let at = |doc_id: &str, tree: &[u8], expected: Option<&[u8]>, sequence| WriteOp::UpdateTree {
        doc_id: doc_id.to_owned(),
        tree: tree.to_vec(),
        drop_bodies: Vec::new(),
        expected_tree: expected.map(<[u8]>::to_vec),
        expected_sequence: Some(sequence),
    };
    for stale in [
        at("a", b"tree 3", None, 2),
        at("a", b"tree 3", Some(b"tree 2"), 2),
        at("a", b"tree 3", Some(b"tree 1"), 1),
        at("b", b"b2", None, 1),
        at("zzz", b"z", None, 3),
    ] {
        let mut batch = WriteBatch::new();
        batch.push(at("b", b"b2", None, 2));
        batch.push(stale);
        assert!(
            matches!(store.apply(batch), Err(StoreError::DocumentChanged { .. })),
            "a batch with a stale sequence fails"
        );
        assert_eq!(store.document("a").unwrap().unwrap().tree, b"tree 2");
        assert_ne!(
            store.document("b").unwrap().unwrap().tree,
            b"b2",
            "nothing applied"
        );
    }
    let mut batch = WriteBatch::new();
    batch.push(at("a", b"tree 3", Some(b"tree 2"), 1));
    batch.push(at("b", b"b2", None, 2));
    assert!(store.apply(batch).unwrap().is_empty());
    let (a, b) = (
        store.document("a").unwrap().unwrap(),
        store.document("b").unwrap().unwrap(),
    );
    assert_eq!((a.sequence, a.tree), (1, b"tree 3".to_vec()));
    assert_eq!((b.sequence, b.tree), (2, b"b2".to_vec()));
    assert_eq!(feed(store), vec![(1, "a".to_owned()), (2, "b".to_owned())]);
}

/// A failing `ExpectDocument` guard fails the whole batch: nothing of it is visible.
pub fn guard_makes_batch_atomic<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"a"));
    let mut batch = WriteBatch::new();
    batch.push(put("b", rev(1, 2), b"b"));
    batch.push(WriteOp::SetLocalCheckpoint {
        id: "cp".to_owned(),
        body: Some(vec![1]),
    });
    batch.push(WriteOp::PutBlob {
        digest: [7; 20],
        bytes: vec![7],
    });
    batch.push(WriteOp::PurgeDocument {
        doc_id: "a".to_owned(),
    });
    batch.push(WriteOp::ExpectDocument {
        doc_id: "a".to_owned(),
        sequence: Some(99),
        tree: None,
    });
    let err = store.apply(batch).unwrap_err();
    assert_eq!(
        err,
        StoreError::DocumentChanged {
            doc_id: "a".to_owned()
        }
    );
    assert!(
        store.document("b").unwrap().is_none(),
        "no partial batch is visible"
    );
    assert!(
        store.document("a").unwrap().is_some(),
        "the purge was not applied"
    );
    assert!(store.local_checkpoint("cp").unwrap().is_none());
    assert!(!store.has_blob(&[7; 20]).unwrap());
    assert_eq!(
        store.last_sequence().unwrap(),
        1,
        "no sequence was consumed"
    );

    // Guards that hold let the batch through: an existing document at its sequence, and an
    // absent document expected absent.
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::ExpectDocument {
        doc_id: "a".to_owned(),
        sequence: Some(1),
        tree: None,
    });
    batch.push(WriteOp::ExpectDocument {
        doc_id: "new".to_owned(),
        sequence: None,
        tree: None,
    });
    batch.push(put("new", rev(1, 3), b"n"));
    assert_eq!(store.apply(batch).unwrap(), vec![2]);
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::ExpectDocument {
        doc_id: "new".to_owned(),
        sequence: None,
        tree: None,
    });
    assert_eq!(
        store.apply(batch).unwrap_err(),
        StoreError::DocumentChanged {
            doc_id: "new".to_owned()
        },
        "expecting absence fails when the document exists"
    );
}

/// A guard right before its document's put holds or fails as if checked when the batch
/// starts, whatever else the batch wrote first; a guard after a write to its document is still
/// checked against the batch's start.
pub fn guards_before_and_after_puts<S: Store>(store: &mut S) {
    let expect = |doc_id: &str, sequence| WriteOp::ExpectDocument {
        doc_id: doc_id.to_owned(),
        sequence,
        tree: None,
    };
    let changed = |doc_id: &str| StoreError::DocumentChanged {
        doc_id: doc_id.to_owned(),
    };
    apply_one(store, put("a", rev(1, 1), b"a1"));
    // Expected absent but present: the batch fails after a put of another document.
    let mut batch = WriteBatch::new();
    batch.push(put("b", rev(1, 2), b"b"));
    batch.push(expect("a", None));
    batch.push(put("a", rev(2, 1), b"a2"));
    assert_eq!(store.apply(batch).unwrap_err(), changed("a"));
    assert!(
        store.document("b").unwrap().is_none(),
        "b's put was rolled back"
    );
    assert_eq!(store.document("a").unwrap().unwrap().current_rev, rev(1, 1));
    assert_eq!(store.last_sequence().unwrap(), 1);
    // Expected at a sequence it has left.
    let mut batch = WriteBatch::new();
    batch.push(put("b", rev(1, 2), b"b"));
    batch.push(expect("a", Some(7)));
    batch.push(put("a", rev(2, 1), b"a2"));
    assert_eq!(store.apply(batch).unwrap_err(), changed("a"));
    assert!(store.document("b").unwrap().is_none());
    assert_eq!(store.body("a", rev(1, 1).as_str()).unwrap().unwrap(), b"a1");
    assert!(store.body("a", rev(2, 1).as_str()).unwrap().is_none());
    // Both guards hold: the existing document moves to a new sequence, the new one is added.
    let mut batch = WriteBatch::new();
    batch.push(expect("a", Some(1)));
    batch.push(put("a", rev(2, 1), b"a2"));
    batch.push(expect("c", None));
    batch.push(put("c", rev(1, 3), b"c"));
    assert_eq!(store.apply(batch).unwrap(), vec![2, 3]);
    assert_eq!(feed(store), vec![(2, "a".to_owned()), (3, "c".to_owned())]);
    let a = store.document("a").unwrap().unwrap();
    assert_eq!((a.sequence, a.current_rev), (2, rev(2, 1)));
    // A guard after a write to its document is checked against the batch's start.
    let mut batch = WriteBatch::new();
    batch.push(put("d", rev(1, 4), b"d"));
    batch.push(expect("d", None));
    assert_eq!(store.apply(batch).unwrap(), vec![4]);
    let mut batch = WriteBatch::new();
    batch.push(put("d", rev(2, 4), b"d2"));
    batch.push(expect("d", Some(5)));
    assert_eq!(store.apply(batch).unwrap_err(), changed("d"));
    assert_eq!(store.document("d").unwrap().unwrap().current_rev, rev(1, 4));
    // Two puts of a document after its guard: the first is guarded, the second replaces it.
    let mut batch = WriteBatch::new();
    batch.push(expect("e", None));
    batch.push(put("e", rev(1, 5), b"e1"));
    batch.push(put("e", rev(2, 5), b"e2"));
    assert_eq!(store.apply(batch).unwrap(), vec![5, 6]);
    assert_eq!(feed(store).last(), Some(&(6, "e".to_owned())));
    assert_eq!(store.document_count().unwrap(), 4);
    // Two guards before a put: both are checked against the batch's start.
    let mut batch = WriteBatch::new();
    batch.push(expect("e", Some(6)));
    batch.push(expect("e", Some(5)));
    batch.push(put("e", rev(3, 5), b"e3"));
    assert_eq!(store.apply(batch).unwrap_err(), changed("e"));
    // A purged document is absent again.
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "c".to_owned(),
        },
    );
    let mut batch = WriteBatch::new();
    batch.push(expect("c", Some(3)));
    batch.push(put("c", rev(2, 3), b"c2"));
    assert_eq!(store.apply(batch).unwrap_err(), changed("c"));
    let mut batch = WriteBatch::new();
    batch.push(expect("c", None));
    batch.push(put("c", rev(2, 3), b"c2"));
    assert_eq!(store.apply(batch).unwrap(), vec![7]);
    assert_eq!(store.last_sequence().unwrap(), 7);

    // A guard on the tree too: a tree updated in place (same sequence) fails it, alone or
    // before a put; the tree as it is lets both through.
    let seen = store.document("c").unwrap().unwrap().tree;
    apply_one(
        store,
        WriteOp::UpdateTree {
            doc_id: "c".to_owned(),
            tree: b"updated in place".to_vec(),
            drop_bodies: Vec::new(),
            expected_tree: None,
            expected_sequence: None,
        },
    );
    let with_tree = |tree: &[u8]| WriteOp::ExpectDocument {
        doc_id: "c".to_owned(),
        sequence: Some(7),
        tree: Some(tree.to_vec()),
    };
    for before_a_put in [false, true] {
        let mut batch = WriteBatch::new();
        batch.push(with_tree(&seen));
        if before_a_put {
            batch.push(put("c", rev(3, 3), b"c3"));
        }
        assert_eq!(
            store.apply(batch).unwrap_err(),
            changed("c"),
            "{before_a_put}"
        );
    }
    let mut batch = WriteBatch::new();
    batch.push(with_tree(b"updated in place"));
    assert!(store.apply(batch).unwrap().is_empty());
    let mut batch = WriteBatch::new();
    batch.push(with_tree(b"updated in place"));
    batch.push(put("c", rev(3, 3), b"c3"));
    assert_eq!(store.apply(batch).unwrap(), vec![8]);
    assert_eq!(store.document("c").unwrap().unwrap().current_rev, rev(3, 3));
}
