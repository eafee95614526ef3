//! The conformance suite every [`Store`] implementation runs.
//!
//! Each `check_*` function exercises one part of the [`Store`] contract on a fresh, empty store
//! and panics with a message naming the broken rule. [`store_conformance_tests!`] expands to one
//! `#[test]` per check:
//!
//! ```ignore
//! #[cfg(test)]
//! mod tests {
//!     ferry_engine::store_conformance_tests!(my_crate::MyStore::new());
//! }
//! ```
//!
//! The expression is evaluated once per test and must give a [`Fixture`]: any [`Store`] is one,
//! and a store that needs something kept alive beside it (a temporary directory) can wrap both in
//! a type implementing [`Fixture`].
//!
//! [`store_conformance_tests!`]: crate::store_conformance_tests

use super::{ChangeEntry, DocFlags, DocRecord, Sequence, Store, StoreError, WriteBatch, WriteOp};
use crate::rev::RevId;

mod blobs;
pub use blobs::*;

/// Something that owns a fresh, empty store for one check.
pub trait Fixture {
    /// The store under test.
    type Store: Store;
    /// The store.
    fn store(&mut self) -> &mut Self::Store;
}

impl<S: Store> Fixture for S {
    type Store = S;
    fn store(&mut self) -> &mut S {
        self
    }
}

/// Expands to one `#[test]` per conformance check, each on a fresh fixture from `$make`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            empty_store, put_and_read_back, update_moves_document_in_feed, feed_paging,
            bodies_put_and_dropped, update_tree_keeps_sequence, update_tree_guarded_by_the_tree, purge_removes_everything, sequences_never_reused,
            local_checkpoints, peer_checkpoint_mvcc, blobs, uuid, guard_makes_batch_atomic,
            guards_before_and_after_puts, bodies_follow_the_current_revision,
            feed_with_bodies,
            many_documents_in_one_batch, staged_blobs_are_invisible_until_committed,
            blobs_are_read_in_pieces, committing_a_stored_digest_keeps_one_copy,
            staging_handles_are_checked, failed_batch_leaves_staged_blob_staged,
            blob_digests_are_listed_in_pages, conflicted_documents_are_listed,
            batched_reads_see_the_stores_own_writes);
    };
    (@tests $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let mut fixture = $make;
                $crate::store::conformance::$check(
                    $crate::store::conformance::Fixture::store(&mut fixture),
                );
            }
        )*
    };
}

fn rev(generation: u64, n: u8) -> RevId {
    RevId::from_digest(generation, &[n; 20])
}

fn record(doc_id: &str, current: RevId, deleted: bool) -> DocRecord {
    DocRecord {
        doc_id: doc_id.to_owned(),
        current_rev: current,
        flags: DocFlags {
            deleted,
            ..DocFlags::default()
        },
        sequence: 0,
        body_size: 7,
        tree: format!("tree of {doc_id}").into_bytes(),
    }
}

fn put(doc_id: &str, current: RevId, body: &[u8]) -> WriteOp {
    WriteOp::PutDocument {
        record: record(doc_id, current.clone(), false),
        put_bodies: vec![(current, body.to_vec())],
        drop_bodies: Vec::new(),
    }
}

fn apply_one<S: Store>(store: &mut S, op: WriteOp) -> Vec<Sequence> {
    let mut batch = WriteBatch::new();
    batch.push(op);
    store.apply(batch).expect("a valid batch applies")
}

fn feed<S: Store>(store: &S) -> Vec<(Sequence, String)> {
    store
        .changes_since(0, usize::MAX)
        .expect("changes feed")
        .into_iter()
        .map(|c| (c.sequence, c.doc_id))
        .collect()
}

