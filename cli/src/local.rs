//! The local commands: `put`, `get`, `delete`, `ls`, `changes`, `conflicts`, `info` — JSON in
//! on stdin, JSON (or IDs) out on stdout.

use std::io::{Read, Write};
use std::sync::Arc;

use ferry_engine::db::{Database as Db, DbError};
use ferry_engine::rev::RevId;
use ferry_engine::store::ChangeEntry;
use ferry_engine::value::Value;
use ferry_store_sqlite::SqliteStore;
use ferry_tokio::Database;
use serde_json::json;

use crate::args::{ChangesArgs, DbArg, DeleteArgs, DocArgs, GetArgs, LsArgs, PutArgs};
use crate::db::{Access, open, with};
use crate::error::CliError;

/// The name local commands give their database (it appears in no URL).
const LOCAL_NAME: &str = "local";

/// How many changes are read from the store per call.
const PAGE: usize = 1000;

fn parse_rev(rev: Option<&str>) -> Result<Option<RevId>, CliError> {
    rev.map(|r| RevId::parse(r).map_err(|e| CliError::Invalid(format!("revision {r:?}: {e}"))))
        .transpose()
}

/// A document body as JSON text.
fn body_json(body: &Value) -> serde_json::Value {
    // `Value::to_json` writes valid JSON; a failure here would be a bug, shown as null.
    serde_json::from_slice(&body.to_json()).unwrap_or(serde_json::Value::Null)
}

fn print_line(out: &mut impl Write, line: &str) -> Result<(), CliError> {
    writeln!(out, "{line}")?;
    Ok(())
}

/// Runs `f` with the database, the document ID and the parsed `--rev` on the store thread;
/// `None` from `f` means the document was not found.
async fn on_document<T: Send + 'static>(
    args: DocArgs,
    access: Access,
    f: impl FnOnce(&mut Db<SqliteStore>, &str, Option<RevId>) -> Result<Option<T>, DbError>
    + Send
    + 'static,
) -> Result<T, CliError> {
    let rev = parse_rev(args.rev.as_deref())?;
    let db = open(&args.db.db, LOCAL_NAME, access)?;
    let id = args.id.clone();
    with(&db, move |db| f(db, &id, rev))
        .await?
        .map_err(|e| CliError::db(e.into(), &args.id))?
        .ok_or(CliError::NotFound(args.id))
}

/// The current revision of a live document.
fn current(db: &Db<SqliteStore>, id: &str) -> Result<Option<RevId>, DbError> {
    Ok(db.get(id)?.map(|doc| doc.rev))
}

/// `ferry put`: the body from stdin, the new revision ID on stdout.
pub(crate) async fn put(args: PutArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut text = Vec::new();
    std::io::stdin().read_to_end(&mut text)?;
    let body = Value::from_json(&text)
        .map_err(|e| CliError::Invalid(format!("the body on stdin is not JSON: {e}")))?;
    let rev = on_document(args.doc, Access::Create, move |db, id, base| {
        let base = match base {
            Some(rev) => Some(rev),
            None => current(db, id)?,
        };
        db.put(id, &body, base.as_ref()).map(Some)
    })
    .await?;
    print_line(out, rev.as_str())
}

/// `ferry get`: the body (or the revision with its metadata) on stdout.
pub(crate) async fn get(args: GetArgs, out: &mut impl Write) -> Result<(), CliError> {
    let doc = on_document(args.doc, Access::Read, |db, id, rev| match rev {
        Some(rev) => db.get_revision(id, &rev),
        None => db.get(id),
    })
    .await?;
    if args.meta {
        let meta = json!({
            "id": doc.id,
            "rev": doc.rev.as_str(),
            "seq": doc.sequence,
            "deleted": doc.deleted,
            "conflicted": doc.conflicted,
            "body": body_json(&doc.body),
        });
        print_line(out, &meta.to_string())
    } else {
        out.write_all(&doc.body.to_json())?;
        print_line(out, "")
    }
}

/// `ferry delete`: the tombstone's revision ID on stdout.
pub(crate) async fn delete(args: DeleteArgs, out: &mut impl Write) -> Result<(), CliError> {
    let rev = on_document(args.doc, Access::Write, |db, id, base| {
        let base = match base {
            Some(rev) => rev,
            None => match current(db, id)? {
                Some(rev) => rev,
                None => return Ok(None),
            },
        };
        db.delete(id, &base).map(Some)
    })
    .await?;
    print_line(out, rev.as_str())
}

