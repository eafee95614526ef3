//! Everything written survives closing and reopening; readers and several writers on one file.
// This crate does IO: its tests measure deadlines with the clock. The no-clock rule
// (DESIGN §8.3) binds the engine and the simulator.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use ferry_engine::store::{DocFlags, DocRecord, Store, StoreError, WriteOp};
use ferry_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use support::{batch, put, rev};

#[test]
fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.ferry");
    let uuid = *b"fedcba9876543210";
    {
        let mut store = SqliteConfig::new(&path)
            .synchronous(Synchronous::Full)
            .open()
            .unwrap();
        store.apply(batch([WriteOp::SetUuid { uuid }])).unwrap();
        let seqs = store
            .apply(batch(
                (0..100u32).map(|i| put(&format!("doc-{i:03}"), rev(1, i), b"v1")),
            ))
            .unwrap();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
        // doc-007 is updated to a tombstone: it moves to the end of the feed.
        let tombstone = WriteOp::PutDocument {
            record: DocRecord {
                doc_id: "doc-007".to_owned(),
                current_rev: rev(2, 7),
                flags: DocFlags {
                    deleted: true,
                    conflicted: true,
                    has_blobs: false,
                    closed_branches: true,
                },
                sequence: 0,
                body_size: 0,
                tree: b"tree with two revisions".to_vec(),
            },
            put_bodies: vec![(rev(2, 7), Vec::new())],
            drop_bodies: vec![rev(1, 7)],
        };
        assert_eq!(store.apply(batch([tombstone])).unwrap(), vec![101]);
        // The document at the highest sequence is purged: the sequence must not go down.
        store
            .apply(batch([put("highest", rev(1, 999), b"h")]))
            .unwrap();
        store
            .apply(batch([WriteOp::PurgeDocument {
                doc_id: "highest".to_owned(),
            }]))
            .unwrap();
        store
            .apply(batch([
                WriteOp::SetLocalCheckpoint {
                    id: "push".to_owned(),
                    body: Some(b"{\"local\":101}".to_vec()),
                },
                WriteOp::SetLocalCheckpoint {
                    id: "gone".to_owned(),
                    body: Some(b"x".to_vec()),
                },
                WriteOp::PutBlob {
                    digest: [0xB1; 20],
                    bytes: vec![0xB1; 100_000],
                },
                WriteOp::PutBlob {
                    digest: [0xB2; 20],
                    bytes: vec![0xB2; 3],
                },
            ]))
            .unwrap();
        store
            .apply(batch([
                WriteOp::SetLocalCheckpoint {
                    id: "gone".to_owned(),
                    body: None,
                },
                WriteOp::DeleteBlob { digest: [0xB2; 20] },
            ]))
            .unwrap();
        assert_eq!(store.set_peer_checkpoint("peer-a", None, b"a1").unwrap(), 1);
        assert_eq!(
            store.set_peer_checkpoint("peer-a", Some(1), b"a2").unwrap(),
            2
        );
        assert_eq!(store.set_peer_checkpoint("peer-b", None, b"b1").unwrap(), 1);
        store.close().unwrap();
    }

    let check = |store: &SqliteStore| {
        assert_eq!(store.uuid().unwrap(), Some(uuid));
        assert_eq!(
            store.last_sequence().unwrap(),
            102,
            "the purged highest sequence is still the last"
        );
        assert_eq!(store.document_count().unwrap(), 100);
        assert!(store.document("highest").unwrap().is_none());
        let doc = store.document("doc-042").unwrap().unwrap();
        assert_eq!(doc.sequence, 43);
        assert_eq!(doc.current_rev, rev(1, 42));
        assert_eq!(doc.body_size, 2);
        assert_eq!(
            doc.tree,
            format!("tree:doc-042:{}", rev(1, 42)).into_bytes()
        );
        let tomb = store.document("doc-007").unwrap().unwrap();
        assert_eq!(tomb.sequence, 101);
        assert!(tomb.flags.deleted && tomb.flags.conflicted && !tomb.flags.has_blobs);
        assert_eq!(tomb.tree, b"tree with two revisions");
        assert_eq!(
            store
                .body("doc-042", rev(1, 42).as_str())
                .unwrap()
                .as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(store.body("doc-007", rev(1, 7).as_str()).unwrap(), None);
        assert_eq!(
            store
                .body("doc-007", rev(2, 7).as_str())
                .unwrap()
                .as_deref(),
            Some(&b""[..])
        );
        let feed = store.changes_since(0, usize::MAX).unwrap();
        assert_eq!(feed.len(), 100, "each document once");
        assert!(feed.windows(2).all(|w| w[0].sequence < w[1].sequence));
        assert_eq!(feed.last().unwrap().doc_id, "doc-007");
        assert!(feed.last().unwrap().flags.deleted);
        assert_eq!(store.changes_since(100, 10).unwrap().len(), 1);
        assert_eq!(
            store.local_checkpoint("push").unwrap().as_deref(),
            Some(&b"{\"local\":101}"[..])
        );
        assert_eq!(store.local_checkpoint("gone").unwrap(), None);
        assert_eq!(
            store.peer_checkpoint("peer-a").unwrap(),
            Some((b"a2".to_vec(), 2))
        );
        assert_eq!(
            store.peer_checkpoint("peer-b").unwrap(),
            Some((b"b1".to_vec(), 1))
        );
        assert_eq!(store.blob(&[0xB1; 20]).unwrap(), Some(vec![0xB1; 100_000]));
        assert!(!store.has_blob(&[0xB2; 20]).unwrap());
        store.check_integrity().unwrap();
    };

    let mut store = SqliteStore::open(&path).unwrap();
    check(&store);
    // The reopened store keeps counting from where it was, and MVCC generations carry on.
    assert_eq!(
        store.apply(batch([put("next", rev(1, 1), b"n")])).unwrap(),
        vec![103]
    );
    assert_eq!(
        store
            .set_peer_checkpoint("peer-a", Some(1), b"stale")
            .unwrap_err(),
        StoreError::CheckpointConflict {
            id: "peer-a".to_owned(),
            current: Some(2)
        }
    );
    assert_eq!(
        store.set_peer_checkpoint("peer-a", Some(2), b"a3").unwrap(),
        3
    );
    store
        .apply(batch([WriteOp::PurgeDocument {
            doc_id: "next".to_owned(),
        }]))
        .unwrap();
    store.set_peer_checkpoint("peer-a", Some(3), b"a2").unwrap();
    drop(store); // dropping closes too
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.last_sequence().unwrap(), 103);
    assert_eq!(store.peer_checkpoint("peer-a").unwrap().unwrap().1, 4);
    drop(store);
    let store = SqliteConfig::new(&path).read_only(true).open().unwrap();
    assert_eq!(store.document_count().unwrap(), 100);
    assert_eq!(store.uuid().unwrap(), Some(uuid));
}