/// A new store is empty: no UUID, sequence 0, no documents, an empty feed.
pub fn empty_store<S: Store>(store: &mut S) {
    assert_eq!(store.uuid().unwrap(), None, "a new store has no UUID");
    assert_eq!(
        store.last_sequence().unwrap(),
        0,
        "a new store is at sequence 0"
    );
    assert_eq!(store.document_count().unwrap(), 0);
    assert!(store.document("a").unwrap().is_none());
    assert!(store.body("a", "1-00").unwrap().is_none());
    assert!(store.changes_since(0, 10).unwrap().is_empty());
    assert!(store.local_checkpoint("cp").unwrap().is_none());
    assert!(store.peer_checkpoint("cp").unwrap().is_none());
    assert!(!store.has_blob(&[1; 20]).unwrap());
    assert!(
        store.apply(WriteBatch::new()).unwrap().is_empty(),
        "an empty batch assigns nothing"
    );
    assert_eq!(
        store.last_sequence().unwrap(),
        0,
        "an empty batch assigns no sequence"
    );
}

/// A written document reads back exactly, with the assigned sequence.
pub fn put_and_read_back<S: Store>(store: &mut S) {
    let r1 = rev(1, 1);
    let mut op = put("doc-1", r1.clone(), b"body-1");
    if let WriteOp::PutDocument { record, .. } = &mut op {
        record.flags = DocFlags {
            deleted: false,
            conflicted: true,
            has_blobs: true,
            closed_branches: true,
        };
        record.sequence = 999; // ignored: the store assigns sequences
    }
    assert_eq!(apply_one(store, op), vec![1]);
    let doc = store.document("doc-1").unwrap().expect("document stored");
    assert_eq!(doc.doc_id, "doc-1");
    assert_eq!(doc.current_rev, r1);
    assert_eq!(doc.sequence, 1, "the store assigns the sequence");
    assert_eq!(
        doc.flags,
        DocFlags {
            deleted: false,
            conflicted: true,
            has_blobs: true,
            closed_branches: true,
        }
    );
    assert_eq!(doc.body_size, 7);
    assert_eq!(doc.tree, b"tree of doc-1");
    assert_eq!(
        store.body("doc-1", r1.as_str()).unwrap().as_deref(),
        Some(&b"body-1"[..])
    );
    assert_eq!(store.last_sequence().unwrap(), 1);
    assert_eq!(store.document_count().unwrap(), 1);
    let changes = store.changes_since(0, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].sequence, 1);
    assert_eq!(changes[0].doc_id, "doc-1");
    assert_eq!(changes[0].current_rev, r1);
    assert_eq!(changes[0].body_size, 7);
    assert!(changes[0].flags.conflicted);
}

/// Updating a document gives it a new sequence and moves it to the end of the feed, once.
pub fn update_moves_document_in_feed<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"a1"));
    apply_one(store, put("b", rev(1, 2), b"b1"));
    let mut tombstone = record("a", rev(2, 3), true);
    tombstone.body_size = 0;
    let seqs = apply_one(
        store,
        WriteOp::PutDocument {
            record: tombstone,
            put_bodies: vec![(rev(2, 3), Vec::new())],
            drop_bodies: vec![rev(1, 1)],
        },
    );
    assert_eq!(seqs, vec![3]);
    assert_eq!(feed(store), vec![(2, "b".to_owned()), (3, "a".to_owned())]);
    let a = store.document("a").unwrap().unwrap();
    assert!(a.flags.deleted, "tombstones are documents too");
    assert_eq!(
        store.document_count().unwrap(),
        2,
        "tombstones count as documents"
    );
    let changes = store.changes_since(2, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].flags.deleted);
    assert_eq!(changes[0].current_rev, rev(2, 3));
}

