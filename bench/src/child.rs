//! The benchmark's helper processes, started by re-invoking this binary with a hidden first
//! argument: the listener (the second process of every network scenario), the populator, the
//! updater and the timed replicator (the raw ceiling's are in `scenarios::raw`). Keeping bulk work out of the replicator's process keeps its peak RSS
//! a figure of replication alone.
//!
//! The listener speaks a line protocol: it prints `READY <port> <fingerprint>` once serving,
//! then answers one line per command read from stdin (see [`listener_main`]), and prints
//! `SEEN <doc id>` for every document change while watching.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use ferry_engine::db::{Database as Db, DatabaseConfig};
use ferry_engine::repl::{Direction, Profile};
use ferry_store_sqlite::SqliteStore;
use ferry_tests::workload;
use ferry_tokio::{Authenticator, Database, Fingerprint, Listener, ListenerConfig};
use futures_util::StreamExt;

use crate::{measure, scenarios};

/// The user and password of every benchmark listener.
pub(crate) const USER: &str = "bench";
/// See [`USER`].
pub(crate) const PASSWORD: &str = "bench-password";

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Opens (creating) a SQLite database as a plain engine database.
pub(crate) fn open_db(path: &Path) -> Result<Db<SqliteStore>, Failure> {
    Ok(Db::open(
        SqliteStore::open(path)?,
        DatabaseConfig::default(),
    )?)
}

/// Writes workload documents `from..to` at `generation`, every `step`-th index only.
pub(crate) fn write_documents(
    db: &mut Db<SqliteStore>,
    from: u64,
    to: u64,
    step: u64,
    generation: u64,
) -> Result<u64, Failure> {
    let mut written = 0;
    for i in (from..to).step_by(step as usize) {
        let id = workload::doc_id(i);
        let base = db.get(&id)?.map(|d| d.rev);
        db.put(&id, &workload::body(i, generation), base.as_ref())?;
        written += 1;
    }
    Ok(written)
}

/// `__populate PATH:FROM:TO…`: writes workload documents `FROM..TO` (generation 0) into each
/// database `PATH`.
pub(crate) fn populate_main(args: &[String]) -> Result<(), Failure> {
    for spec in args {
        let mut parts = spec.rsplitn(3, ':');
        let (to, from, path) = (parts.next(), parts.next(), parts.next());
        let (Some(to), Some(from), Some(path)) = (to, from, path) else {
            return Err(format!("expected PATH:FROM:TO, got {spec:?}").into());
        };
        let mut db = open_db(Path::new(path))?;
        write_documents(&mut db, from.parse()?, to.parse()?, 1, 0)?;
    }
    Ok(())
}

/// `__update PATH N`: the 1% update of the workload: documents `0..N` whose index is a multiple
/// of 100 get generation 1. Prints `UPDATED <documents>`.
pub(crate) fn update_main(args: &[String]) -> Result<(), Failure> {
    let [path, n] = args else {
        return Err("usage: __update PATH N".into());
    };
    let mut db = open_db(Path::new(path))?;
    let written = write_documents(&mut db, 0, n.parse()?, 100, 1)?;
    println!("UPDATED {written}");
    Ok(())
}

/// `__replicate PATH PORT FINGERPRINT push|pull PROFILE`: the replicator process of a timed
/// one-shot replication of the SQLite database `PATH` with the benchmark listener on `PORT`.
/// Prints `DONE <seconds> <peak RSS KiB>`, timed from the replicator's start to its stop.
pub(crate) fn replicate_main(args: &[String]) -> Result<(), Failure> {
    let [path, port, fingerprint, direction, profile] = args else {
        return Err("usage: __replicate PATH PORT FINGERPRINT push|pull PROFILE".into());
    };
    let direction = match direction.as_str() {
        "push" => Direction::Push,
        "pull" => Direction::Pull,
        other => return Err(format!("unknown direction {other:?}").into()),
    };
    let profile =
        Profile::from_subprotocol(profile).ok_or_else(|| format!("unknown profile {profile:?}"))?;
    let port: u16 = port.parse()?;
    let fingerprint: Fingerprint = fingerprint
        .parse()
        .map_err(|e| format!("bad fingerprint: {e:?}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let seconds = runtime.block_on(async {
        let db = Database::open_store("local", SqliteStore::open(path)?)?;
        let config = scenarios::config(&db, port, fingerprint, direction, profile);
        let started = Instant::now();
        scenarios::replicate_once(config).await?;
        Ok::<_, Failure>(started.elapsed().as_secs_f64())
    })?;
    println!("DONE {seconds} {}", measure::peak_rss_kib().unwrap_or(0));
    Ok(())
}