/// Writes one line per change after `since` (at most `limit`) for which `line` returns one,
/// reading the feed a page at a time on the store thread.
async fn each_change<F>(
    db: &Database,
    since: u64,
    limit: Option<usize>,
    line: F,
    out: &mut impl Write,
) -> Result<(), CliError>
where
    F: Fn(&Db<SqliteStore>, &ChangeEntry) -> Result<Option<String>, DbError>
        + Send
        + Sync
        + 'static,
{
    let line = Arc::new(line);
    let (mut since, mut left) = (since, limit.unwrap_or(usize::MAX));
    while left > 0 {
        let line = line.clone();
        let page = left.min(PAGE);
        let (lines, last, read) = with(db, move |db| {
            let entries = db.changes_since(since, page)?;
            let lines = entries
                .iter()
                .filter_map(|entry| line(db, entry).transpose())
                .collect::<Result<Vec<_>, DbError>>()?;
            Ok::<_, DbError>((lines, entries.last().map(|e| e.sequence), entries.len()))
        })
        .await?
        .map_err(|e| CliError::Database(e.into()))?;
        for text in lines {
            print_line(out, &text)?;
        }
        match last {
            Some(last) if read == page => (since, left) = (last, left - read),
            _ => break,
        }
    }
    Ok(())
}

/// An entry's fields as JSON.
fn entry_json(entry: &ChangeEntry) -> serde_json::Value {
    json!({
        "seq": entry.sequence,
        "id": entry.doc_id,
        "rev": entry.current_rev.as_str(),
        "deleted": entry.flags.deleted,
        "conflicted": entry.flags.conflicted,
        "size": entry.body_size,
    })
}

/// `ferry ls`.
pub(crate) async fn ls(args: LsArgs, out: &mut impl Write) -> Result<(), CliError> {
    let db = open(&args.db.db, LOCAL_NAME, Access::Read)?;
    let (json, deleted) = (args.json, args.deleted);
    let line = move |_: &Db<SqliteStore>, entry: &ChangeEntry| {
        Ok(match () {
            _ if entry.flags.deleted && !deleted => None,
            _ if json => Some(entry_json(entry).to_string()),
            _ => Some(entry.doc_id.clone()),
        })
    };
    each_change(&db, 0, None, line, out).await
}

/// `ferry changes`.
pub(crate) async fn changes(args: ChangesArgs, out: &mut impl Write) -> Result<(), CliError> {
    let db = open(&args.db.db, LOCAL_NAME, Access::Read)?;
    let line = |_: &Db<SqliteStore>, entry: &ChangeEntry| Ok(Some(entry_json(entry).to_string()));
    each_change(&db, args.since, args.limit, line, out).await
}

/// `ferry conflicts`.
pub(crate) async fn conflicts(args: DbArg, out: &mut impl Write) -> Result<(), CliError> {
    let db = open(&args.db, LOCAL_NAME, Access::Read)?;
    let line = |db: &Db<SqliteStore>, entry: &ChangeEntry| {
        if !entry.flags.conflicted {
            return Ok(None);
        }
        let conflicts = db.conflicts(&entry.doc_id)?;
        let revs: Vec<&str> = conflicts.iter().map(RevId::as_str).collect();
        let line = json!({
            "id": entry.doc_id,
            "rev": entry.current_rev.as_str(),
            "conflicts": revs,
        });
        Ok(Some(line.to_string()))
    };
    each_change(&db, 0, None, line, out).await
}

/// `ferry info`.
pub(crate) async fn info(args: DbArg, out: &mut impl Write) -> Result<(), CliError> {
    let db = open(&args.db, LOCAL_NAME, Access::Read)?;
    let uuid = hex::encode(db.uuid());
    let (documents, last_sequence) = with(&db, |db| {
        Ok::<_, DbError>((db.document_count()?, db.last_sequence()?))
    })
    .await?
    .map_err(|e| CliError::Database(e.into()))?;
    let path = std::fs::canonicalize(&args.db).unwrap_or(args.db);
    let info = json!({
        "path": path.display().to_string(),
        "uuid": uuid,
        "documents": documents,
        "last_sequence": last_sequence,
        "schema_version": ferry_store_sqlite::schema::SCHEMA_VERSION,
    });
    let pretty = serde_json::to_string_pretty(&info).unwrap_or_else(|_| info.to_string());
    print_line(out, &pretty)
}
