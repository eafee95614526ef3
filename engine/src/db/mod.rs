//! The local database API over any [`Store`].
//!
//! [`Database`] is what applications (and the replication sessions) use to read and write
//! documents. It owns the revision-tree logic: a store only keeps the encoded trees and bodies it
//! is handed. Bodies are stored as deterministic CBOR ([`Value::to_cbor`]).
//!
//! Blobs (binary attachments) are saved and read as streams ([`Database::blob_writer`],
//! [`Database::blob_reader`]) and referenced from bodies by [`BlobRef`](crate::blob::BlobRef)
//! maps; [`Database::compact`] removes the blobs no kept revision references.
//!
//! Every write is one atomic store batch guarded by the document's sequence as it was read, so a
//! concurrent writer sharing the same underlying database is never silently overwritten.

mod blobs;
mod error;
mod observe;
mod resolve;
mod sync;
mod write;

pub use blobs::{BlobReader, BlobWriter, CompactionReport};
pub use error::DbError;
pub use observe::{ChangeObserver, DocumentChange, ObserverId};
pub use resolve::PairOutcome;
pub use sync::{OutgoingRevision, ProposalCheck, SeenTree};
pub use write::{InsertOutcome, RemoteRevision};

use std::cell::RefCell;
use std::collections::HashMap;

use crate::rev::{RevId, RevTree};
use crate::store::{ChangeEntry, DocFlags, DocRecord, Sequence, Store, WriteBatch, WriteOp};
use crate::value::Value;
use observe::Observers;

/// Limits and settings of a [`Database`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// Longest document ID accepted, in bytes (default 250, as Couchbase).
    pub max_doc_id_len: usize,
    /// Largest encoded body accepted, in bytes (default 20 MiB, as Couchbase).
    pub max_body_size: usize,
    /// How many generations of history each branch of a revision tree keeps (default 50).
    pub max_rev_tree_depth: u32,
    /// Largest blob accepted, in bytes, whether saved locally or received from a peer
    /// (default 256 MiB).
    pub max_blob_size: u64,
    /// Seed for the database UUID, used only when the store has none yet. Hosts pass real
    /// randomness here; tests and the simulator pass fixed seeds.
    pub uuid_seed: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_doc_id_len: 250,
            max_body_size: 20 * 1024 * 1024,
            max_rev_tree_depth: 50,
            max_blob_size: 256 << 20,
            uuid_seed: 0,
        }
    }
}

impl DatabaseConfig {
    /// The default configuration with the given UUID seed.
    pub fn with_uuid_seed(uuid_seed: u64) -> Self {
        DatabaseConfig {
            uuid_seed,
            ..Self::default()
        }
    }
}

/// A document as read from the database: one revision with its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document ID.
    pub id: String,
    /// The revision read.
    pub rev: RevId,
    /// Whether that revision is a deletion.
    pub deleted: bool,
    /// The body (an empty map for deletions).
    pub body: Value,
    /// The document's latest sequence.
    pub sequence: Sequence,
    /// Whether the document has unresolved conflicting branches.
    pub conflicted: bool,
}

/// The local database API over a [`Store`].
pub struct Database<S: Store> {
    store: S,
    config: DatabaseConfig,
    uuid: [u8; 16],
    observers: Observers,
    /// Documents read to answer a peer's `changes` or `proposeChanges`, kept for storing the
    /// revisions the answer asked for, so one received revision reads its document once (see
    /// [`Database::keep_read`]).
    kept_reads: RefCell<HashMap<String, KeptRead>>,
}

/// A document as read to answer a peer (absent: `None`), with its decoded tree.
type KeptRead = Option<(DocRecord, RevTree)>;

/// A record with its decoded tree.
fn with_tree(record: DocRecord) -> Result<(DocRecord, RevTree), DbError> {
    let tree = RevTree::decode(&record.tree)?;
    Ok((record, tree))
}

/// Documents kept read at most; more clears them (they are only a shortcut).
const MAX_KEPT_READS: usize = 8192;

