//! Writes: [`apply`] (one batch, one transaction) and peer-checkpoint saves.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: the write lock is taken before anything
//! is read, so the `ExpectDocument` guards and the peer-checkpoint generation are checked under
//! the same lock as the writes they protect — a writer in another process cannot slip between
//! the check and the write. Any failure rolls the whole transaction back.
//!
//! A guard on a document whose first write in the batch is a `PutDocument` is checked by that
//! write itself (see [`fold_guards`]): a plain `INSERT` fails on the unique `doc_id` when the
//! document was expected absent, an `UPDATE … WHERE sequence = ?` changes nothing when it moved
//! on. Each guarded put then looks its document up once instead of twice.

use std::collections::HashMap;

use ferry_engine::store::{Sequence, StoreError, WriteBatch, WriteOp};
use rusqlite::{CachedStatement, Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{ctx, seq_from_sql, seq_to_sql};
use crate::read;

const PUT_DOCUMENT: &str = "INSERT INTO documents \
     (sequence, doc_id, current_rev, flags, body_size, tree) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (doc_id) DO UPDATE SET sequence = excluded.sequence, \
     current_rev = excluded.current_rev, flags = excluded.flags, \
     body_size = excluded.body_size, tree = excluded.tree";
/// A put guarded by "the document is absent": the unique `doc_id` refuses an existing one.
const INSERT_DOCUMENT: &str = "INSERT INTO documents \
     (sequence, doc_id, current_rev, flags, body_size, tree) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// A put guarded by "the document's latest sequence is ?7": nothing changes otherwise.
const REPLACE_DOCUMENT: &str = "UPDATE documents SET sequence = ?1, current_rev = ?3, \
     flags = ?4, body_size = ?5, tree = ?6 WHERE doc_id = ?2 AND sequence = ?7";
/// `UpdateTree` without guards, guarded by the tree, by the sequence, and by both.
const UPDATE_TREE: [&str; 4] = [
    "UPDATE documents SET tree = ?2 WHERE doc_id = ?1",
    "UPDATE documents SET tree = ?2 WHERE doc_id = ?1 AND tree = ?3",
    "UPDATE documents SET tree = ?2 WHERE sequence = ?3 AND doc_id = ?1",
    "UPDATE documents SET tree = ?2 WHERE sequence = ?4 AND doc_id = ?1 AND tree = ?3",
];
const PUT_BODY: &str = "INSERT OR REPLACE INTO bodies (doc_id, rev_id, body) VALUES (?1, ?2, ?3)";
const DROP_BODY: &str = "DELETE FROM bodies WHERE doc_id = ?1 AND rev_id = ?2";

/// Applies `batch` atomically; returns the sequences given to its `PutDocument` operations.
pub(crate) fn apply(conn: &mut Connection, batch: WriteBatch) -> Result<Vec<Sequence>, StoreError> {
    // Refuse operations this store does not know before touching the database.
    for op in &batch.ops {
        match op {
            WriteOp::PutDocument { .. }
            | WriteOp::UpdateTree { .. }
            | WriteOp::PurgeDocument { .. }
            | WriteOp::SetLocalCheckpoint { .. }
            | WriteOp::PutBlob { .. }
            | WriteOp::CommitBlob { .. }
            | WriteOp::DeleteBlob { .. }
            | WriteOp::ExpectDocument { .. }
            | WriteOp::SetUuid { .. } => {}
            other => {
                return Err(StoreError::Backend(format!(
                    "operation not supported by the SQLite store: {other:?}"
                )));
            }
        }
    }
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let context = ctx("applying a batch");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&context)?;
    // Guards are checked against the state when the batch starts, under the write lock: those
    // folded into their document's first write when it runs (nothing touched the document
    // before it), the others now.
    let mut folded = fold_guards(&batch.ops);
    for op in &batch.ops {
        if let WriteOp::ExpectDocument { doc_id, sequence } = op {
            if folded.contains_key(doc_id.as_str()) {
                continue;
            }
            let current: Option<i64> = tx
                .prepare_cached("SELECT sequence FROM documents WHERE doc_id = ?1")
                .and_then(|mut s| s.query_row([doc_id], |r| r.get(0)).optional())
                .map_err(&context)?;
            let current = current.map(|s| seq_from_sql(s, "documents")).transpose()?;
            if current != *sequence {
                return Err(StoreError::DocumentChanged {
                    doc_id: doc_id.clone(),
                });
            }
        }
    }
    let first = read::last_sequence(&tx)?;
    let mut last = first;
    let mut assigned = Vec::new();
    {
        let mut put_doc: Option<CachedStatement<'_>> = None;
        let mut insert_doc: Option<CachedStatement<'_>> = None;
        let mut replace_doc: Option<CachedStatement<'_>> = None;
        let mut update_tree: [Option<CachedStatement<'_>>; 4] = Default::default();
        let mut put_body: Option<CachedStatement<'_>> = None;
        let mut drop_body: Option<CachedStatement<'_>> = None;
        for op in &batch.ops {
            match op {
                WriteOp::PutDocument {
                    record,
                    put_bodies,
                    drop_bodies,
                } => {
                    last = last.checked_add(1).ok_or_else(|| {
                        StoreError::Backend("the sequence space is exhausted".to_owned())
                    })?;
                    let body_size = i64::try_from(record.body_size).map_err(|_| {
                        StoreError::Backend(format!("body size {} too large", record.body_size))
                    })?;
                    let doc_id = record.doc_id.as_str();
                    let row = params![
                        seq_to_sql(last)?,
                        doc_id,
                        record.current_rev.as_str(),
                        i64::from(record.flags.to_bits()),
                        body_size,
                        record.tree,
                    ];
                    let changed = || StoreError::DocumentChanged {
                        doc_id: doc_id.to_owned(),
                    };
                    match folded.remove(doc_id) {
                        None => {
                            statement(&mut put_doc, &tx, PUT_DOCUMENT)?
                                .execute(row)
                                .map_err(&context)?;
                        }
                        Some(None) => {
                            match statement(&mut insert_doc, &tx, INSERT_DOCUMENT)?.execute(row) {
                                Ok(_) => {}
                                Err(e) if is_unique_violation(&e) => return Err(changed()),
                                Err(e) => return Err(context(e)),
                            }
                        }
                        Some(Some(expected)) => {
                            let mut row = row.to_vec();
                            let expected = seq_to_sql(expected)?;
                            row.push(&expected);
                            let updated = statement(&mut replace_doc, &tx, REPLACE_DOCUMENT)?
                                .execute(&row[..])
                                .map_err(&context)?;
                            if updated == 0 {
                                return Err(changed());
                            }
                        }
                    }
                    for rev in drop_bodies {
                        statement(&mut drop_body, &tx, DROP_BODY)?
                            .execute(params![doc_id, rev.as_str()])
                            .map_err(&context)?;
                    }
                    for (rev, body) in put_bodies {
                        statement(&mut put_body, &tx, PUT_BODY)?
                            .execute(params![doc_id, rev.as_str(), body])
                            .map_err(&context)?;
                    }
                    assigned.push(last);
                }
                WriteOp::UpdateTree {
                    doc_id,
                    tree,
                    drop_bodies,
                    expected_tree,
                    expected_sequence,
                } => {
                    // The guards and the write in one statement (one lookup: by rowid when the
                    // sequence is known); a mismatch fails the batch, and the transaction is
                    // rolled back when dropped.
                    let sequence = expected_sequence.map(seq_to_sql).transpose()?;
                    let variant = match (expected_tree, sequence) {
                        (None, None) => 0,
                        (Some(_), None) => 1,
                        (None, Some(_)) => 2,
                        (Some(_), Some(_)) => 3,
                    };
                    let update = statement(&mut update_tree[variant], &tx, UPDATE_TREE[variant])?;
                    let updated = match (expected_tree, sequence) {
                        (None, None) => update.execute(params![doc_id, tree]),
                        (Some(t), None) => update.execute(params![doc_id, tree, t]),
                        (None, Some(s)) => update.execute(params![doc_id, tree, s]),
                        (Some(t), Some(s)) => update.execute(params![doc_id, tree, t, s]),
                    }
                    .map_err(&context)?;
                    if updated == 0 && variant != 0 {
                        return Err(StoreError::DocumentChanged {
                            doc_id: doc_id.clone(),
                        });
                    }
                    if updated > 0 {
                        for rev in drop_bodies {
                            statement(&mut drop_body, &tx, DROP_BODY)?
                                .execute(params![doc_id, rev.as_str()])
                                .map_err(&context)?;
                        }
                    }
                }
                WriteOp::PurgeDocument { doc_id } => {
                    exec(
                        &tx,
                        "DELETE FROM documents WHERE doc_id = ?1",
                        params![doc_id],
                    )?;
                    exec(&tx, "DELETE FROM bodies WHERE doc_id = ?1", params![doc_id])?;
                }
                WriteOp::SetLocalCheckpoint { id, body } => match body {
                    Some(body) => exec(
                        &tx,
                        "INSERT OR REPLACE INTO local_checkpoints (id, body) VALUES (?1, ?2)",
                        params![id, body],
                    )?,
                    None => exec(
                        &tx,
                        "DELETE FROM local_checkpoints WHERE id = ?1",
                        params![id],
                    )?,
                },
                WriteOp::PutBlob { digest, bytes } => crate::blobs::put(&tx, digest, bytes)?,
                WriteOp::CommitBlob { staging, digest } => {
                    crate::blobs::commit(&tx, *staging, digest)?;
                }
                WriteOp::DeleteBlob { digest } => crate::blobs::delete(&tx, digest)?,
                WriteOp::SetUuid { uuid } => exec(
                    &tx,
                    "UPDATE database SET uuid = ?1 WHERE singleton = 0",
                    params![&uuid[..]],
                )?,
                // Checked above, before the first write.
                WriteOp::ExpectDocument { .. } => {}
                // Unknown operations were refused before the transaction began.
                _ => {}
            }
        }
    }
    if last != first {
        exec(
            &tx,
            "UPDATE database SET last_sequence = ?1 WHERE singleton = 0",
            params![seq_to_sql(last)?],
        )?;
    }
    tx.commit().map_err(&context)?;
    Ok(assigned)
}

/// The `ExpectDocument` guards that their document's first write in `ops` can check itself:
/// document ID → expected sequence, for each document whose first write is a `PutDocument`
/// and whose guards all come before it (one guard only: two are checked the usual way).
fn fold_guards(ops: &[WriteOp]) -> HashMap<&str, Option<Sequence>> {
    let mut guards: HashMap<&str, Option<Option<Sequence>>> = HashMap::new();
    let mut folded = HashMap::new();
    let mut written: std::collections::HashSet<&str> = Default::default();
    for op in ops {
        match op {
            WriteOp::ExpectDocument { doc_id, sequence } => {
                let doc_id = doc_id.as_str();
                if written.contains(doc_id) || guards.contains_key(doc_id) {
                    // Checked against the batch's start, before any write.
                    guards.insert(doc_id, None);
                    folded.remove(doc_id);
                } else {
                    guards.insert(doc_id, Some(*sequence));
                }
            }
            WriteOp::PutDocument { record, .. } => {
                let doc_id = record.doc_id.as_str();
                if written.insert(doc_id) {
                    if let Some(&Some(expected)) = guards.get(doc_id) {
                        folded.insert(doc_id, expected);
                    }
                }
            }
            WriteOp::UpdateTree { doc_id, .. } | WriteOp::PurgeDocument { doc_id } => {
                written.insert(doc_id.as_str());
            }
            _ => {}
        }
    }
    folded
}

/// Whether `error` is a `UNIQUE` constraint refusing a row.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// The statement in `slot`, prepared (from the connection's cache) on first use.
fn statement<'s, 'c>(
    slot: &'s mut Option<CachedStatement<'c>>,
    conn: &'c Connection,
    sql: &str,
) -> Result<&'s mut CachedStatement<'c>, StoreError> {
    if slot.is_none() {
        *slot = Some(conn.prepare_cached(sql).map_err(ctx("preparing a write"))?);
    }
    slot.as_mut()
        .ok_or_else(|| StoreError::Backend("statement slot left empty".to_owned()))
}

fn exec(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<(), StoreError> {
    exec_count(conn, sql, params).map(drop)
}

/// Runs a statement and returns how many rows it changed.
fn exec_count(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(ctx("applying a batch"))
}

/// Saves a peer checkpoint if its generation is `expected`; returns the new generation.
pub(crate) fn set_peer_checkpoint(
    conn: &mut Connection,
    id: &str,
    expected: Option<u64>,
    body: &[u8],
) -> Result<u64, StoreError> {
    let context = ctx("saving a peer checkpoint");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&context)?;
    let current = read::peer_checkpoint(&tx, id)?.map(|(_, generation)| generation);
    if current != expected {
        return Err(StoreError::CheckpointConflict {
            id: id.to_owned(),
            current,
        });
    }
    let next = current.unwrap_or(0) + 1;
    let next_sql = i64::try_from(next)
        .map_err(|_| StoreError::Backend(format!("checkpoint generation {next} overflows")))?;
    exec(
        &tx,
        "INSERT OR REPLACE INTO peer_checkpoints (id, body, generation) VALUES (?1, ?2, ?3)",
        params![id, body, next_sql],
    )?;
    tx.commit().map_err(&context)?;
    Ok(next)
}
