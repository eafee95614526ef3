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

use ferry_engine::store::{Sequence, StoreError, WriteBatch, WriteOp};
use rusqlite::{CachedStatement, Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{ctx, seq_from_sql, seq_to_sql};
use crate::fold::FoldedGuards;
use crate::read;

/// A new document's row (the unique `doc_id` refuses an existing one).
const INSERT_DOCUMENT: &str = "INSERT INTO documents \
     (sequence, doc_id, current_rev, flags, body_size, tree, body) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// An existing document's row, found by its sequence ?9: its body is kept when ?8, else ?7.
const UPDATE_DOCUMENT: &str = "UPDATE documents SET sequence = ?1, current_rev = ?3, \
     flags = ?4, body_size = ?5, tree = ?6, body = CASE WHEN ?8 THEN body ELSE ?7 END \
     WHERE sequence = ?9 AND doc_id = ?2";
/// The stored document: its sequence, current revision and whether its row holds that
/// revision's body.
/// With whether its tree is ?2 (NULL when ?2 is).
const OLD_DOCUMENT: &str = "SELECT sequence, current_rev, body IS NOT NULL, tree = ?2 \
     FROM documents WHERE doc_id = ?1";
/// Takes a revision's body out of `bodies` (when it becomes the current revision).
const TAKE_BODY: &str = "DELETE FROM bodies WHERE doc_id = ?1 AND rev_id = ?2 RETURNING body";
/// Moves the current revision's body from the row to `bodies` (when it stops being current).
const KEEP_OLD_BODY: &str = "INSERT OR REPLACE INTO bodies (doc_id, rev_id, body) \
     SELECT doc_id, current_rev, body FROM documents WHERE sequence = ?1 AND body IS NOT NULL";
/// Drops the current revision's body from its row.
const DROP_CURRENT_BODY: &str =
    "UPDATE documents SET body = NULL WHERE doc_id = ?1 AND current_rev = ?2";
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
    let mut folded = FoldedGuards::of(&batch.ops);
    for op in &batch.ops {
        if let WriteOp::ExpectDocument {
            doc_id,
            sequence,
            tree,
        } = op
        {
            if folded.is_folded(doc_id) {
                continue;
            }
            let current: Option<(i64, Option<bool>)> = tx
                .prepare_cached("SELECT sequence, tree = ?2 FROM documents WHERE doc_id = ?1")
                .and_then(|mut s| {
                    s.query_row(params![doc_id, tree], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(&context)?;
            let holds = match current {
                None => sequence.is_none(),
                Some((stored, same_tree)) => {
                    Some(seq_from_sql(stored, "documents")?) == *sequence
                        && (tree.is_none() || same_tree == Some(true))
                }
            };
            if !holds {
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
        let mut s = Statements::default();
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
                    let current = &record.current_rev;
                    let changed = || StoreError::DocumentChanged {
                        doc_id: doc_id.to_owned(),
                    };
                    // The document as stored, unless its guard says it is absent (then the
                    // unique `doc_id` refuses the insert if it is not).
                    let guard = folded.take(doc_id);
                    let expected_tree = guard.and_then(|(_, tree)| tree);
                    let old: Option<(i64, String, bool, Option<bool>)> = match guard {
                        Some((None, _)) => None,
                        _ => statement(&mut s.old_document, &tx, OLD_DOCUMENT)?
                            .query_row(params![doc_id, expected_tree], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                            })
                            .optional()
                            .map_err(&context)?,
                    };
                    if let Some((Some(expected), tree)) = guard {
                        let holds = old.as_ref().is_some_and(|(sequence, _, _, same_tree)| {
                            seq_to_sql(expected).is_ok_and(|e| e == *sequence)
                                && (tree.is_none() || *same_tree == Some(true))
                        });
                        if !holds {
                            return Err(changed());
                        }
                    }
                    // The current revision's body lives in the row, every other one in
                    // `bodies`: a new current revision takes its body out of `bodies` (unless
                    // one is given), and the old one's body moves there unless dropped.
                    let given = put_bodies
                        .iter()
                        .find(|(rev, _)| rev == current)
                        .map(|(_, body)| body.as_slice());
                    let replaced = old
                        .as_ref()
                        .filter(|(_, rev, ..)| rev.as_str() != current.as_str());
                    let mut taken: Option<Vec<u8>> = None;
                    if let Some((sequence, old_rev, has_body, _)) = replaced {
                        taken = statement(&mut s.take_body, &tx, TAKE_BODY)?
                            .query_row(params![doc_id, current.as_str()], |r| r.get(0))
                            .optional()
                            .map_err(&context)?;
                        let dropped = drop_bodies.iter().any(|r| r.as_str() == old_rev);
                        if *has_body && !dropped {
                            statement(&mut s.keep_old_body, &tx, KEEP_OLD_BODY)?
                                .execute([sequence])
                                .map_err(&context)?;
                        }
                    }
                    let current_dropped = given.is_none() && drop_bodies.contains(current);
                    let body = given.or(taken.as_deref()).filter(|_| !current_dropped);
                    let keep = replaced.is_none() && given.is_none() && !current_dropped;
                    for rev in drop_bodies.iter().filter(|r| *r != current) {
                        statement(&mut s.drop_body, &tx, DROP_BODY)?
                            .execute(params![doc_id, rev.as_str()])
                            .map_err(&context)?;
                    }
                    let row = params![
                        seq_to_sql(last)?,
                        doc_id,
                        current.as_str(),
                        i64::from(record.flags.to_bits()),
                        body_size,
                        record.tree,
                        body,
                    ];
                    match &old {
                        None => {
                            match statement(&mut s.insert_doc, &tx, INSERT_DOCUMENT)?.execute(row) {
                                Ok(_) => {}
                                Err(e) if is_unique_violation(&e) => return Err(changed()),
                                Err(e) => return Err(context(e)),
                            }
                        }
                        Some((sequence, ..)) => {
                            let mut row = row.to_vec();
                            row.push(&keep);
                            row.push(sequence);
                            statement(&mut s.update_doc, &tx, UPDATE_DOCUMENT)?
                                .execute(&row[..])
                                .map_err(&context)?;
                        }
                    }
                    for (rev, body) in put_bodies.iter().filter(|(r, _)| r != current) {
                        statement(&mut s.put_body, &tx, PUT_BODY)?
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
                    let update = statement(&mut s.update_tree[variant], &tx, UPDATE_TREE[variant])?;
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
                            statement(&mut s.drop_body, &tx, DROP_BODY)?
                                .execute(params![doc_id, rev.as_str()])
                                .map_err(&context)?;
                            statement(&mut s.drop_current_body, &tx, DROP_CURRENT_BODY)?
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

/// The statements of one batch, each prepared (from the connection's cache) on first use.
#[derive(Default)]
struct Statements<'c> {
    old_document: Option<CachedStatement<'c>>,
    insert_doc: Option<CachedStatement<'c>>,
    update_doc: Option<CachedStatement<'c>>,
    take_body: Option<CachedStatement<'c>>,
    keep_old_body: Option<CachedStatement<'c>>,
    update_tree: [Option<CachedStatement<'c>>; 4],
    put_body: Option<CachedStatement<'c>>,
    drop_body: Option<CachedStatement<'c>>,
    drop_current_body: Option<CachedStatement<'c>>,
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
