//! Blobs in the local database: saving (streaming, digest computed on the way in), reading
//! (streaming), the references of a document, and compaction.

use std::collections::BTreeSet;
use std::io;

use super::{Database, DbError};
use crate::blob::{BlobDigest, BlobError, BlobHasher, BlobRef, blob_refs, digest_to_string};
use crate::rev::RevTree;
use crate::store::{StagingId, Store, WriteBatch, WriteOp};
use crate::value::Value;

/// Bytes a [`BlobWriter`] gathers before handing them to the store, and a [`BlobReader`] asks
/// the store for at once.
pub(crate) const BLOB_CHUNK: usize = 1 << 20;

/// Documents read per page while compacting.
const COMPACT_PAGE: usize = 500;

/// What [`Database::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Blobs still referenced by a kept revision.
    pub blobs_kept: u64,
    /// Blobs removed because no kept revision references them.
    pub blobs_removed: u64,
}

impl<S: Store> Database<S> {
    /// Saves a blob from bytes and returns the reference to put in a document body
    /// ([`BlobRef::to_value`]). Saving bytes already stored stores nothing new.
    pub fn save_blob(
        &mut self,
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<BlobRef, DbError> {
        let mut writer = self.blob_writer(content_type)?;
        writer.append(bytes)?;
        writer.finish()
    }

    /// Saves a blob read from `reader` to its end, streaming: at most about 1 MiB of it is held
    /// in memory at once, and its digest is computed on the way in. Nothing is stored if
    /// reading fails or the blob exceeds
    /// [`DatabaseConfig::max_blob_size`](super::DatabaseConfig::max_blob_size).
    pub fn save_blob_from_reader(
        &mut self,
        mut reader: impl io::Read,
        content_type: Option<&str>,
    ) -> Result<BlobRef, DbError> {
        let mut writer = self.blob_writer(content_type)?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(DbError::Blob(BlobError::Read(e.to_string())));
                }
            };
            writer.append(&buf[..n])?;
        }
        writer.finish()
    }

    /// A writer for a new blob: append its bytes (or use it as an [`io::Write`]), then
    /// [`BlobWriter::finish`] to store it and get its reference. Until then nothing is visible;
    /// dropping the writer unfinished discards what was written.
    pub fn blob_writer(
        &mut self,
        content_type: Option<&str>,
    ) -> Result<BlobWriter<'_, S>, DbError> {
        let staging = self.store.begin_blob()?;
        Ok(BlobWriter {
            max: self.config.max_blob_size,
            db: self,
            staging: Some(staging),
            hasher: BlobHasher::new(),
            buffer: Vec::new(),
            content_type: content_type.map(str::to_owned),
        })
    }

    /// A streaming reader of a stored blob ([`io::Read`]), or `None` if it is not stored.
    pub fn blob_reader(&self, digest: &BlobDigest) -> Result<Option<BlobReader<'_, S>>, DbError> {
        let Some(length) = self.store.blob_length(digest)? else {
            return Ok(None);
        };
        Ok(Some(BlobReader {
            db: self,
            digest: *digest,
            offset: 0,
            length,
        }))
    }

    /// A stored blob's whole bytes, or `None` if it is not stored. Prefer
    /// [`Database::blob_reader`] for large blobs.
    pub fn get_blob(&self, digest: &BlobDigest) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.store.blob(digest)?)
    }

    /// Whether a blob is stored.
    pub fn has_blob(&self, digest: &BlobDigest) -> Result<bool, DbError> {
        Ok(self.store.has_blob(digest)?)
    }

    /// The blobs the current revision of a document references (none for a missing or deleted
    /// document), once per digest.
    pub fn blob_refs(&self, doc_id: &str) -> Result<Vec<BlobRef>, DbError> {
        match self.get(doc_id)? {
            Some(doc) => Ok(blob_refs(&doc.body)?),
            None => Ok(Vec::new()),
        }
    }

    /// Whether a kept revision of `doc_id` references the blob: a peer may fetch only blobs of
    /// documents it is sent.
    pub(crate) fn document_references_blob(
        &self,
        doc_id: &str,
        digest: &BlobDigest,
    ) -> Result<bool, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(false);
        };
        let mut found = BTreeSet::new();
        self.collect_kept_refs(doc_id, &tree, &mut found)?;
        Ok(found.contains(digest))
    }

    /// Adds the digests referenced by every kept revision body of a document to `found`.
    fn collect_kept_refs(
        &self,
        doc_id: &str,
        tree: &RevTree,
        found: &mut BTreeSet<BlobDigest>,
    ) -> Result<(), DbError> {
        for node in tree.iter().filter(|n| n.has_body()) {
            let Some(bytes) = self.store.body(doc_id, node.rev_id().as_str())? else {
                continue;
            };
            // A stored body that does not decode keeps its blobs: compaction never guesses.
            let body = Value::from_cbor(&bytes)?;
            // Malformed references in bodies from older peers reference nothing.
            if let Ok(refs) = blob_refs(&body) {
                found.extend(refs.into_iter().map(|r| r.digest));
            }
        }
        Ok(())
    }

    /// Removes every blob that no kept revision body (current revisions, conflicting leaves,
    /// bodies kept as delta bases) references. Blobs saved but not yet referenced by a
    /// document are removed too: save the document first, or compact when no such write (and
    /// no replication receiving blobs) is in progress.
    pub fn compact(&mut self) -> Result<CompactionReport, DbError> {
        let mut referenced = BTreeSet::new();
        let mut since = 0;
        loop {
            let page = self.store.changes_since(since, COMPACT_PAGE)?;
            let Some(last) = page.last() else { break };
            since = last.sequence;
            for change in &page {
                if let Some((_, tree)) = self.revision_tree(&change.doc_id)? {
                    self.collect_kept_refs(&change.doc_id, &tree, &mut referenced)?;
                }
            }
        }
        let mut report = CompactionReport::default();
        let mut after = None;
        loop {
            let page = self.store.blob_digests(after.as_ref(), COMPACT_PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            let mut batch = WriteBatch::new();
            for digest in page {
                if referenced.contains(&digest) {
                    report.blobs_kept += 1;
                } else {
                    report.blobs_removed += 1;
                    batch.push(WriteOp::DeleteBlob { digest });
                }
            }
            if !batch.is_empty() {
                self.store.apply(batch)?;
            }
        }
        Ok(report)
    }
    /// Checks received bytes against the digest and length they were announced with and makes
    /// the staged blob visible; a mismatch discards it.
    pub(crate) fn commit_received_blob(
        &mut self,
        staging: StagingId,
        hasher: BlobHasher,
        expected: &BlobRef,
    ) -> Result<(), DbError> {
        let length = hasher.length();
        let actual = hasher.finish();
        let error = if length != expected.length {
            Some(BlobError::LengthMismatch {
                digest: digest_to_string(&expected.digest),
                expected: expected.length,
                actual: length,
            })
        } else if actual != expected.digest {
            Some(BlobError::DigestMismatch {
                expected: digest_to_string(&expected.digest),
                actual: digest_to_string(&actual),
            })
        } else {
            None
        };
        if let Some(error) = error {
            self.store.abort_blob(staging)?;
            return Err(error.into());
        }
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::CommitBlob {
            staging,
            digest: actual,
        });
        self.store.apply(batch)?;
        Ok(())
    }

    /// The store, for blob staging by replication.
    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
}