impl<S: Store> std::fmt::Debug for Database<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("uuid", &self.uuid)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Database<S> {
    /// Opens a database over `store`, giving it a UUID (from `config.uuid_seed`) on first use.
    pub fn open(mut store: S, config: DatabaseConfig) -> Result<Self, DbError> {
        let uuid = match store.uuid()? {
            Some(uuid) => uuid,
            None => {
                let uuid = uuid_from_seed(config.uuid_seed);
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::SetUuid { uuid });
                store.apply(batch)?;
                uuid
            }
        };
        Ok(Database {
            store,
            config,
            uuid,
            observers: Observers::default(),
            kept_reads: RefCell::default(),
        })
    }

    /// Keeps `doc_id` as just read (`None`: absent), for [`Database::take_kept_read`] when the
    /// revision the peer was asked for arrives. The write that stores it is guarded by the
    /// sequence and tree read, so a document changed meanwhile fails that write and is read
    /// again.
    fn keep_read(&self, doc_id: &str, read: KeptRead) {
        let mut kept = self.kept_reads.borrow_mut();
        if kept.len() >= MAX_KEPT_READS {
            kept.clear();
        }
        kept.insert(doc_id.to_owned(), read);
    }

    /// The document as kept by [`Database::keep_read`], if it was (and forgets it).
    fn take_kept_read(&self, doc_id: &str) -> Option<KeptRead> {
        self.kept_reads.borrow_mut().remove(doc_id)
    }

    /// The database UUID: a stable identity used in checkpoint IDs.
    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    /// The configuration.
    pub fn config(&self) -> &DatabaseConfig {
        &self.config
    }

    /// The underlying store, for reads the API does not cover.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The highest sequence so far.
    pub fn last_sequence(&self) -> Result<Sequence, DbError> {
        Ok(self.store.last_sequence()?)
    }

    /// The IDs of the documents that are in conflict (see [`Store::conflicted_documents`]).
    pub fn conflicted_documents(&self) -> Result<Vec<String>, DbError> {
        Ok(self.store.conflicted_documents()?)
    }

    /// The number of documents, tombstones included.
    pub fn document_count(&self) -> Result<u64, DbError> {
        Ok(self.store.document_count()?)
    }

    /// The current revision of a live document, or `None` if it does not exist or is deleted.
    pub fn get(&self, doc_id: &str) -> Result<Option<Document>, DbError> {
        let Some(record) = self.store.document(doc_id)? else {
            return Ok(None);
        };
        if record.flags.deleted {
            return Ok(None);
        }
        let rev = record.current_rev.clone();
        self.read_revision(&record, &rev).map(Some)
    }

    /// One revision of a document (live or deleted) if its body is still kept.
    pub fn get_revision(&self, doc_id: &str, rev: &RevId) -> Result<Option<Document>, DbError> {
        let Some(record) = self.store.document(doc_id)? else {
            return Ok(None);
        };
        let tree = RevTree::decode(&record.tree)?;
        match tree.get(rev) {
            Some(node) if node.has_body() => {}
            _ => return Ok(None),
        }
        match self.read_revision(&record, rev) {
            Ok(doc) => Ok(Some(doc)),
            Err(DbError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The document's record and decoded revision tree, if it exists (tombstones included).
    pub fn revision_tree(&self, doc_id: &str) -> Result<Option<(DocRecord, RevTree)>, DbError> {
        self.store.document(doc_id)?.map(with_tree).transpose()
    }

    /// [`Database::revision_tree`] of each of `doc_ids`, in order, read together
    /// ([`Store::documents`]).
    pub fn revision_trees(
        &self,
        doc_ids: &[&str],
    ) -> Result<Vec<Option<(DocRecord, RevTree)>>, DbError> {
        self.store
            .documents(doc_ids)?
            .into_iter()
            .map(|record| record.map(with_tree).transpose())
            .collect()
    }

    /// Up to `limit` changes after sequence `since`, each document once at its latest sequence.
    /// Page through the feed by passing the last sequence seen; nothing is held in memory
    /// beyond one page.
    pub fn changes_since(
        &self,
        since: Sequence,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, DbError> {
        Ok(self.store.changes_since(since, limit)?)
    }

    /// [`Database::changes_since`], with the current bodies of the first entries that fit in
    /// `budget` bytes ([`Store::changes_with_bodies`]).
    pub fn changes_with_bodies(
        &self,
        since: Sequence,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<ChangeEntry>, DbError> {
        Ok(self.store.changes_with_bodies(since, limit, budget)?)
    }

    /// The live revisions of a document that conflict with its current revision (empty when
    /// there is no conflict or no document).
    pub fn conflicts(&self, doc_id: &str) -> Result<Vec<RevId>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(Vec::new());
        };
        Ok(tree
            .live_conflicts()
            .into_iter()
            .map(|n| n.rev_id().clone())
            .collect())
    }

    /// Registers a function called after every committed write with the documents it changed.
    pub fn add_change_observer(&mut self, observer: ChangeObserver) -> ObserverId {
        self.observers.add(observer)
    }

    /// Removes an observer; returns whether it was registered.
    pub fn remove_change_observer(&mut self, id: ObserverId) -> bool {
        self.observers.remove(id)
    }

    fn read_revision(&self, record: &DocRecord, rev: &RevId) -> Result<Document, DbError> {
        let bytes = self
            .store
            .body(&record.doc_id, rev.as_str())?
            .ok_or_else(|| DbError::NotFound(format!("{}@{rev}", record.doc_id)))?;
        let tree = RevTree::decode(&record.tree)?;
        let deleted = tree.get(rev).is_some_and(|n| n.is_deleted());
        Ok(Document {
            id: record.doc_id.clone(),
            rev: rev.clone(),
            deleted,
            body: Value::from_cbor(&bytes)?,
            sequence: record.sequence,
            conflicted: record.flags.conflicted,
        })
    }

    fn flags_of(tree: &RevTree) -> DocFlags {
        DocFlags {
            deleted: tree.is_deleted(),
            conflicted: tree.is_conflicted(),
            has_blobs: false,
            closed_branches: tree
                .leaves()
                .iter()
                .any(|l| l.is_deleted() && !l.is_current()),
        }
    }
}

/// A UUID (version 4 layout) from a seed, by SplitMix64.
fn uuid_from_seed(seed: u64) -> [u8; 16] {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut uuid = [0u8; 16];
    uuid[..8].copy_from_slice(&next().to_be_bytes());
    uuid[8..].copy_from_slice(&next().to_be_bytes());
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}
