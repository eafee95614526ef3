//! The [`Store`] trait: the engine's only door to persistence.
//!
//! A store keeps, per database:
//! - documents by ID, each with its encoded revision tree (bytes the engine's
//!   [`crate::rev::RevTree`] reads and writes; a store never interprets them), its current
//!   revision, flags and the sequence of its latest change;
//! - revision bodies by `(document ID, revision ID)`, as encoded bytes;
//! - a monotonically increasing sequence and the changes feed ordered by it, in which every
//!   document appears once, at its latest sequence;
//! - local checkpoints (the replicator's own records) and peer checkpoints (records a remote
//!   replicator keeps here), the latter with an MVCC generation;
//! - blobs by digest, written in pieces into a *staging* area ([`Store::begin_blob`],
//!   [`Store::append_blob`]) and made visible whole by [`WriteOp::CommitBlob`], so a half-written
//!   blob is never visible; read in pieces ([`Store::read_blob`]);
//! - the database UUID.
//!
//! Every write goes through [`Store::apply`], which applies a [`WriteBatch`] atomically: all of
//! it is durable, or none of it is visible. Revision-tree logic lives in the engine, never in a
//! store, so implementations stay short; each runs the shared conformance suite
//! (`ferry_engine::store::conformance`, behind the `conformance` feature).

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod types;

pub use types::{
    BlobDigest, ChangeEntry, DocFlags, DocRecord, Sequence, StagingId, StoreError, WriteBatch,
    WriteOp,
};

/// Synchronous persistence for one database.
///
/// Reads take `&self`, writes `&mut self`. Implementations need only be [`Send`]: hosts that
/// share a store between tasks put it behind a lock or on a dedicated thread, so store work never
/// blocks an async runtime.
pub trait Store: Send {
    /// The database UUID, if one was set.
    fn uuid(&self) -> Result<Option<[u8; 16]>, StoreError>;

    /// The document's record without bodies, if the document exists (tombstones exist; purged
    /// documents do not).
    fn document(&self, doc_id: &str) -> Result<Option<DocRecord>, StoreError>;

    /// [`Store::document`] of each of `doc_ids`, in their order (an ID may appear twice). The
    /// default reads them one by one; stores that read several faster at once override it.
    fn documents(&self, doc_ids: &[&str]) -> Result<Vec<Option<DocRecord>>, StoreError> {
        doc_ids.iter().map(|doc_id| self.document(doc_id)).collect()
    }

    /// The stored body of one revision, if kept.
    fn body(&self, doc_id: &str, rev_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The highest sequence assigned so far (0 for an empty database).
    fn last_sequence(&self) -> Result<Sequence, StoreError>;

    /// Up to `limit` changes with a sequence strictly greater than `since`, in increasing order
    /// of sequence. Each document appears once, at its latest sequence. Callers page through the
    /// feed by passing the last sequence they saw.
    fn changes_since(&self, since: Sequence, limit: usize) -> Result<Vec<ChangeEntry>, StoreError>;

    /// [`Store::changes_since`], with each entry's current body ([`ChangeEntry::body`]) while
    /// the bodies read fit in `budget` bytes together: once one does not, the entries after it
    /// have none, and neither do entries whose current body is not stored. Stores may read
    /// fewer; the default reads none.
    fn changes_with_bodies(
        &self,
        since: Sequence,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        let _ = budget;
        self.changes_since(since, limit)
    }

    /// The number of documents (tombstones included).
    fn document_count(&self) -> Result<u64, StoreError>;

    /// The IDs of the documents whose flags say `conflicted`, in no particular order. The
    /// default pages through the whole changes feed; stores that can find them faster (an
    /// index) override it, since replicators ask at the start of every session.
    fn conflicted_documents(&self) -> Result<Vec<String>, StoreError> {
        let mut since = 0;
        let mut found = Vec::new();
        loop {
            let page = self.changes_since(since, 1_000)?;
            let Some(last) = page.last() else { break };
            since = last.sequence;
            found.extend(
                page.into_iter()
                    .filter(|e| e.flags.conflicted)
                    .map(|e| e.doc_id),
            );
        }
        Ok(found)
    }

    /// A local checkpoint by ID.
    fn local_checkpoint(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A peer checkpoint by ID, with its MVCC generation (1 after the first save).
    fn peer_checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError>;

    /// Saves a peer checkpoint if its current generation is `expected` (`None` = must not
    /// exist yet) and returns the new generation. A mismatch is
    /// [`StoreError::CheckpointConflict`] and changes nothing.
    fn set_peer_checkpoint(
        &mut self,
        id: &str,
        expected: Option<u64>,
        body: &[u8],
    ) -> Result<u64, StoreError>;

    /// The length of a stored blob, or `None` if it is not stored. Staged (uncommitted) blobs
    /// are not stored.
    fn blob_length(&self, digest: &BlobDigest) -> Result<Option<u64>, StoreError>;

    /// Up to `max` bytes of a stored blob starting at byte `offset` (fewer at its end, none at
    /// or past it), or `None` if the blob is not stored. Readers stream a blob by calling this
    /// with growing offsets.
    fn read_blob(
        &self,
        digest: &BlobDigest,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` digests of stored blobs greater than `after` (all from the first with
    /// `None`), in increasing byte order: a paged listing for compaction.
    fn blob_digests(
        &self,
        after: Option<&BlobDigest>,
        limit: usize,
    ) -> Result<Vec<BlobDigest>, StoreError>;

    /// Starts writing a new blob in the staging area and returns its handle. Staged bytes are
    /// invisible to every read until [`WriteOp::CommitBlob`] makes them a blob; a store may
    /// discard staged blobs left over when it was last closed.
    fn begin_blob(&mut self) -> Result<StagingId, StoreError>;

    /// Appends bytes to a staged blob. An unknown (committed, aborted or never begun) handle
    /// is [`StoreError::NoSuchStagedBlob`].
    fn append_blob(&mut self, staging: StagingId, bytes: &[u8]) -> Result<(), StoreError>;

    /// Discards a staged blob; an unknown handle is ignored.
    fn abort_blob(&mut self, staging: StagingId) -> Result<(), StoreError>;

    /// A blob's whole bytes by digest (a convenience over [`Store::read_blob`]: large blobs are
    /// better streamed).
    fn blob(&self, digest: &BlobDigest) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_blob(digest, 0, usize::MAX)
    }

    /// Whether a blob is stored.
    fn has_blob(&self, digest: &BlobDigest) -> Result<bool, StoreError> {
        Ok(self.blob_length(digest)?.is_some())
    }

    /// Lets the reads that follow share one consistent snapshot until
    /// [`Store::end_read_batch`] — for SQLite, one read transaction instead of one per
    /// statement. A write in between ends the shared snapshot first (the write sees and
    /// changes the latest state); the reads after it start a new one. A host batches the reads
    /// of one input (a frame, a timer) and ends the batch before it waits for the next, so the
    /// store sees other connections' writes again. The default does nothing.
    fn begin_read_batch(&self) {}

    /// Ends what [`Store::begin_read_batch`] began: reads see other connections' writes again,
    /// one statement at a time. Ending no batch does nothing.
    fn end_read_batch(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Applies every operation of `batch` in one atomic transaction and returns, in order, the
    /// sequence assigned to each [`WriteOp::PutDocument`] of the batch. Sequences are assigned
    /// from `last_sequence() + 1` upward in the order of the operations.
    fn apply(&mut self, batch: WriteBatch) -> Result<Vec<Sequence>, StoreError>;
}