/// A blob being saved: see [`Database::blob_writer`].
pub struct BlobWriter<'db, S: Store> {
    db: &'db mut Database<S>,
    /// `None` once finished or failed.
    staging: Option<StagingId>,
    hasher: BlobHasher,
    buffer: Vec<u8>,
    content_type: Option<String>,
    max: u64,
}

impl<S: Store> std::fmt::Debug for BlobWriter<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("staging", &self.staging)
            .field("length", &self.hasher.length())
            .finish_non_exhaustive()
    }
}

impl<S: Store> BlobWriter<'_, S> {
    /// Appends bytes. Exceeding the size limit fails and discards the blob.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), DbError> {
        let Some(staging) = self.staging else {
            return Err(BlobError::Read("the blob writer already failed".into()).into());
        };
        let length = self.hasher.length() + bytes.len() as u64;
        if length > self.max {
            self.discard();
            return Err(BlobError::TooLarge {
                length,
                max: self.max,
            }
            .into());
        }
        self.hasher.update(bytes);
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= BLOB_CHUNK {
            let result = self.db.store.append_blob(staging, &self.buffer);
            self.buffer.clear();
            if let Err(e) = result {
                self.discard();
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn length(&self) -> u64 {
        self.hasher.length()
    }

    /// Stores the blob and returns its reference.
    pub fn finish(mut self) -> Result<BlobRef, DbError> {
        let Some(staging) = self.staging.take() else {
            return Err(BlobError::Read("the blob writer already failed".into()).into());
        };
        let hasher = std::mem::take(&mut self.hasher);
        let length = hasher.length();
        let digest = hasher.finish();
        let result = (|| {
            if !self.buffer.is_empty() {
                self.db.store.append_blob(staging, &self.buffer)?;
            }
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::CommitBlob { staging, digest });
            self.db.store.apply(batch)
        })();
        if let Err(e) = result {
            let _ = self.db.store.abort_blob(staging);
            return Err(e.into());
        }
        Ok(BlobRef {
            digest,
            length,
            content_type: self.content_type.take(),
        })
    }

    fn discard(&mut self) {
        if let Some(staging) = self.staging.take() {
            // Best effort: a store that cannot discard now does so when reopened.
            let _ = self.db.store.abort_blob(staging);
        }
        self.buffer = Vec::new();
    }
}

impl<S: Store> Drop for BlobWriter<'_, S> {
    fn drop(&mut self) {
        self.discard();
    }
}

impl<S: Store> io::Write for BlobWriter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stored blob being read: see [`Database::blob_reader`].
pub struct BlobReader<'db, S: Store> {
    db: &'db Database<S>,
    digest: BlobDigest,
    offset: u64,
    length: u64,
}

impl<S: Store> std::fmt::Debug for BlobReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &digest_to_string(&self.digest))
            .field("offset", &self.offset)
            .field("length", &self.length)
            .finish()
    }
}

impl<S: Store> BlobReader<'_, S> {
    /// The blob's length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }
}

impl<S: Store> io::Read for BlobReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset >= self.length || buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len().min(BLOB_CHUNK);
        let piece = self
            .db
            .store
            .read_blob(&self.digest, self.offset, max)
            .map_err(io::Error::other)?
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    BlobError::NotFound(digest_to_string(&self.digest)),
                )
            })?;
        if piece.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob ended before its length",
            ));
        }
        buf[..piece.len()].copy_from_slice(&piece);
        self.offset += piece.len() as u64;
        Ok(piece.len())
    }
}
