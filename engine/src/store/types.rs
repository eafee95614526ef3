//! Data types exchanged with a [`super::Store`].

use crate::rev::RevId;

/// A position in a database's changes feed. The first change has sequence 1.
pub type Sequence = u64;

/// A blob's content address: the SHA-1 of its bytes, as Couchbase Lite names blobs
/// (`sha1-<base64>` in document bodies).
pub type BlobDigest = [u8; 20];

/// The handle of a blob being written into a store's staging area (see
/// [`super::Store::begin_blob`]).
pub type StagingId = u64;

/// Flags kept beside a document so that the changes feed and listings need not decode its tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DocFlags {
    /// The current revision is a deletion (tombstone).
    pub deleted: bool,
    /// The document has more than one live leaf (an unresolved conflict).
    pub conflicted: bool,
    /// The current revision references blobs.
    pub has_blobs: bool,
    /// The tree has a tombstone, other than the current revision, that closed a branch when a
    /// conflict was resolved; replication announces it with the current revision.
    pub closed_branches: bool,
}

impl DocFlags {
    /// The flags as one byte (bit 0 deleted, bit 1 conflicted, bit 2 has blobs, bit 3 closed
    /// branches), for stores.
    pub fn to_bits(self) -> u8 {
        u8::from(self.deleted)
            | (u8::from(self.conflicted) << 1)
            | (u8::from(self.has_blobs) << 2)
            | (u8::from(self.closed_branches) << 3)
    }

    /// The flags from [`DocFlags::to_bits`]; unknown bits are ignored.
    pub fn from_bits(bits: u8) -> Self {
        DocFlags {
            deleted: bits & 1 != 0,
            conflicted: bits & 2 != 0,
            has_blobs: bits & 4 != 0,
            closed_branches: bits & 8 != 0,
        }
    }
}

/// What a store keeps for one document, bodies aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRecord {
    /// The document ID.
    pub doc_id: String,
    /// The current (winning) revision.
    pub current_rev: RevId,
    /// Flags of the current revision.
    pub flags: DocFlags,
    /// The sequence of the document's latest change.
    pub sequence: Sequence,
    /// Size in bytes of the current revision's encoded body.
    pub body_size: u64,
    /// The encoded revision tree; opaque to stores.
    pub tree: Vec<u8>,
}

