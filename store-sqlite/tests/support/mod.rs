//! Helpers shared by the SQLite store's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use ferry_engine::rev::RevId;
use ferry_engine::store::{DocFlags, DocRecord, WriteBatch, WriteOp};

/// A revision ID of `generation` whose digest is derived from `seed`.
pub fn rev(generation: u64, seed: u32) -> RevId {
    let mut digest = [0u8; 20];
    digest[..4].copy_from_slice(&seed.to_be_bytes());
    digest[4..8].copy_from_slice(&(generation as u32).to_be_bytes());
    RevId::from_digest(generation, &digest)
}

/// A `PutDocument` of `doc_id` at `rev` with one body.
pub fn put(doc_id: &str, rev: RevId, body: &[u8]) -> WriteOp {
    WriteOp::PutDocument {
        record: DocRecord {
            doc_id: doc_id.to_owned(),
            current_rev: rev.clone(),
            flags: DocFlags::default(),
            sequence: 0,
            body_size: body.len() as u64,
            tree: format!("tree:{doc_id}:{rev}").into_bytes(),
        },
        put_bodies: vec![(rev, body.to_vec())],
        drop_bodies: Vec::new(),
    }
}

/// A batch of the given operations.
pub fn batch(ops: impl IntoIterator<Item = WriteOp>) -> WriteBatch {
    let mut b = WriteBatch::new();
    for op in ops {
        b.push(op);
    }
    b
}

/// The bytes of the file at `path`, and those of its `-wal` companion (empty if absent: an
/// empty write-ahead log holds nothing).
pub fn snapshot(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().unwrap().to_string_lossy()
    ));
    (
        std::fs::read(path).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}
