//! # ferry-store-memory
//!
//! [`MemoryStore`]: Ferry's [`Store`] trait kept entirely in memory. It is what the deterministic
//! simulator and the engine's tests run on, and suits ephemeral peers that need no durability.
//! Everything is lost when the value is dropped.
//!
//! Documents, each with its revision bodies, are found by ID in a hash map, which nothing
//! iterates; everything read in order (the changes feed, checkpoints, blobs) is in a `BTreeMap`, so every read is
//! deterministic.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ferry_engine::rev::RevId;
use ferry_engine::store::{
    BlobDigest, ChangeEntry, DocRecord, Sequence, StagingId, Store, StoreError, WriteBatch, WriteOp,
};

/// A document: its record and the bodies of its revisions that have one (usually just the
/// current one, so a short list beats a map).
#[derive(Clone)]
struct Doc {
    record: DocRecord,
    bodies: Vec<(RevId, Vec<u8>)>,
}

impl Doc {
    /// Stores `body` for `rev`; whether it is a new body (not a replaced one).
    fn put_body(&mut self, rev: RevId, body: Vec<u8>) -> bool {
        match self.bodies.iter_mut().find(|(r, _)| *r == rev) {
            Some(slot) => {
                slot.1 = body;
                false
            }
            None => {
                self.bodies.push((rev, body));
                true
            }
        }
    }

    /// Removes the body of `rev`; whether there was one.
    fn drop_body(&mut self, rev: &RevId) -> bool {
        match self.bodies.iter().position(|(r, _)| r == rev) {
            Some(at) => {
                self.bodies.swap_remove(at);
                true
            }
            None => false,
        }
    }
}

/// A [`Store`] in memory. Cloning copies the whole database (handy to snapshot a peer in tests).
#[derive(Clone, Default)]
pub struct MemoryStore {
    uuid: Option<[u8; 16]>,
    last_sequence: Sequence,
    /// Document ID → record and bodies. Only looked up, never iterated.
    docs: HashMap<String, Doc>,
    /// Sequence → document ID: the changes feed.
    by_sequence: BTreeMap<Sequence, String>,
    /// The number of bodies held, over all documents.
    body_count: usize,
    local_checkpoints: BTreeMap<String, Vec<u8>>,
    peer_checkpoints: BTreeMap<String, (Vec<u8>, u64)>,
    blobs: BTreeMap<BlobDigest, Vec<u8>>,
    /// Blobs being written, by staging handle; invisible to reads.
    staged: BTreeMap<StagingId, Vec<u8>>,
    next_staging: StagingId,
}

impl MemoryStore {
    /// Fails with [`StoreError::DocumentChanged`] unless `holds` is true of `doc_id`'s record.
    fn guard(
        &self,
        doc_id: &str,
        holds: impl FnOnce(Option<&DocRecord>) -> bool,
    ) -> Result<(), StoreError> {
        if holds(self.docs.get(doc_id).map(|d| &d.record)) {
            Ok(())
        } else {
            Err(StoreError::DocumentChanged {
                doc_id: doc_id.to_owned(),
            })
        }
    }

    /// An empty database with no UUID yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of revision bodies held (for tests that check bodies are released).
    pub fn body_count(&self) -> usize {
        self.body_count
    }

    /// The number of blobs held.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// The number of blobs being written (staged, not committed).
    pub fn staged_blob_count(&self) -> usize {
        self.staged.len()
    }
}

impl fmt::Debug for MemoryStore {
    /// A summary: the contents of a whole database are rarely worth printing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("uuid", &self.uuid)
            .field("last_sequence", &self.last_sequence)
            .field("documents", &self.docs.len())
            .field("bodies", &self.body_count)
            .field("local_checkpoints", &self.local_checkpoints)
            .field("peer_checkpoints", &self.peer_checkpoints)
            .field("blobs", &self.blobs.len())
            .field("staged", &self.staged.len())
            .finish()
    }
}

impl Store for MemoryStore {
    fn uuid(&self) -> Result<Option<[u8; 16]>, StoreError> {
        Ok(self.uuid)
    }

    fn document(&self, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
        Ok(self.docs.get(doc_id).map(|doc| doc.record.clone()))
    }

