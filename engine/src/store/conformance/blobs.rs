//! The blob checks of the conformance suite: storage by digest, staging, reading in pieces.

use super::{apply_one, put, rev};
use crate::store::{BlobDigest, StagingId, Store, StoreError, WriteBatch, WriteOp};

/// Blobs are stored by digest; storing twice is a no-op; deleting removes them.
pub fn blobs<S: Store>(store: &mut S) {
    let d1: BlobDigest = [1; 20];
    let d2: BlobDigest = [2; 20];
    apply_one(
        store,
        WriteOp::PutBlob {
            digest: d1,
            bytes: b"one".to_vec(),
        },
    );
    apply_one(
        store,
        WriteOp::PutBlob {
            digest: d2,
            bytes: Vec::new(),
        },
    );
    apply_one(
        store,
        WriteOp::PutBlob {
            digest: d1,
            bytes: b"one".to_vec(),
        },
    );
    assert!(store.has_blob(&d1).unwrap());
    assert_eq!(store.blob(&d1).unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(
        store.blob(&d2).unwrap().as_deref(),
        Some(&b""[..]),
        "empty blobs exist"
    );
    apply_one(store, WriteOp::DeleteBlob { digest: d1 });
    assert!(!store.has_blob(&d1).unwrap());
    assert_eq!(store.blob(&d1).unwrap(), None);
    apply_one(store, WriteOp::DeleteBlob { digest: [9; 20] });
    assert!(store.has_blob(&d2).unwrap());
}

fn stage<S: Store>(store: &mut S, pieces: &[&[u8]]) -> StagingId {
    let staging = store.begin_blob().expect("begin a blob");
    for piece in pieces {
        store
            .append_blob(staging, piece)
            .expect("append to a staged blob");
    }
    staging
}

fn commit<S: Store>(store: &mut S, staging: StagingId, digest: BlobDigest) {
    apply_one(store, WriteOp::CommitBlob { staging, digest });
}

/// A blob written in pieces is invisible to every read until it is committed, then whole.
pub fn staged_blobs_are_invisible_until_committed<S: Store>(store: &mut S) {
    let digest: BlobDigest = [3; 20];
    let staging = stage(store, &[b"hello ", b"", b"world"]);
    assert!(
        !store.has_blob(&digest).unwrap(),
        "a staged blob is not stored"
    );
    assert_eq!(store.blob_length(&digest).unwrap(), None);
    assert_eq!(store.read_blob(&digest, 0, 100).unwrap(), None);
    assert_eq!(
        store.blob_digests(None, 10).unwrap(),
        Vec::<BlobDigest>::new()
    );
    commit(store, staging, digest);
    assert_eq!(store.blob_length(&digest).unwrap(), Some(11));
    assert_eq!(
        store.blob(&digest).unwrap().as_deref(),
        Some(&b"hello world"[..])
    );
    assert!(
        matches!(
            store.append_blob(staging, b"more"),
            Err(StoreError::NoSuchStagedBlob(h)) if h == staging
        ),
        "a committed handle is closed"
    );
    // An aborted blob leaves nothing.
    let other = stage(store, &[b"discard me"]);
    store.abort_blob(other).unwrap();
    store.abort_blob(other).unwrap();
    assert_eq!(store.blob_digests(None, 10).unwrap(), vec![digest]);
}

/// `read_blob` serves any window of a blob, however it was written.
pub fn blobs_are_read_in_pieces<S: Store>(store: &mut S) {
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let digest: BlobDigest = [4; 20];
    let staging = stage(store, &[&bytes[..1], &bytes[1..3000], &bytes[3000..]]);
    commit(store, staging, digest);
    for (offset, max) in [(0, 1), (0, 5000), (1, 2999), (2999, 2), (4999, 10), (10, 0)] {
        let got = store.read_blob(&digest, offset, max).unwrap().unwrap();
        let start = offset as usize;
        let end = (start + max).min(bytes.len());
        assert_eq!(got, &bytes[start..end], "window at {offset} of up to {max}");
    }
    assert_eq!(
        store.read_blob(&digest, 5000, 10).unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        store.read_blob(&digest, 9000, 10).unwrap(),
        Some(Vec::new())
    );
    let mut streamed = Vec::new();
    while let Some(piece) = store
        .read_blob(&digest, streamed.len() as u64, 777)
        .unwrap()
        .filter(|p| !p.is_empty())
    {
        streamed.extend_from_slice(&piece);
    }
    assert_eq!(streamed, bytes);
    // A blob put whole reads the same way.
    apply_one(
        store,
        WriteOp::PutBlob {
            digest: [5; 20],
            bytes: bytes.clone(),
        },
    );
    assert_eq!(
        store.read_blob(&[5; 20], 4000, 2000).unwrap().unwrap(),
        &bytes[4000..]
    );
}

/// Committing bytes under a digest already stored keeps the stored blob and drops the staging.
pub fn committing_a_stored_digest_keeps_one_copy<S: Store>(store: &mut S) {
    let digest: BlobDigest = [6; 20];
    let first = stage(store, &[b"first"]);
    commit(store, first, digest);
    let second = stage(store, &[b"second"]);
    commit(store, second, digest);
    assert_eq!(store.blob(&digest).unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(store.blob_digests(None, 10).unwrap(), vec![digest]);
    assert!(matches!(
        store.append_blob(second, b"x"),
        Err(StoreError::NoSuchStagedBlob(_))
    ));
}

/// Unknown handles are refused, and a batch committing one applies nothing.
pub fn staging_handles_are_checked<S: Store>(store: &mut S) {
    let a = store.begin_blob().unwrap();
    let b = store.begin_blob().unwrap();
    assert_ne!(a, b, "handles are distinct");
    store.abort_blob(a).unwrap();
    assert!(matches!(store.append_blob(a, b"x"), Err(StoreError::NoSuchStagedBlob(h)) if h == a));
    let mut batch = WriteBatch::new();
    batch.push(put("doc", rev(1, 1), b"body"));
    batch.push(WriteOp::CommitBlob {
        staging: a,
        digest: [7; 20],
    });
    assert!(matches!(store.apply(batch), Err(StoreError::NoSuchStagedBlob(h)) if h == a));
    assert!(
        store.document("doc").unwrap().is_none(),
        "nothing of the batch applied"
    );
    assert_eq!(store.last_sequence().unwrap(), 0);
    assert!(!store.has_blob(&[7; 20]).unwrap());
    store.append_blob(b, b"still open").unwrap();
}

/// A staged blob committed in a batch that fails stays staged (and can be committed later).
pub fn failed_batch_leaves_staged_blob_staged<S: Store>(store: &mut S) {
    let staging = stage(store, &[b"payload"]);
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::CommitBlob {
        staging,
        digest: [8; 20],
    });
    batch.push(WriteOp::ExpectDocument {
        doc_id: "missing".into(),
        sequence: Some(3),
        tree: None,
    });
    assert!(matches!(
        store.apply(batch),
        Err(StoreError::DocumentChanged { .. })
    ));
    assert!(!store.has_blob(&[8; 20]).unwrap());
    store.append_blob(staging, b"!").unwrap();
    commit(store, staging, [8; 20]);
    assert_eq!(
        store.blob(&[8; 20]).unwrap().as_deref(),
        Some(&b"payload!"[..])
    );
}

/// Blob digests are listed in byte order, in pages.
pub fn blob_digests_are_listed_in_pages<S: Store>(store: &mut S) {
    let digests: Vec<BlobDigest> = [9u8, 1, 200, 7, 0].iter().map(|n| [*n; 20]).collect();
    for d in &digests {
        apply_one(
            store,
            WriteOp::PutBlob {
                digest: *d,
                bytes: d[..1].to_vec(),
            },
        );
    }
    let mut sorted = digests.clone();
    sorted.sort();
    assert_eq!(store.blob_digests(None, 100).unwrap(), sorted);
    let mut paged = Vec::new();
    loop {
        let page = store.blob_digests(paged.last(), 2).unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, sorted);
}