#[test]
fn a_reader_on_another_thread_sees_whole_batches_only() {
    const BATCHES: u32 = 40;
    const PER_BATCH: u32 = 25;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("readers.ferry")).unwrap();
    let reader = store.reader().unwrap();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut observations = 0u32;
        loop {
            assert!(
                Instant::now() < deadline,
                "the reader never saw every batch"
            );
            let count = reader.document_count().unwrap();
            assert_eq!(
                count % u64::from(PER_BATCH),
                0,
                "a partial batch was visible"
            );
            let last = reader.last_sequence().unwrap();
            assert_eq!(
                last % u64::from(PER_BATCH),
                0,
                "a partial batch was visible"
            );
            let feed = reader.changes_since(0, usize::MAX).unwrap();
            assert_eq!(
                feed.len() % PER_BATCH as usize,
                0,
                "a partial batch was visible"
            );
            assert!(feed.windows(2).all(|w| w[0].sequence < w[1].sequence));
            observations += 1;
            if count == u64::from(BATCHES * PER_BATCH) {
                return observations;
            }
        }
    });
    for b in 0..BATCHES {
        let ops = (0..PER_BATCH).map(|i| {
            let n = b * PER_BATCH + i;
            put(&format!("d{n}"), rev(1, n), &[7; 300])
        });
        store.apply(batch(ops)).unwrap();
    }
    let observations = watcher.join().expect("the reader thread's checks hold");
    assert!(observations >= 1);
    // A reader has no write methods at all; the type system keeps it read-only.
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.last_sequence().unwrap(),
        u64::from(BATCHES * PER_BATCH)
    );
    assert_eq!(
        reader.body("d5", rev(1, 5).as_str()).unwrap(),
        Some(vec![7; 300])
    );
    assert!(reader.document("d5").unwrap().is_some());
    assert_eq!(reader.uuid().unwrap(), None);
    assert_eq!(reader.local_checkpoint("x").unwrap(), None);
    assert_eq!(reader.peer_checkpoint("x").unwrap(), None);
    assert!(!reader.has_blob(&[1; 20]).unwrap());
    assert_eq!(reader.blob(&[1; 20]).unwrap(), None);
}