/// `__listener PATH [--delta]`: serves the SQLite database `PATH` on `wss://127.0.0.1:0/db`
/// (anonymous TLS identity, password authentication) until stdin says `quit` or closes.
///
/// Commands, one per line, each answered with one line:
/// - `rss-reset` → `OK` (the peak RSS restarts from the current RSS) or `ERR …`;
/// - `rss` → `RSS <peak KiB>`;
/// - `count` → `COUNT <documents>`;
/// - `watch` → `OK`, then `SEEN <doc id>` for every change stored from now on;
/// - `update <N>` → `OK <written>`: documents `0..N` whose index is a multiple of 100 get
///   generation 1 (the 1% update of the workload);
/// - `quit` → `BYE` once the listener has stopped and the database is closed.
pub(crate) fn listener_main(args: &[String]) -> Result<(), Failure> {
    let Some(path) = args.first() else {
        return Err("usage: __listener PATH [--delta]".into());
    };
    let delta = args.iter().any(|a| a == "--delta");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(Path::new(path), delta))
}

async fn serve(path: &Path, delta: bool) -> Result<(), Failure> {
    let db = Database::open_store("db", SqliteStore::open(path)?)?;
    let mut changes = db.changes()?;
    let identities = path.parent().unwrap_or(Path::new(".")).join("identities");
    let mut config = ListenerConfig::new(db.clone())
        .network_interface("127.0.0.1")
        .identity_dir(identities)
        .authenticator(Authenticator::password(|u, p| u == USER && p == PASSWORD))
        .enable_delta_sync(delta);
    // Scenario 7 connects 100 replicators at once (the default allows 64).
    config.limits.max_connections = 1_024;
    let listener = Listener::start(config).await?;
    let fingerprint = listener
        .tls_identity()
        .map(|id| id.sha256_fingerprint().to_string())
        .ok_or("the listener has no TLS identity")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {} {fingerprint}", listener.port())?;
    drop(out);

    let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut watching = false;
    loop {
        tokio::select! {
            batch = changes.next() => {
                let Some(batch) = batch else { break };
                if watching {
                    let mut out = std::io::stdout().lock();
                    for change in batch {
                        writeln!(out, "SEEN {}", change.doc_id)?;
                    }
                }
            }
            command = commands.recv() => {
                let command = command.unwrap_or_else(|| "quit".to_owned());
                let mut words = command.split_whitespace();
                let answer = match words.next() {
                    Some("rss-reset") => match measure::reset_peak_rss() {
                        Ok(()) => "OK".to_owned(),
                        Err(e) => format!("ERR {e}"),
                    },
                    Some("rss") => format!("RSS {}", measure::peak_rss_kib().unwrap_or(0)),
                    Some("count") => format!("COUNT {}", db.document_count().await?),
                    Some("watch") => {
                        watching = true;
                        "OK".to_owned()
                    }
                    Some("update") => {
                        let n: u64 = words.next().ok_or("update needs N")?.parse()?;
                        let written = db
                            .with::<SqliteStore, _>(move |db| write_documents(db, 0, n, 100, 1))
                            .await??;
                        format!("OK {written}")
                    }
                    Some("quit") => {
                        listener.stop().await;
                        drop(listener);
                        // Closing: the store thread ends when the last handle goes.
                        drop(changes);
                        drop(db);
                        println!("BYE");
                        return Ok(());
                    }
                    other => format!("ERR unknown command {other:?}"),
                };
                println!("{answer}");
            }
        }
    }
    Ok(())
}
