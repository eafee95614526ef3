//! Read queries, shared by the writer ([`crate::SqliteStore`]) and readers ([`SqliteReader`]).
//!
//! Every query is a cached prepared statement. Each call is its own read transaction (unless
//! the store batches reads, see `Store::begin_read_batch`): under WAL it sees the last commit
//! made before it started and never waits for the writer.

use std::sync::LazyLock;

use ferry_engine::rev::RevId;
use ferry_engine::store::{BlobDigest, ChangeEntry, DocFlags, DocRecord, Sequence, StoreError};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::config::SqliteConfig;
use crate::error::{ctx, seq_from_sql, seq_to_sql};

pub(crate) fn uuid(conn: &Connection) -> Result<Option<[u8; 16]>, StoreError> {
    let uuid: Option<Vec<u8>> = conn
        .prepare_cached("SELECT uuid FROM database WHERE singleton = 0")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .optional()
        .map_err(ctx("reading the UUID"))?
        .ok_or_else(|| StoreError::Corrupt("the database row is missing".to_owned()))?;
    uuid.map(|bytes| {
        <[u8; 16]>::try_from(bytes.as_slice())
            .map_err(|_| StoreError::Corrupt(format!("the UUID is {} bytes, not 16", bytes.len())))
    })
    .transpose()
}

pub(crate) fn last_sequence(conn: &Connection) -> Result<Sequence, StoreError> {
    let last: i64 = conn
        .prepare_cached("SELECT last_sequence FROM database WHERE singleton = 0")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .optional()
        .map_err(ctx("reading the last sequence"))?
        .ok_or_else(|| StoreError::Corrupt("the database row is missing".to_owned()))?;
    seq_from_sql(last, "the database row")
}

fn parse_rev(doc_id: &str, text: &str) -> Result<RevId, StoreError> {
    RevId::parse(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "document {doc_id:?} has a bad current revision: {e}"
        ))
    })
}

fn flags(doc_id: &str, bits: i64) -> Result<DocFlags, StoreError> {
    u8::try_from(bits)
        .map(DocFlags::from_bits)
        .map_err(|_| StoreError::Corrupt(format!("document {doc_id:?} has flags {bits}")))
}

fn size(doc_id: &str, body_size: i64) -> Result<u64, StoreError> {
    u64::try_from(body_size)
        .map_err(|_| StoreError::Corrupt(format!("document {doc_id:?} has body size {body_size}")))
}

/// A document row's columns after its ID: sequence, current revision, flags, body size, tree.
type RawDocument = (i64, String, i64, i64, Vec<u8>);

fn raw_document(row: &Row<'_>, first: usize) -> rusqlite::Result<RawDocument> {
    Ok((
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
        row.get(first + 3)?,
        row.get(first + 4)?,
    ))
}

fn record(doc_id: String, raw: RawDocument) -> Result<DocRecord, StoreError> {
    let (sequence, rev, bits, body_size, tree) = raw;
    Ok(DocRecord {
        current_rev: parse_rev(&doc_id, &rev)?,
        flags: flags(&doc_id, bits)?,
        sequence: seq_from_sql(sequence, "documents")?,
        body_size: size(&doc_id, body_size)?,
        tree,
        doc_id,
    })
}

pub(crate) fn document(conn: &Connection, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT sequence, current_rev, flags, body_size, tree FROM documents WHERE doc_id = ?1",
    )
    .and_then(|mut s| s.query_row([doc_id], |r| raw_document(r, 0)).optional())
    .map_err(ctx("reading a document"))?
    .map(|raw| record(doc_id.to_owned(), raw))
    .transpose()
}

/// Documents one statement reads at most (unused places are bound to NULL, which matches no
/// ID, so that one statement serves every call).
const DOCUMENTS_AT_ONCE: usize = 64;

/// [`document`] of each of `doc_ids`, in order, `DOCUMENTS_AT_ONCE` to a statement: one
/// execution instead of one each (a read of a document absent from a large database took
/// about 4,800 instructions, a third of them preparing, binding and resetting its statement).
pub(crate) fn documents(
    conn: &Connection,
    doc_ids: &[&str],
) -> Result<Vec<Option<DocRecord>>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let places: Vec<String> = (1..=DOCUMENTS_AT_ONCE).map(|i| format!("?{i}")).collect();
        format!(
            "SELECT doc_id, sequence, current_rev, flags, body_size, tree FROM documents \
             WHERE doc_id IN ({})",
            places.join(", ")
        )
    });
    let context = ctx("reading documents");
    let mut out: Vec<Option<DocRecord>> = (0..doc_ids.len()).map(|_| None).collect();
    if doc_ids.is_empty() {
        return Ok(out);
    }
    // The positions in ID order, to place each row read (an ID may be asked for twice).
    let mut order: Vec<usize> = (0..doc_ids.len()).collect();
    order.sort_unstable_by_key(|&i| doc_ids[i]);
    let mut statement = conn.prepare_cached(&SQL).map_err(&context)?;
    for chunk in doc_ids.chunks(DOCUMENTS_AT_ONCE) {
        let ids = (0..DOCUMENTS_AT_ONCE).map(|i| chunk.get(i).copied());
        let mut rows = statement
            .query(rusqlite::params_from_iter(ids))
            .map_err(&context)?;
        while let Some(row) = rows.next().map_err(&context)? {
            let doc_id: String = row.get(0).map_err(&context)?;
            let found = record(doc_id, raw_document(row, 1).map_err(&context)?)?;
            let doc_id = found.doc_id.as_str();
            let first = order.partition_point(|&i| doc_ids[i] < doc_id);
            let asked = order[first..]
                .iter()
                .take_while(|&&i| doc_ids[i] == doc_id)
                .count();
            if let Some((&last, others)) = order[first..first + asked].split_last() {
                for &i in others {
                    out[i] = Some(found.clone());
                }
                out[last] = Some(found);
            }
        }
    }
    Ok(out)
}

