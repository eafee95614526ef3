//! Blobs: content stored in pieces (`blob_contents`), named by digest once committed
//! (`blob_index`), and written through a staging area (`blob_staging`) so that a half-written
//! blob is never visible (schema version 2, see [`crate::schema`]).
//!
//! A blob's content is a numbered set of pieces, each at most [`PIECE`] bytes, keyed by
//! `(blob, pos)` where `pos` is the piece's byte offset. Staging allocates the number from
//! `blob_staging`'s AUTOINCREMENT key; committing moves the number into `blob_index` under the
//! digest without copying any byte.

use ferry_engine::store::{BlobDigest, StagingId, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::ctx;

/// The largest piece stored in one row.
pub(crate) const PIECE: usize = 1 << 20;

fn id_to_sql(staging: StagingId) -> Result<i64, StoreError> {
    i64::try_from(staging).map_err(|_| StoreError::NoSuchStagedBlob(staging))
}

fn len_from_sql(length: i64) -> Result<u64, StoreError> {
    u64::try_from(length).map_err(|_| StoreError::Corrupt(format!("blob length {length}")))
}

/// The content number and length of a committed blob.
fn lookup(conn: &Connection, digest: &BlobDigest) -> Result<Option<(i64, u64)>, StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT blob, length FROM blob_index WHERE digest = ?1")
        .and_then(|mut s| {
            s.query_row([&digest[..]], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(ctx("looking up a blob"))?;
    row.map(|(blob, length)| Ok((blob, len_from_sql(length)?)))
        .transpose()
}

pub(crate) fn length(conn: &Connection, digest: &BlobDigest) -> Result<Option<u64>, StoreError> {
    Ok(lookup(conn, digest)?.map(|(_, length)| length))
}

pub(crate) fn read(
    conn: &Connection,
    digest: &BlobDigest,
    offset: u64,
    max: usize,
) -> Result<Option<Vec<u8>>, StoreError> {
    let context = ctx("reading a blob");
    let Some((blob, length)) = lookup(conn, digest)? else {
        return Ok(None);
    };
    if offset >= length || max == 0 {
        return Ok(Some(Vec::new()));
    }
    let wanted = usize::try_from(length - offset)
        .unwrap_or(usize::MAX)
        .min(max);
    let mut out = Vec::with_capacity(wanted);
    let offset_sql = i64::try_from(offset).map_err(|_| StoreError::Corrupt("offset".into()))?;
    // The piece holding `offset`, then the following ones in order.
    let start: i64 = conn
        .prepare_cached(
            "SELECT pos FROM blob_contents WHERE blob = ?1 AND pos <= ?2 \
             ORDER BY pos DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![blob, offset_sql], |r| r.get(0)))
        .map_err(&context)?;
    let mut statement = conn
        .prepare_cached(
            "SELECT pos, bytes FROM blob_contents WHERE blob = ?1 AND pos >= ?2 ORDER BY pos",
        )
        .map_err(&context)?;
    let mut rows = statement.query(params![blob, start]).map_err(&context)?;
    while out.len() < wanted {
        let Some(row) = rows.next().map_err(&context)? else {
            break;
        };
        let pos: i64 = row.get(0).map_err(&context)?;
        let piece =
            row.get_ref(1).map_err(&context)?.as_blob().map_err(|e| {
                StoreError::Corrupt(format!("blob piece at {pos} is not bytes: {e}"))
            })?;
        let skip = usize::try_from(offset_sql.saturating_sub(pos)).unwrap_or(0);
        let piece = piece.get(skip..).unwrap_or_default();
        let take = piece.len().min(wanted - out.len());
        out.extend_from_slice(&piece[..take]);
    }
    if out.len() < wanted {
        return Err(StoreError::Corrupt(format!(
            "blob is {length} bytes long but its pieces end after {}",
            offset + out.len() as u64
        )));
    }
    Ok(Some(out))
}

pub(crate) fn digests(
    conn: &Connection,
    after: Option<&BlobDigest>,
    limit: usize,
) -> Result<Vec<BlobDigest>, StoreError> {
    let context = ctx("listing blobs");
    let after: &[u8] = after.map_or(&[], |d| &d[..]);
    // No bound `LIMIT ?`: SQLite's planner reads that value, so every new one would recompile
    // the statement; the scan stops after `limit` rows instead.
    let mut statement = conn
        .prepare_cached("SELECT digest FROM blob_index WHERE digest > ?1 ORDER BY digest")
        .map_err(&context)?;
    let rows = statement
        .query_map(params![after], |r| r.get::<_, Vec<u8>>(0))
        .map_err(&context)?;
    rows.take(limit)
        .map(|row| {
            let bytes = row.map_err(&context)?;
            BlobDigest::try_from(bytes.as_slice())
                .map_err(|_| StoreError::Corrupt(format!("a blob digest of {} bytes", bytes.len())))
        })
        .collect()
}

/// Starts a staged blob: a new content number.
pub(crate) fn begin(conn: &Connection) -> Result<StagingId, StoreError> {
    let context = ctx("starting a blob");
    conn.prepare_cached("INSERT INTO blob_staging (length) VALUES (0)")
        .and_then(|mut s| s.insert([]))
        .map_err(&context)
        .and_then(|id| {
            StagingId::try_from(id).map_err(|_| StoreError::Corrupt(format!("staging id {id}")))
        })
}

/// The length staged so far, or `NoSuchStagedBlob`.
fn staged_length(conn: &Connection, staging: StagingId) -> Result<u64, StoreError> {
    let id = id_to_sql(staging)?;
    let length: Option<i64> = conn
        .prepare_cached("SELECT length FROM blob_staging WHERE blob = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(ctx("reading a staged blob"))?;
    len_from_sql(length.ok_or(StoreError::NoSuchStagedBlob(staging))?)
}

/// Stores `bytes` as pieces of content `blob` from byte `at`; returns the new length.
fn write_pieces(conn: &Connection, blob: i64, at: u64, bytes: &[u8]) -> Result<u64, StoreError> {
    let context = ctx("writing a blob");
    let mut statement = conn
        .prepare_cached("INSERT INTO blob_contents (blob, pos, bytes) VALUES (?1, ?2, ?3)")
        .map_err(&context)?;
    let mut pos = at;
    for piece in bytes.chunks(PIECE) {
        let pos_sql = i64::try_from(pos).map_err(|_| StoreError::Full("blob too long".into()))?;
        statement
            .execute(params![blob, pos_sql, piece])
            .map_err(&context)?;
        pos += piece.len() as u64;
    }
    Ok(pos)
}

/// Appends to a staged blob in one transaction.
pub(crate) fn append(
    conn: &mut Connection,
    staging: StagingId,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let context = ctx("appending to a blob");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&context)?;
    let at = staged_length(&tx, staging)?;
    if !bytes.is_empty() {
        let blob = id_to_sql(staging)?;
        let end = write_pieces(&tx, blob, at, bytes)?;
        let end = i64::try_from(end).map_err(|_| StoreError::Full("blob too long".into()))?;
        tx.prepare_cached("UPDATE blob_staging SET length = ?2 WHERE blob = ?1")
            .and_then(|mut s| s.execute(params![blob, end]))
            .map_err(&context)?;
    }
    tx.commit().map_err(&context)
}

fn drop_content(conn: &Connection, blob: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM blob_contents WHERE blob = ?1")
        .and_then(|mut s| s.execute([blob]))
        .map(drop)
        .map_err(ctx("removing a blob's content"))
}

/// Discards a staged blob (in the caller's transaction, or alone).
pub(crate) fn abort(conn: &Connection, staging: StagingId) -> Result<(), StoreError> {
    let Ok(blob) = id_to_sql(staging) else {
        return Ok(());
    };
    drop_content(conn, blob)?;
    conn.prepare_cached("DELETE FROM blob_staging WHERE blob = ?1")
        .and_then(|mut s| s.execute([blob]))
        .map(drop)
        .map_err(ctx("discarding a staged blob"))
}

/// Makes a staged blob the blob `digest` (inside the caller's transaction).
pub(crate) fn commit(
    conn: &Connection,
    staging: StagingId,
    digest: &BlobDigest,
) -> Result<(), StoreError> {
    let length = staged_length(conn, staging)?;
    if lookup(conn, digest)?.is_some() {
        return abort(conn, staging);
    }
    let blob = id_to_sql(staging)?;
    let length = i64::try_from(length).map_err(|_| StoreError::Full("blob too long".into()))?;
    conn.prepare_cached("INSERT INTO blob_index (digest, blob, length) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![&digest[..], blob, length]))
        .map_err(ctx("committing a blob"))?;
    conn.prepare_cached("DELETE FROM blob_staging WHERE blob = ?1")
        .and_then(|mut s| s.execute([blob]))
        .map(drop)
        .map_err(ctx("committing a blob"))
}

/// Stores a whole blob (inside the caller's transaction); a stored digest is left alone.
pub(crate) fn put(conn: &Connection, digest: &BlobDigest, bytes: &[u8]) -> Result<(), StoreError> {
    if lookup(conn, digest)?.is_some() {
        return Ok(());
    }
    let staging = begin(conn)?;
    let id = id_to_sql(staging)?;
    write_pieces(conn, id, 0, bytes)?;
    let length =
        i64::try_from(bytes.len()).map_err(|_| StoreError::Full("blob too long".into()))?;
    conn.prepare_cached("UPDATE blob_staging SET length = ?2 WHERE blob = ?1")
        .and_then(|mut s| s.execute(params![id, length]))
        .map_err(ctx("writing a blob"))?;
    commit(conn, staging, digest)
}

/// Removes a blob (inside the caller's transaction); a missing one is ignored.
pub(crate) fn delete(conn: &Connection, digest: &BlobDigest) -> Result<(), StoreError> {
    let Some((blob, _)) = lookup(conn, digest)? else {
        return Ok(());
    };
    drop_content(conn, blob)?;
    conn.prepare_cached("DELETE FROM blob_index WHERE digest = ?1")
        .and_then(|mut s| s.execute([&digest[..]]))
        .map(drop)
        .map_err(ctx("removing a blob"))
}

/// Discards every staged blob: what a previous process left half-written. Run when a store
/// opens; a database is written by one store at a time as far as staging goes.
pub(crate) fn discard_staged(conn: &mut Connection) -> Result<(), StoreError> {
    let context = ctx("discarding unfinished blobs");
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM blob_staging)")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(&context)?;
    if !any {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&context)?;
    tx.execute_batch(
        "DELETE FROM blob_contents WHERE blob IN (SELECT blob FROM blob_staging);
         DELETE FROM blob_staging;",
    )
    .map_err(&context)?;
    tx.commit().map_err(&context)
}
