//! Convergence checks.

use std::collections::BTreeMap;

use ferry_engine::blob::{blob_refs, digest_of, digest_to_string};
use ferry_engine::db::Database;
use ferry_engine::rev::RevId;
use ferry_engine::store::Store;
use ferry_engine::value::Value;

/// A database's documents: ID → (current revision, deleted, body of the current revision).
pub type Snapshot = BTreeMap<String, (RevId, bool, Value)>;

/// Every document of `db` (tombstones included) with its current revision and body.
pub fn snapshot<S: Store>(db: &Database<S>) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut since = 0;
    loop {
        let page = db.changes_since(since, 1_000).expect("changes feed");
        let Some(last) = page.last() else { break };
        since = last.sequence;
        for entry in page {
            let doc = db
                .get_revision(&entry.doc_id, &entry.current_rev)
                .expect("read")
                .unwrap_or_else(|| panic!("current revision of {} has no body", entry.doc_id));
            out.insert(entry.doc_id, (entry.current_rev, doc.deleted, doc.body));
        }
    }
    out
}

/// Describes how two databases differ (empty when they hold the same documents at the same
/// current revisions with the same bodies), at most `limit` lines. Unlike [`snapshot`] it
/// streams: memory stays flat however many documents the databases hold.
pub fn compare_databases<A: Store, B: Store>(
    a: &Database<A>,
    b: &Database<B>,
    limit: usize,
) -> Vec<String> {
    let (count_a, count_b) = (
        a.document_count().expect("count"),
        b.document_count().expect("count"),
    );
    let mut out = Vec::new();
    if count_a != count_b {
        out.push(format!("{count_a} documents vs {count_b}"));
    }
    out.extend(missing_or_different(a, b, limit));
    out.truncate(limit);
    out
}

/// Describes which documents of `a` are not in `b` at the same current revision with the same
/// body (empty when all are), at most `limit` lines. Streams like [`compare_databases`].
pub fn missing_or_different<A: Store, B: Store>(
    a: &Database<A>,
    b: &Database<B>,
    limit: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut since = 0;
    while out.len() < limit {
        let page = a.changes_since(since, 1_000).expect("changes feed");
        let Some(last) = page.last() else { break };
        since = last.sequence;
        for entry in page {
            let (id, rev) = (&entry.doc_id, &entry.current_rev);
            match b.revision_tree(id).expect("read") {
                None => out.push(format!("{id}: only on the first ({rev})")),
                Some((record, _)) if record.current_rev != *rev => {
                    out.push(format!("{id}: {rev} vs {}", record.current_rev));
                }
                Some(_) => {
                    let body =
                        |d: Option<ferry_engine::db::Document>| d.map(|d| (d.deleted, d.body));
                    let ours = body(a.get_revision(id, rev).expect("read"));
                    if ours != body(b.get_revision(id, rev).expect("read")) {
                        out.push(format!("{id}: same revision {rev}, different bodies"));
                    }
                }
            }
        }
    }
    out.truncate(limit);
    out
}

/// Describes how two snapshots differ (empty when equal), at most `limit` lines.
pub fn differences(a: &Snapshot, b: &Snapshot, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (id, va) in a {
        match b.get(id) {
            None => out.push(format!("{id}: only on the first ({})", va.0)),
            Some(vb) if vb != va => out.push(format!("{id}: {} vs {}", va.0, vb.0)),
            _ => {}
        }
    }
    for (id, vb) in b {
        if !a.contains_key(id) {
            out.push(format!("{id}: only on the second ({})", vb.0));
        }
    }
    out.truncate(limit);
    out
}

/// What is wrong with the blobs the current revisions of `db` reference (empty when every one
/// is stored with the bytes its digest and length name), at most `limit` lines.
pub fn blob_problems<S: Store>(db: &Database<S>, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (id, (rev, deleted, body)) in snapshot(db) {
        if deleted {
            continue;
        }
        let refs = match blob_refs(&body) {
            Ok(refs) => refs,
            Err(e) => {
                out.push(format!("{id}@{rev}: {e}"));
                continue;
            }
        };
        for blob in refs {
            let name = digest_to_string(&blob.digest);
            match db.get_blob(&blob.digest).expect("read a blob") {
                None => out.push(format!("{id}@{rev}: blob {name} is missing")),
                Some(bytes) if digest_of(&bytes) != blob.digest => {
                    out.push(format!("{id}@{rev}: blob {name} is corrupt"));
                }
                Some(bytes) if bytes.len() as u64 != blob.length => {
                    out.push(format!("{id}@{rev}: blob {name} has the wrong length"));
                }
                Some(_) => {}
            }
        }
    }
    out.truncate(limit);
    out
}