/// `changes_since` returns sequences strictly after `since`, in order, at most `limit`.
pub fn feed_paging<S: Store>(store: &mut S) {
    let mut batch = WriteBatch::new();
    for i in 0..25u8 {
        batch.push(put(&format!("d{i:02}"), rev(1, i), b"x"));
    }
    assert_eq!(store.apply(batch).unwrap(), (1..=25).collect::<Vec<_>>());
    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.changes_since(since, 7).unwrap();
        assert!(page.len() <= 7, "a page holds at most `limit` entries");
        let Some(last) = page.last() else { break };
        since = last.sequence;
        seen.extend(page.into_iter().map(|c| (c.sequence, c.doc_id)));
    }
    let expected: Vec<_> = (0..25u64).map(|i| (i + 1, format!("d{i:02}"))).collect();
    assert_eq!(
        seen, expected,
        "paging visits every document once, in sequence order"
    );
    assert!(store.changes_since(25, 10).unwrap().is_empty());
    assert!(store.changes_since(u64::MAX, 10).unwrap().is_empty());
    assert!(
        store.changes_since(0, 0).unwrap().is_empty(),
        "limit 0 returns nothing"
    );
}

/// Bodies listed in `put_bodies` are stored; those in `drop_bodies` are removed.
pub fn bodies_put_and_dropped<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"one"));
    apply_one(
        store,
        WriteOp::PutDocument {
            record: record("a", rev(2, 2), false),
            put_bodies: vec![(rev(2, 2), b"two".to_vec())],
            drop_bodies: vec![rev(1, 1), rev(1, 9)], // the second was never stored: ignored
        },
    );
    assert_eq!(
        store.body("a", rev(1, 1).as_str()).unwrap(),
        None,
        "dropped body is gone"
    );
    assert_eq!(
        store.body("a", rev(2, 2).as_str()).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    // Bodies are per document: the same revision ID on another document is another body.
    apply_one(store, put("b", rev(2, 2), b"other"));
    assert_eq!(
        store.body("a", rev(2, 2).as_str()).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(
        store.body("b", rev(2, 2).as_str()).unwrap().as_deref(),
        Some(&b"other"[..])
    );
}

/// `UpdateTree` replaces the tree and drops bodies without touching the sequence or the feed.
pub fn update_tree_keeps_sequence<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"one"));
    apply_one(
        store,
        WriteOp::PutDocument {
            record: record("a", rev(2, 2), false),
            put_bodies: vec![(rev(2, 2), b"two".to_vec())],
            drop_bodies: Vec::new(),
        },
    );
    apply_one(store, put("b", rev(1, 3), b"b"));
    let seqs = apply_one(
        store,
        WriteOp::UpdateTree {
            doc_id: "a".to_owned(),
            tree: b"new tree".to_vec(),
            drop_bodies: vec![rev(1, 1)],
            expected_tree: None,
            expected_sequence: None,
        },
    );
    assert!(seqs.is_empty(), "no sequence is assigned");
    let a = store.document("a").unwrap().unwrap();
    assert_eq!(a.tree, b"new tree");
    assert_eq!(
        (a.sequence, a.current_rev.clone()),
        (2, rev(2, 2)),
        "sequence and current kept"
    );
    assert_eq!(
        store.body("a", rev(1, 1).as_str()).unwrap(),
        None,
        "dropped body is gone"
    );
    assert_eq!(
        store.body("a", rev(2, 2).as_str()).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(
        feed(store),
        vec![(2, "a".to_owned()), (3, "b".to_owned())],
        "feed unchanged"
    );
    assert_eq!(store.last_sequence().unwrap(), 3);
    apply_one(
        store,
        WriteOp::UpdateTree {
            doc_id: "zzz".to_owned(),
            tree: vec![1],
            drop_bodies: Vec::new(),
            expected_tree: None,
            expected_sequence: None,
        },
    );
    assert!(
        store.document("zzz").unwrap().is_none(),
        "a missing document stays missing"
    );
}

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