    fn body(&self, doc_id: &str, rev_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.docs.get(doc_id).and_then(|doc| {
            doc.bodies
                .iter()
                .find(|(rev, _)| rev.as_str() == rev_id)
                .map(|(_, body)| body.clone())
        }))
    }

    fn last_sequence(&self) -> Result<Sequence, StoreError> {
        Ok(self.last_sequence)
    }

    fn changes_since(&self, since: Sequence, limit: usize) -> Result<Vec<ChangeEntry>, StoreError> {
        self.changes_with_bodies(since, limit, 0)
    }

    fn changes_with_bodies(
        &self,
        since: Sequence,
        limit: usize,
        mut budget: usize,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        let Some(start) = since.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for (_, doc_id) in self.by_sequence.range(start..).take(limit) {
            let doc = self.docs.get(doc_id).ok_or_else(|| {
                StoreError::Corrupt(format!("changes feed names missing document {doc_id:?}"))
            })?;
            let record = &doc.record;
            let body = doc
                .bodies
                .iter()
                .find(|(rev, _)| *rev == record.current_rev)
                .map(|(_, body)| body);
            // Bodies in order while they fit: once one does not, none follows.
            let body = match body {
                Some(body) if body.len() <= budget => {
                    budget -= body.len();
                    Some(body.clone())
                }
                Some(_) => {
                    budget = 0;
                    None
                }
                None => None,
            };
            out.push(ChangeEntry {
                sequence: record.sequence,
                doc_id: record.doc_id.clone(),
                current_rev: record.current_rev.clone(),
                flags: record.flags,
                body_size: record.body_size,
                tree: record.tree.clone(),
                body,
            });
        }
        Ok(out)
    }

    fn document_count(&self) -> Result<u64, StoreError> {
        Ok(self.docs.len() as u64)
    }

    fn local_checkpoint(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.local_checkpoints.get(id).cloned())
    }

    fn peer_checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        Ok(self.peer_checkpoints.get(id).cloned())
    }

    fn set_peer_checkpoint(
        &mut self,
        id: &str,
        expected: Option<u64>,
        body: &[u8],
    ) -> Result<u64, StoreError> {
        let current = self
            .peer_checkpoints
            .get(id)
            .map(|(_, generation)| *generation);
        if current != expected {
            return Err(StoreError::CheckpointConflict {
                id: id.to_owned(),
                current,
            });
        }
        let next = current.unwrap_or(0) + 1;
        self.peer_checkpoints
            .insert(id.to_owned(), (body.to_vec(), next));
        Ok(next)
    }

    fn blob_length(&self, digest: &BlobDigest) -> Result<Option<u64>, StoreError> {
        Ok(self.blobs.get(digest).map(|b| b.len() as u64))
    }

    fn read_blob(
        &self,
        digest: &BlobDigest,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blobs.get(digest).map(|bytes| {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = start.saturating_add(max).min(bytes.len());
            bytes[start..end].to_vec()
        }))
    }

    fn blob_digests(
        &self,
        after: Option<&BlobDigest>,
        limit: usize,
    ) -> Result<Vec<BlobDigest>, StoreError> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .blobs
            .range::<BlobDigest, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(d, _)| *d)
            .collect())
    }

    fn begin_blob(&mut self) -> Result<StagingId, StoreError> {
        self.next_staging += 1;
        self.staged.insert(self.next_staging, Vec::new());
        Ok(self.next_staging)
    }

    fn append_blob(&mut self, staging: StagingId, bytes: &[u8]) -> Result<(), StoreError> {
        self.staged
            .get_mut(&staging)
            .ok_or(StoreError::NoSuchStagedBlob(staging))?
            .extend_from_slice(bytes);
        Ok(())
    }

    fn abort_blob(&mut self, staging: StagingId) -> Result<(), StoreError> {
        self.staged.remove(&staging);
        Ok(())
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<Vec<Sequence>, StoreError> {
        // Everything that can fail is checked against the state before the batch; nothing
        // below can fail, so the batch is all-or-nothing.
        for op in &batch.ops {
            match op {
                WriteOp::ExpectDocument {
                    doc_id,
                    sequence,
                    tree,
                } => self.guard(doc_id, |record| {
                    record.map(|r| r.sequence) == *sequence
                        && tree
                            .as_ref()
                            .is_none_or(|t| record.is_some_and(|r| r.tree == *t))
                })?,
                WriteOp::UpdateTree {
                    doc_id,
                    expected_tree,
                    expected_sequence,
                    ..
                } => self.guard(doc_id, |record| {
                    expected_tree
                        .as_ref()
                        .is_none_or(|t| record.is_some_and(|r| r.tree == *t))
                        && expected_sequence.is_none_or(|s| record.is_some_and(|r| r.sequence == s))
                })?,
                WriteOp::CommitBlob { staging, .. } => {
                    if !self.staged.contains_key(staging) {
                        return Err(StoreError::NoSuchStagedBlob(*staging));
                    }
                }
                WriteOp::PutDocument { .. }
                | WriteOp::PurgeDocument { .. }
                | WriteOp::SetLocalCheckpoint { .. }
                | WriteOp::PutBlob { .. }
                | WriteOp::DeleteBlob { .. }
                | WriteOp::SetUuid { .. } => {}
                other => {
                    return Err(StoreError::Backend(format!(
                        "operation not supported by the memory store: {other:?}"
                    )));
                }
            }
        }
        let mut assigned = Vec::new();
        for op in batch.ops {
            match op {
                WriteOp::PutDocument {
                    mut record,
                    put_bodies,
                    drop_bodies,
                } => {
                    self.last_sequence += 1;
                    let sequence = self.last_sequence;
                    record.sequence = sequence;
                    self.by_sequence.insert(sequence, record.doc_id.clone());
                    match self.docs.get_mut(&record.doc_id) {
                        Some(doc) => {
                            self.by_sequence.remove(&doc.record.sequence);
                            doc.record = record;
                            for rev in &drop_bodies {
                                self.body_count -= usize::from(doc.drop_body(rev));
                            }
                            for (rev, body) in put_bodies {
                                self.body_count += usize::from(doc.put_body(rev, body));
                            }
                        }
                        None => {
                            let mut doc = Doc {
                                record,
                                bodies: Vec::with_capacity(put_bodies.len()),
                            };
                            for (rev, body) in put_bodies {
                                self.body_count += usize::from(doc.put_body(rev, body));
                            }
                            self.docs.insert(doc.record.doc_id.clone(), doc);
                        }
                    }
                    assigned.push(sequence);
                }
                WriteOp::UpdateTree {
                    doc_id,
                    tree,
                    drop_bodies,
                    ..
                } => {
                    if let Some(doc) = self.docs.get_mut(&doc_id) {
                        doc.record.tree = tree;
                        for rev in &drop_bodies {
                            self.body_count -= usize::from(doc.drop_body(rev));
                        }
                    }
                }
                WriteOp::PurgeDocument { doc_id } => {
                    if let Some(old) = self.docs.remove(&doc_id) {
                        self.by_sequence.remove(&old.record.sequence);
                        self.body_count -= old.bodies.len();
                    }
                }
                WriteOp::SetLocalCheckpoint { id, body } => match body {
                    Some(body) => {
                        self.local_checkpoints.insert(id, body);
                    }
                    None => {
                        self.local_checkpoints.remove(&id);
                    }
                },
                WriteOp::PutBlob { digest, bytes } => {
                    self.blobs.entry(digest).or_insert(bytes);
                }
                WriteOp::CommitBlob { staging, digest } => {
                    if let Some(bytes) = self.staged.remove(&staging) {
                        self.blobs.entry(digest).or_insert(bytes);
                    }
                }
                WriteOp::DeleteBlob { digest } => {
                    self.blobs.remove(&digest);
                }
                WriteOp::ExpectDocument { .. } => {}
                WriteOp::SetUuid { uuid } => self.uuid = Some(uuid),
                // Unknown operations were refused before anything was applied.
                _ => {}
            }
        }
        Ok(assigned)
    }
}

#[cfg(test)]
mod tests {
    ferry_engine::store_conformance_tests!(crate::MemoryStore::new());
}
