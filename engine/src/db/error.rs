//! Errors of the local database API.

use crate::rev::{DigestError, RevId, RevTreeError};
use crate::store::StoreError;
use crate::value::ValueError;

/// Why a database operation failed. Nothing is written when an operation fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The document ID is empty, too long or contains a forbidden character.
    #[error("invalid document ID {doc_id:?}: {reason}")]
    InvalidDocId {
        /// The offending ID (truncated to 100 characters).
        doc_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A document body must be a JSON object (a map).
    #[error("a document body must be an object (map), not {found}")]
    BodyNotAnObject {
        /// The kind of value given.
        found: &'static str,
    },
    /// A top-level property name starting with `_` is reserved by the replication protocol.
    #[error(
        "top-level property {0:?} is reserved (names starting with '_' belong to the protocol)"
    )]
    ReservedProperty(String),
    /// The encoded body is larger than the configured limit.
    #[error("document body is {size} bytes encoded, more than the limit of {max}")]
    BodyTooLarge {
        /// The encoded size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The edit was based on a revision that is no longer current (or the document was
    /// created concurrently): read the document again and retry.
    #[error("conflict: the document's current revision is {current:?}")]
    Conflict {
        /// The current revision, if the document exists.
        current: Option<RevId>,
    },
    /// The document (or revision) does not exist.
    #[error("document {0:?} not found")]
    NotFound(String),
    /// A revision named in a conflict resolution is not a live leaf of the document.
    #[error("revision {rev} of {doc_id:?} is not a live leaf of the document")]
    NotALeaf {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: RevId,
    },
    /// The revision tree refused the operation (bad history, generation overflow, …).
    #[error(transparent)]
    RevTree(#[from] RevTreeError),
    /// A body could not be encoded or decoded.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A revision ID could not be computed.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob or a blob reference is invalid (malformed reference, too large, corrupt).
    #[error(transparent)]
    Blob(#[from] crate::blob::BlobError),
}