/// Purging removes the document, its bodies and its feed entry; other documents are untouched.
pub fn purge_removes_everything<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"a"));
    apply_one(store, put("ab", rev(1, 2), b"ab"));
    apply_one(store, put("b", rev(1, 3), b"b"));
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "a".to_owned(),
        },
    );
    assert!(store.document("a").unwrap().is_none());
    assert!(store.body("a", rev(1, 1).as_str()).unwrap().is_none());
    assert_eq!(feed(store), vec![(2, "ab".to_owned()), (3, "b".to_owned())]);
    assert_eq!(
        store.body("ab", rev(1, 2).as_str()).unwrap().as_deref(),
        Some(&b"ab"[..])
    );
    assert_eq!(store.document_count().unwrap(), 2);
    // Purging a missing document is a no-op.
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "zzz".to_owned(),
        },
    );
    assert_eq!(store.document_count().unwrap(), 2);
}

/// Sequences only grow: purges and updates never let a sequence be assigned twice.
pub fn sequences_never_reused<S: Store>(store: &mut S) {
    apply_one(store, put("a", rev(1, 1), b"a"));
    apply_one(store, put("b", rev(1, 2), b"b"));
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "b".to_owned(),
        },
    );
    assert_eq!(
        store.last_sequence().unwrap(),
        2,
        "a purge does not lower the sequence"
    );
    let seqs = apply_one(store, put("c", rev(1, 3), b"c"));
    assert_eq!(seqs, vec![3]);
    let mut batch = WriteBatch::new();
    batch.push(put("a", rev(2, 4), b"a2"));
    batch.push(WriteOp::SetLocalCheckpoint {
        id: "x".to_owned(),
        body: Some(vec![1]),
    });
    batch.push(put("d", rev(1, 5), b"d"));
    assert_eq!(
        store.apply(batch).unwrap(),
        vec![4, 5],
        "one sequence per document put"
    );
    assert_eq!(store.last_sequence().unwrap(), 5);
}

/// Local checkpoints are saved, replaced and deleted through batches.
pub fn local_checkpoints<S: Store>(store: &mut S) {
    let set = |id: &str, body: Option<&[u8]>| WriteOp::SetLocalCheckpoint {
        id: id.to_owned(),
        body: body.map(<[u8]>::to_vec),
    };
    apply_one(store, set("cp-1", Some(b"first")));
    apply_one(store, set("cp-2", Some(b"other")));
    apply_one(store, set("cp-1", Some(b"second")));
    assert_eq!(
        store.local_checkpoint("cp-1").unwrap().as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        store.local_checkpoint("cp-2").unwrap().as_deref(),
        Some(&b"other"[..])
    );
    apply_one(store, set("cp-1", None));
    assert_eq!(store.local_checkpoint("cp-1").unwrap(), None);
    assert_eq!(
        store.last_sequence().unwrap(),
        0,
        "checkpoints are not documents"
    );
}

/// Peer checkpoints follow the MVCC rule: a save must name the current generation.
pub fn peer_checkpoint_mvcc<S: Store>(store: &mut S) {
    assert_eq!(store.set_peer_checkpoint("p", None, b"v1").unwrap(), 1);
    assert_eq!(
        store.peer_checkpoint("p").unwrap(),
        Some((b"v1".to_vec(), 1))
    );
    let conflict = store.set_peer_checkpoint("p", None, b"lost").unwrap_err();
    assert_eq!(
        conflict,
        StoreError::CheckpointConflict {
            id: "p".to_owned(),
            current: Some(1)
        }
    );
    assert_eq!(store.set_peer_checkpoint("p", Some(1), b"v2").unwrap(), 2);
    let stale = store
        .set_peer_checkpoint("p", Some(1), b"lost")
        .unwrap_err();
    assert_eq!(
        stale,
        StoreError::CheckpointConflict {
            id: "p".to_owned(),
            current: Some(2)
        }
    );
    assert_eq!(
        store.peer_checkpoint("p").unwrap(),
        Some((b"v2".to_vec(), 2)),
        "a refused save changes nothing"
    );
    let missing = store
        .set_peer_checkpoint("q", Some(3), b"lost")
        .unwrap_err();
    assert_eq!(
        missing,
        StoreError::CheckpointConflict {
            id: "q".to_owned(),
            current: None
        }
    );
    assert_eq!(store.peer_checkpoint("q").unwrap(), None);
}

