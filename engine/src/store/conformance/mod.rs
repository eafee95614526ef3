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

use super::{DocFlags, DocRecord, Sequence, Store, StoreError, WriteBatch, WriteOp};
use crate::rev::RevId;

mod blobs;
mod bodies;
mod guards;
pub use blobs::*;
pub use bodies::*;
pub use guards::*;

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
            many_documents_in_one_batch, documents_are_read_together,
            staged_blobs_are_invisible_until_committed,
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

/// `documents` reads each ID asked for, in order, as `document` would: present, absent and
/// repeated IDs, more than a store reads at once.
pub fn documents_are_read_together<S: Store>(store: &mut S) {
    assert_eq!(store.documents(&[]).unwrap(), Vec::new());
    let mut batch = WriteBatch::new();
    for i in (0..300u32).step_by(2) {
        let r = RevId::from_digest(1, &i.to_be_bytes());
        batch.push(put(&format!("doc-{i:03}"), r, &i.to_le_bytes()));
    }
    store.apply(batch).unwrap();
    // Odd numbers are absent; some IDs are asked for twice; the order is scrambled.
    let ids: Vec<String> = (0..300u32)
        .map(|i| (i * 7) % 300)
        .chain([4, 5, 4, 298])
        .map(|i| format!("doc-{i:03}"))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let read = store.documents(&ids).unwrap();
    assert_eq!(read.len(), ids.len());
    for (id, record) in ids.iter().zip(&read) {
        assert_eq!(record, &store.document(id).unwrap(), "{id}");
    }
    assert_eq!(read.iter().filter(|r| r.is_some()).count(), 150 + 3);
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