pub(crate) fn body(
    conn: &Connection,
    doc_id: &str,
    rev_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    // The current revision's body is in its document's row, any other in `bodies`.
    conn.prepare_cached(
        "SELECT body FROM documents WHERE doc_id = ?1 AND current_rev = ?2 AND body IS NOT NULL \
         UNION ALL SELECT body FROM bodies WHERE doc_id = ?1 AND rev_id = ?2",
    )
    .and_then(|mut s| s.query_row([doc_id, rev_id], |r| r.get(0)).optional())
    .map_err(ctx("reading a body"))
}

type ChangeRow = (i64, String, String, i64, i64, Vec<u8>);

fn change(row: &Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

/// The changes feed from a sequence on (see [`changes_since`]).
/// The body (column 7) is read only when asked for and its length (column 6, which SQLite
/// takes from the row's header) fits: SQLite loads a column when it is read.
const CHANGES_SINCE: &str = "SELECT sequence, doc_id, current_rev, flags, body_size, tree, \
                             length(body), body FROM documents WHERE sequence > ?1 \
                             ORDER BY sequence";

/// The changes feed, with current bodies while they fit in `budget` bytes together (see
/// `Store::changes_with_bodies`).
pub(crate) fn changes_since(
    conn: &Connection,
    since: Sequence,
    limit: usize,
    mut budget: usize,
) -> Result<Vec<ChangeEntry>, StoreError> {
    // Sequences above i64::MAX are never assigned, so nothing follows them.
    let Ok(since) = seq_to_sql(since) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let context = ctx("reading the changes feed");
    // `sequence` is the rowid: this is a range scan of the table, streamed row by row, and the
    // scan stops after the `limit` entries asked for. The limit is not a bound `LIMIT ?`:
    // SQLite's planner reads that value, so every new one would recompile the statement.
    let mut stmt = conn.prepare_cached(CHANGES_SINCE).map_err(&context)?;
    let mut rows = stmt.query([since]).map_err(&context)?;
    let mut out = Vec::with_capacity(limit.min(1024));
    while out.len() < limit {
        let Some(row) = rows.next().map_err(&context)? else {
            break;
        };
        let (sequence, doc_id, rev, bits, body_size, tree) = change(row).map_err(&context)?;
        let body_size = size(&doc_id, body_size)?;
        let mut body = None;
        if budget > 0 {
            // Bodies in order while they fit: once one does not, none follows.
            match row.get::<_, Option<i64>>(6).map_err(&context)? {
                Some(len) if usize::try_from(len).is_ok_and(|n| n <= budget) => {
                    let bytes: Vec<u8> = row.get(7).map_err(&context)?;
                    budget -= bytes.len().min(budget);
                    body = Some(bytes);
                }
                Some(_) => budget = 0,
                None => {}
            }
        }
        out.push(ChangeEntry {
            sequence: seq_from_sql(sequence, "documents")?,
            current_rev: parse_rev(&doc_id, &rev)?,
            flags: flags(&doc_id, bits)?,
            body_size,
            doc_id,
            tree,
            body,
        });
    }
    Ok(out)
}

pub(crate) fn document_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM documents")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(ctx("counting documents"))?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("document count {n}")))
}

pub(crate) fn conflicted_documents(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let context = ctx("listing conflicted documents");
    // The condition is the partial index's own, so only that index is read.
    let mut stmt = conn
        .prepare_cached("SELECT doc_id FROM documents WHERE flags & 2 != 0")
        .map_err(&context)?;
    let ids = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(&context)?;
    Ok(ids)
}