/// The UUID is set once through a batch and read back.
pub fn uuid<S: Store>(store: &mut S) {
    let uuid = *b"0123456789abcdef";
    apply_one(store, WriteOp::SetUuid { uuid });
    assert_eq!(store.uuid().unwrap(), Some(uuid));
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

/// A batch of thousands of documents applies at once and reads back completely.
pub fn many_documents_in_one_batch<S: Store>(store: &mut S) {
    let mut batch = WriteBatch::new();
    for i in 0..5_000u32 {
        let r = RevId::from_digest(1, &i.to_be_bytes());
        batch.push(put(&format!("doc-{i:05}"), r, &i.to_le_bytes()));
    }
    let seqs = store.apply(batch).unwrap();
    assert_eq!(seqs.len(), 5_000);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "sequences are consecutive"
    );
    assert_eq!(store.document_count().unwrap(), 5_000);
    let r = RevId::from_digest(1, &4_321u32.to_be_bytes());
    assert_eq!(
        store.body("doc-04321", r.as_str()).unwrap().as_deref(),
        Some(&4_321u32.to_le_bytes()[..])
    );
    assert_eq!(store.changes_since(4_990, 100).unwrap().len(), 10);
}

/// `conflicted_documents` lists exactly the documents whose current flags say conflicted,
/// following updates, and never one that was purged.
pub fn conflicted_documents_are_listed<S: Store>(store: &mut S) {
    let conflicted = |doc_id: &str, current: RevId| {
        let mut record = record(doc_id, current.clone(), false);
        record.flags.conflicted = true;
        WriteOp::PutDocument {
            record,
            put_bodies: vec![(current, b"body".to_vec())],
            drop_bodies: Vec::new(),
        }
    };
    let listed = |store: &S| {
        let mut ids = store.conflicted_documents().unwrap();
        ids.sort();
        ids
    };
    assert!(listed(store).is_empty());
    for i in 0..50u8 {
        apply_one(store, put(&format!("plain-{i:02}"), rev(1, i), b"x"));
    }
    apply_one(store, conflicted("c", rev(2, 1)));
    apply_one(store, conflicted("a", rev(2, 2)));
    apply_one(store, put("b", rev(1, 3), b"b"));
    assert_eq!(listed(store), ["a", "c"]);
    // Resolved: the same document without the flag.
    apply_one(store, put("c", rev(3, 4), b"resolved"));
    assert_eq!(listed(store), ["a"]);
    // Conflicted later.
    apply_one(store, conflicted("b", rev(2, 5)));
    assert_eq!(listed(store), ["a", "b"]);
    apply_one(
        store,
        WriteOp::PurgeDocument {
            doc_id: "a".to_owned(),
        },
    );
    assert_eq!(listed(store), ["b"]);
}

/// Reads in a read batch see the store's own writes made during the batch (a write ends the
/// shared snapshot), and ending the batch, twice or without one, is harmless.
pub fn batched_reads_see_the_stores_own_writes<S: Store>(store: &mut S) {
    store.end_read_batch().expect("ending no batch");
    store.begin_read_batch();
    assert_eq!(store.document("a").unwrap(), None);
    assert_eq!(store.last_sequence().unwrap(), 0);
    apply_one(store, put("a", rev(1, 1), b"one"));
    assert_eq!(
        store.document("a").unwrap().map(|d| d.current_rev),
        Some(rev(1, 1)),
        "a read after a write in the batch sees the write"
    );
    assert_eq!(store.last_sequence().unwrap(), 1);
    apply_one(store, put("b", rev(1, 2), b"two"));
    assert_eq!(feed(store).len(), 2, "the feed after a second write");
    store.end_read_batch().expect("ending the batch");
    store.end_read_batch().expect("ending it again");
    assert_eq!(store.document_count().unwrap(), 2);
    store.begin_read_batch();
    assert_eq!(
        store.body("b", rev(1, 2).as_str()).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    store.end_read_batch().expect("ending the second batch");
}
