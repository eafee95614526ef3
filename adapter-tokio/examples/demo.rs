//! Ferry's network demo: two SQLite databases in a temporary directory, a TLS listener with
//! password authentication serving one, a replicator on the other pushing and pulling over
//! `wss://127.0.0.1` — with a live progress line, the rate, and a check that both databases end
//! up with the same documents at the same revisions.
//!
//! `cargo run --release -p ferry-tokio --example demo [documents per side]` (default 10,000).
#![allow(clippy::print_stdout)] // a demo prints

use std::io::Write;
use std::time::{Duration, Instant};

use ferry_engine::db::Database as Db;
use ferry_store_sqlite::SqliteStore;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::workload;
use ferry_tokio::{
    ActivityLevel, Authenticator, Database, Listener, ListenerConfig, Replicator,
    ReplicatorAuthenticator, ReplicatorConfig, ReplicatorType,
};
use futures_util::StreamExt;

/// Writes documents `range` of the benchmark workload in one store-thread call.
async fn fill(db: &Database, range: std::ops::Range<u64>) -> Result<(), ferry_tokio::Error> {
    db.with::<SqliteStore, _>(move |db: &mut Db<SqliteStore>| {
        for i in range {
            db.put(&workload::doc_id(i), &workload::body(i, 0), None)?;
        }
        Ok::<_, ferry_engine::db::DbError>(())
    })
    .await??;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    println!(
        "Ferry network demo: two SQLite databases in {}",
        dir.path().display()
    );
    let a = Database::open_store("a", SqliteStore::open(dir.path().join("a.sqlite"))?)?;
    let b = Database::open_store("b", SqliteStore::open(dir.path().join("b.sqlite"))?)?;
    fill(&a, 0..n).await?;
    fill(&b, n..2 * n).await?;
    println!(
        "  a holds {} documents, b holds {}",
        a.document_count().await?,
        b.document_count().await?
    );

    let auth = Authenticator::password(|user, password| user == "demo" && password == "s3cret");
    let listener = Listener::start(
        ListenerConfig::new(b.clone())
            .network_interface("127.0.0.1")
            .identity_dir(dir.path().join("identities"))
            .authenticator(auth),
    )
    .await?;
    let url = listener.urls()[0].clone();
    let fingerprint = listener
        .tls_identity()
        .map(|id| id.sha256_fingerprint().to_colon_hex())
        .unwrap_or_default();
    println!(
        "  listener on {url} (TLS, anonymous identity {}…)",
        &fingerprint[..23]
    );

    let replicator = Replicator::new(
        ReplicatorConfig::new(a.clone(), url)
            .replicator_type(ReplicatorType::PushAndPull)
            .accept_only_self_signed_server_certificate(true)
            .authenticator(ReplicatorAuthenticator::basic("demo", "s3cret")),
    )?;
    let started = Instant::now();
    replicator.start(false)?;
    let mut changes = replicator.status_changes();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut shown = None;
    let status = loop {
        let tick = tokio::select! {
            changed = changes.next() => { changed.ok_or("the replicator went away")?; false }
            _ = ticker.tick() => true,
        };
        let status = replicator.status();
        // Redraw ten times a second, and whenever the activity changes.
        if !tick && shown == Some(status.activity) && status.activity != ActivityLevel::Stopped {
            continue;
        }
        shown = Some(status.activity);
        print!(
            "\r  push and pull: {:>6}/{:<6} changes, {:?}      ",
            status.progress.completed, status.progress.total, status.activity
        );
        std::io::stdout().flush()?;
        if status.activity == ActivityLevel::Stopped && status.attempts > 0 {
            break status;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!();
    if let Some(error) = status.error {
        return Err(format!("replication failed: {error}").into());
    }
    let moved = 2 * n;
    println!(
        "  {moved} documents in {secs:.2} s over wss: {:.0} documents/second",
        moved as f64 / secs
    );
    println!("  (changes count both directions; documents pulled are re-examined by the push)");
    listener.stop().await;

    let sa = a.with::<SqliteStore, _>(|db| snapshot(db)).await?;
    let sb = b.with::<SqliteStore, _>(|db| snapshot(db)).await?;
    let diff = differences(&sa, &sb, 5);
    if !diff.is_empty() {
        return Err(format!("the databases differ: {diff:?}").into());
    }
    println!(
        "Verified: both databases hold the same {} documents at the same revisions.",
        sa.len()
    );
    Ok(())
}