#[test]
fn guards_and_checkpoint_generations_hold_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-writers.ferry");
    let mut a = SqliteStore::open(&path).unwrap();
    let mut b = SqliteStore::open(&path).unwrap();
    a.apply(batch([put("x", rev(1, 1), b"x1")])).unwrap();
    let seen = a.document("x").unwrap().unwrap().sequence;
    // b changes x between a's read and a's write.
    b.apply(batch([put("x", rev(2, 2), b"x2")])).unwrap();
    let err = a
        .apply(batch([
            WriteOp::ExpectDocument {
                doc_id: "x".to_owned(),
                sequence: Some(seen),
                tree: None,
            },
            put("x", rev(2, 3), b"lost update"),
        ]))
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::DocumentChanged {
            doc_id: "x".to_owned()
        }
    );
    let x = a.document("x").unwrap().unwrap();
    assert_eq!(x.current_rev, rev(2, 2), "b's change was not overwritten");
    assert_eq!(
        a.last_sequence().unwrap(),
        2,
        "a's refused batch took no sequence"
    );
    // Sequences are shared by both writers.
    assert_eq!(
        a.apply(batch([put("y", rev(1, 4), b"y")])).unwrap(),
        vec![3]
    );
    assert_eq!(
        b.apply(batch([put("z", rev(1, 5), b"z")])).unwrap(),
        vec![4]
    );

    assert_eq!(a.set_peer_checkpoint("cp", None, b"from a").unwrap(), 1);
    assert_eq!(
        b.set_peer_checkpoint("cp", None, b"from b").unwrap_err(),
        StoreError::CheckpointConflict {
            id: "cp".to_owned(),
            current: Some(1)
        }
    );
    assert_eq!(b.set_peer_checkpoint("cp", Some(1), b"from b").unwrap(), 2);
}

/// A read batch is one snapshot: another connection's commit becomes visible when the batch
/// ends, or at the batch's own next write (which commits the read transaction before it
/// begins its own, and does not fail for it); outside a batch every read sees the last commit.
#[test]
fn a_read_batch_is_one_snapshot_until_it_ends_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batched.ferry");
    let mut a = SqliteStore::open(&path).unwrap();
    let mut b = SqliteStore::open(&path).unwrap();

    a.begin_read_batch();
    assert_eq!(a.document("x").unwrap(), None);
    b.apply(batch([put("x", rev(1, 1), b"x")])).unwrap();
    assert_eq!(a.document("x").unwrap(), None, "the batch's snapshot");
    assert_eq!(a.last_sequence().unwrap(), 0, "the batch's snapshot");
    a.end_read_batch().unwrap();
    assert!(
        a.document("x").unwrap().is_some(),
        "seen once the batch ended"
    );

    a.begin_read_batch();
    assert_eq!(a.document("y").unwrap(), None);
    b.apply(batch([put("y", rev(1, 2), b"y")])).unwrap();
    assert_eq!(a.document("y").unwrap(), None, "the batch's snapshot");
    a.apply(batch([put("z", rev(1, 3), b"z")]))
        .expect("a write inside a read batch");
    assert!(
        a.document("y").unwrap().is_some(),
        "a new snapshot after the write"
    );
    assert_eq!(a.last_sequence().unwrap(), 3);
    // A commit by the other connection during the batch's second snapshot is not seen...
    b.apply(batch([put("w", rev(1, 4), b"w")])).unwrap();
    assert_eq!(a.document("w").unwrap(), None);
    // ...and blocks nothing: the other connection writes again, then the batch ends.
    b.set_peer_checkpoint("peer", None, b"cp").unwrap();
    a.end_read_batch().unwrap();
    assert!(a.document("w").unwrap().is_some());
    assert_eq!(
        a.peer_checkpoint("peer").unwrap().map(|(body, _)| body),
        Some(b"cp".to_vec())
    );

    // Outside a batch, every read sees the last commit.
    b.apply(batch([put("v", rev(1, 5), b"v")])).unwrap();
    assert!(a.document("v").unwrap().is_some());
    a.close().unwrap();
    b.close().unwrap();
}
