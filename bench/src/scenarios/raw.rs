//! The raw ceiling: the benchmark's documents written straight into SQLite with rusqlite,
//! with no replication. Its helper processes (`__raw`, `__raw-update`) and the rows the run
//! prints for them.

use std::time::Instant;

use ferry_tests::workload;
use serde_json::json;

use super::{Bench, round};
use crate::Failure;
use crate::peer::run_helper;

/// Documents `indices` at `generation` as raw rows: ID, a revision ID of the same shape as a
/// real one (generation + 1, 40 hex digits), and the body as compact JSON.
fn rows(indices: impl Iterator<Item = u64>, generation: u64) -> Vec<(String, String, Vec<u8>)> {
    indices
        .map(|i| {
            let body = workload::body(i, generation).to_json();
            let rev = format!("{}-{i:040x}", generation + 1);
            (workload::doc_id(i), rev, body)
        })
        .collect()
}

/// `__raw PATH DOCS`: the raw ceiling. The documents are encoded as compact JSON first; then,
/// timed, they are inserted with rusqlite into one table (ID, revision ID, body) in one
/// transaction, with the SQLite store's own settings (WAL, `synchronous = NORMAL`). Prints
/// `RAW <seconds>`.
pub(crate) fn raw_main(args: &[String]) -> Result<(), Failure> {
    let [path, docs] = args else {
        return Err("usage: __raw PATH DOCS".into());
    };
    let docs: u64 = docs.parse()?;
    let rows = rows(0..docs, 0);
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE docs (doc_id TEXT PRIMARY KEY, rev_id TEXT NOT NULL, body BLOB NOT NULL)",
    )?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO docs VALUES (?1, ?2, ?3)")?;
        for (id, rev, body) in &rows {
            insert.execute(rusqlite::params![id, rev, body])?;
        }
    }
    tx.commit()?;
    let seconds = started.elapsed().as_secs_f64();
    println!("RAW {seconds}");
    Ok(())
}

/// `__raw-update PATH DOCS`: the raw ceiling of the 1% re-sync, on a file written by `__raw`
/// and in a fresh process (a cold page cache, like the re-sync's replicator). Timed: in one
/// transaction, every 100th document of `0..DOCS` is read by ID and rewritten with its
/// generation-1 body and a new revision ID. Prints `RAW-UPDATE <seconds> <documents>`.
pub(crate) fn raw_update_main(args: &[String]) -> Result<(), Failure> {
    let [path, docs] = args else {
        return Err("usage: __raw-update PATH DOCS".into());
    };
    let docs: u64 = docs.parse()?;
    let rows = rows((0..docs).step_by(100), 1);
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut read = tx.prepare("SELECT rev_id, body FROM docs WHERE doc_id = ?1")?;
        let mut update = tx.prepare("UPDATE docs SET rev_id = ?2, body = ?3 WHERE doc_id = ?1")?;
        for (id, rev, body) in &rows {
            let (old_rev, old_body): (String, Vec<u8>) =
                read.query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if old_body.is_empty() || !old_rev.starts_with("1-") {
                return Err(format!("{id} is not the raw run's document").into());
            }
            if update.execute(rusqlite::params![id, rev, body])? != 1 {
                return Err(format!("{id} was not updated").into());
            }
        }
    }
    tx.commit()?;
    let seconds = started.elapsed().as_secs_f64();
    println!("RAW-UPDATE {seconds} {}", rows.len());
    Ok(())
}

impl Bench {
    /// The raw ceiling: best of three runs, each in a fresh process and file; and the raw
    /// ceiling of the 1% re-sync, each on the file of an insert run, in another fresh process.
    pub(super) fn raw_ceiling(&mut self) -> Result<(), Failure> {
        let n = self.opts.docs;
        let (mut runs, mut update_runs, mut updated) = (Vec::new(), Vec::new(), 0);
        for run in 0..3 {
            let path = self.path(&format!("raw-{run}"));
            let file = path.display().to_string();
            let out = run_helper(&["__raw".into(), file.clone(), n.to_string()])?;
            let seconds: f64 = out
                .trim()
                .strip_prefix("RAW ")
                .ok_or_else(|| format!("unexpected output of the raw run: {out:?}"))?
                .parse()?;
            runs.push(seconds);
            let out = run_helper(&["__raw-update".into(), file, n.to_string()])?;
            let fields: Vec<&str> = out.split_whitespace().collect();
            let ["RAW-UPDATE", seconds, docs] = fields[..] else {
                return Err(format!("unexpected output of the raw update: {out:?}").into());
            };
            update_runs.push(seconds.parse::<f64>()?);
            updated = docs.parse::<u64>()?;
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
        self.raw_rate = n as f64 / best;
        self.report.row(
            "0 raw SQLite ceiling",
            "",
            &format!(
                "{n} docs in {best:.3} s: {:.0} docs/s (rusqlite, one transaction, best of 3)",
                self.raw_rate
            ),
            json!({"docs": n, "seconds": round(best, 4), "docs_per_s": self.raw_rate.round(),
                   "runs_seconds": runs}),
        )?;
        let best_update = update_runs.iter().copied().fold(f64::INFINITY, f64::min);
        let share = best_update / best;
        self.report.row(
            "0 raw SQLite 1% update",
            "",
            &format!(
                "{updated} of those docs read and rewritten in {best_update:.3} s = {:.2}% of \
                 the raw insert (fresh process, one transaction, best of 3)",
                share * 100.0
            ),
            json!({"docs": n, "updated": updated, "seconds": round(best_update, 4),
                   "share_of_insert": round(share, 5), "runs_seconds": update_runs}),
        )
    }
}