pub(crate) fn local_checkpoint(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    conn.prepare_cached("SELECT body FROM local_checkpoints WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(ctx("reading a local checkpoint"))
}

pub(crate) fn peer_checkpoint(
    conn: &Connection,
    id: &str,
) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
    let row: Option<(Vec<u8>, i64)> = conn
        .prepare_cached("SELECT body, generation FROM peer_checkpoints WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(ctx("reading a peer checkpoint"))?;
    row.map(|(body, generation)| {
        u64::try_from(generation).map(|g| (body, g)).map_err(|_| {
            StoreError::Corrupt(format!(
                "peer checkpoint {id:?} has generation {generation}"
            ))
        })
    })
    .transpose()
}

/// A read-only connection to a database that a [`crate::SqliteStore`] writes, made by
/// [`crate::SqliteStore::reader`].
///
/// It offers the read methods of [`ferry_engine::store::Store`] and nothing else: it is opened
/// with SQLite's read-only flag. A reader is [`Send`] (not `Sync`): move it to another thread,
/// or open one per thread. Under WAL, readers never wait for the writer and the writer never
/// waits for them; each call sees every batch committed before it started, and no part of a
/// batch still in progress.
#[derive(Debug)]
pub struct SqliteReader {
    conn: Connection,
}

impl SqliteReader {
    pub(crate) fn open(config: &SqliteConfig) -> Result<Self, StoreError> {
        Ok(SqliteReader {
            conn: crate::open::open_reader(config)?,
        })
    }

    /// The database UUID, if one was set.
    pub fn uuid(&self) -> Result<Option<[u8; 16]>, StoreError> {
        uuid(&self.conn)
    }

    /// A document's record, if it exists. See [`ferry_engine::store::Store::document`].
    pub fn document(&self, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
        document(&self.conn, doc_id)
    }

    /// The stored body of one revision, if kept.
    pub fn body(&self, doc_id: &str, rev_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body(&self.conn, doc_id, rev_id)
    }

    /// The highest sequence assigned so far.
    pub fn last_sequence(&self) -> Result<Sequence, StoreError> {
        last_sequence(&self.conn)
    }

    /// Up to `limit` changes after `since`. See [`ferry_engine::store::Store::changes_since`].
    pub fn changes_since(
        &self,
        since: Sequence,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        changes_since(&self.conn, since, limit, 0)
    }

    /// The number of documents (tombstones included).
    pub fn document_count(&self) -> Result<u64, StoreError> {
        document_count(&self.conn)
    }

    /// A local checkpoint by ID.
    pub fn local_checkpoint(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        local_checkpoint(&self.conn, id)
    }

    /// A peer checkpoint by ID, with its MVCC generation.
    pub fn peer_checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        peer_checkpoint(&self.conn, id)
    }

    /// A blob's length, if stored.
    pub fn blob_length(&self, digest: &BlobDigest) -> Result<Option<u64>, StoreError> {
        crate::blobs::length(&self.conn, digest)
    }

    /// Up to `max` bytes of a blob from `offset` (see [`ferry_engine::store::Store::read_blob`]).
    pub fn read_blob(
        &self,
        digest: &BlobDigest,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        crate::blobs::read(&self.conn, digest, offset, max)
    }

    /// A blob's whole bytes by digest.
    pub fn blob(&self, digest: &BlobDigest) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_blob(digest, 0, usize::MAX)
    }

    /// Whether a blob is stored.
    pub fn has_blob(&self, digest: &BlobDigest) -> Result<bool, StoreError> {
        Ok(self.blob_length(digest)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use ferry_engine::store::Store;

    /// Paging through the feed reuses one compiled statement: a new `since` or `limit` does not
    /// make SQLite recompile it (a bound `LIMIT ?` did, on every page).
    #[test]
    fn paging_the_feed_does_not_recompile_the_statement() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::SqliteStore::open(dir.path().join("feed.ferry")).unwrap();
        let mut batch = ferry_engine::store::WriteBatch::new();
        for i in 0..20u8 {
            let rev = ferry_engine::rev::RevId::from_digest(1, &[i; 20]);
            batch.push(ferry_engine::store::WriteOp::PutDocument {
                record: ferry_engine::store::DocRecord {
                    doc_id: format!("doc-{i:02}"),
                    current_rev: rev.clone(),
                    flags: ferry_engine::store::DocFlags::default(),
                    sequence: 0,
                    body_size: 1,
                    tree: vec![1],
                },
                put_bodies: vec![(rev, b"x".to_vec())],
                drop_bodies: Vec::new(),
            });
        }
        store.apply(batch).unwrap();
        let mut seen = Vec::new();
        let mut since = 0;
        for limit in [1, 3, 5, 7, 100] {
            let page = store.changes_since(since, limit).unwrap();
            assert!(page.len() <= limit);
            since = page.last().map_or(since, |c| c.sequence);
            seen.extend(page.into_iter().map(|c| c.doc_id));
        }
        assert_eq!(seen.len(), 20, "every document, once, in order: {seen:?}");
        let statement = store.conn.prepare_cached(super::CHANGES_SINCE).unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "recompilations of the feed's statement"
        );
    }
}