/// One entry of the changes feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEntry {
    /// The sequence of the document's latest change.
    pub sequence: Sequence,
    /// The document ID.
    pub doc_id: String,
    /// The current revision at that sequence.
    pub current_rev: RevId,
    /// Flags of the current revision.
    pub flags: DocFlags,
    /// Size in bytes of the current revision's encoded body.
    pub body_size: u64,
    /// The document's revision tree at that sequence, encoded ([`RevTree::decode`]): a push
    /// learns from it which revision the peer has without reading the document again.
    ///
    /// [`RevTree::decode`]: crate::rev::RevTree::decode
    pub tree: Vec<u8>,
    /// The current revision's body, when the feed was read with bodies
    /// ([`Store::changes_with_bodies`](super::Store::changes_with_bodies)) and this one fit in
    /// the read's budget: a push sends it without reading it again.
    pub body: Option<Vec<u8>>,
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOp {
    /// Creates or replaces a document record and gives it the next sequence (the `sequence`
    /// field of `record` is ignored and replaced). Bodies listed in `put_bodies` are stored;
    /// bodies listed in `drop_bodies` are removed (missing ones are ignored).
    PutDocument {
        /// The new record.
        record: DocRecord,
        /// Revision bodies to store: `(revision ID, encoded body)`.
        put_bodies: Vec<(RevId, Vec<u8>)>,
        /// Revisions whose bodies are no longer needed.
        drop_bodies: Vec<RevId>,
    },
    /// Replaces a document's encoded revision tree and drops bodies, keeping its sequence,
    /// current revision and flags: bookkeeping that is not a change (such as recording which
    /// revision a peer has) and must not move the document in the changes feed. A missing
    /// document is left missing.
    UpdateTree {
        /// The document ID.
        doc_id: String,
        /// The new encoded tree.
        tree: Vec<u8>,
        /// Revisions whose bodies are no longer needed.
        drop_bodies: Vec<RevId>,
        /// A guard checked with the write: when set, the whole batch fails with
        /// [`StoreError::DocumentChanged`] unless the document exists with exactly this encoded
        /// tree. It lets a writer that read the tree earlier skip reading it again (and an
        /// [`WriteOp::ExpectDocument`]); a tree updated meanwhile, which keeps the sequence,
        /// is caught too.
        expected_tree: Option<Vec<u8>>,
        /// A guard checked with the write, like `expected_tree`: when set, the whole batch fails
        /// with [`StoreError::DocumentChanged`] unless the document's latest sequence is exactly
        /// this. A writer that read the document at a known sequence sets it, so that the store
        /// can find the document by its sequence (SQLite: by rowid, not through the `doc_id`
        /// index).
        expected_sequence: Option<Sequence>,
    },
    /// Removes a document, its bodies and its changes-feed entry entirely (local only).
    PurgeDocument {
        /// The document ID.
        doc_id: String,
    },
    /// Saves (or with `None`, deletes) a local checkpoint.
    SetLocalCheckpoint {
        /// The checkpoint ID.
        id: String,
        /// The checkpoint body, or `None` to delete it.
        body: Option<Vec<u8>>,
    },
    /// Stores a blob. Storing a blob that exists is a no-op.
    PutBlob {
        /// The SHA-1 of `bytes`; the store trusts the caller to have verified it.
        digest: BlobDigest,
        /// The blob's bytes.
        bytes: Vec<u8>,
    },
    /// Makes a staged blob (see [`super::Store::begin_blob`]) visible as the blob `digest`,
    /// ending its staging. If that blob is already stored, the staged bytes are discarded.
    /// An unknown handle fails the batch with [`StoreError::NoSuchStagedBlob`].
    CommitBlob {
        /// The staged blob.
        staging: StagingId,
        /// The SHA-1 of its bytes; the store trusts the caller to have verified it.
        digest: BlobDigest,
    },
    /// Removes a blob, if present.
    DeleteBlob {
        /// The blob's digest.
        digest: BlobDigest,
    },
    /// A guard: the whole batch fails with [`StoreError::DocumentChanged`] unless the document's
    /// latest sequence is `sequence` (`None`: the document must not exist) when the batch starts.
    /// Writers that read a document, compute its new tree and write it back put this first, so
    /// that a concurrent writer's change is never silently overwritten.
    ExpectDocument {
        /// The document ID.
        doc_id: String,
        /// The expected latest sequence, or `None` for "absent".
        sequence: Option<Sequence>,
        /// The expected encoded tree, if set (with a `sequence`): an `UpdateTree` changes a
        /// tree without moving its document's sequence, and this catches that too.
        tree: Option<Vec<u8>>,
    },
    /// Sets the database UUID.
    SetUuid {
        /// The new UUID.
        uuid: [u8; 16],
    },
}

/// Operations applied atomically by [`super::Store::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The operations, applied in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an operation.
    pub fn push(&mut self, op: WriteOp) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A failure of a store. Every store maps its backend's failures onto these variants so that the
/// engine and the adapters can react without knowing the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A peer checkpoint was saved with a stale or missing MVCC generation (HTTP 409 on the wire).
    #[error("checkpoint {id:?} was changed by someone else (current generation {current:?})")]
    CheckpointConflict {
        /// The checkpoint ID.
        id: String,
        /// Its current generation, `None` if it does not exist.
        current: Option<u64>,
    },
    /// An [`WriteOp::ExpectDocument`] guard failed: the document changed since it was read.
    /// Nothing of the batch was applied; read again and retry.
    #[error("document {doc_id:?} was changed by another writer")]
    DocumentChanged {
        /// The document ID.
        doc_id: String,
    },
    /// A staged blob handle is unknown: never begun, already committed or aborted, or
    /// discarded when the store was reopened. Nothing of the operation was applied.
    #[error("no staged blob with handle {0}")]
    NoSuchStagedBlob(StagingId),
    /// Stored data could not be decoded; the message says what and where.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The file is not a database of this store, or was written by a newer schema.
    #[error("incompatible database: {0}")]
    Incompatible(String),
    /// The disk (or a configured size limit) is full; nothing of the batch was applied.
    #[error("the database is full: {0}")]
    Full(String),
    /// The database is read-only; nothing was written.
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    /// Another process holds the database locked; the operation may succeed later.
    #[error("the database is locked by another user: {0}")]
    Busy(String),
    /// Any other failure of the backend.
    #[error("store failure: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}
