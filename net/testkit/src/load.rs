//! Load: many continuous replicators in one process into one listener, with application writes
//! on every side for a while; every database converges, no replicator reports an error, and the
//! process's resident memory is reported at the start and the end of the write phase.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::common::{TestDb, memory, sqlite, within_until};
use ferry_engine::value::Value;
use ferry_net::api::{ActivityLevel, ListenerConfig, ReplicatorConfig};
use ferry_net::driver::{Listener, Replicator, Runtime};

/// The shape of a load run.
#[derive(Debug, Clone, Copy)]
pub struct LoadConfig {
    /// Continuous push-and-pull replicators, each on its own memory database.
    pub replicators: usize,
    /// How long application writes go on.
    pub duration: Duration,
    /// Each replicator's database writes one document per this interval (staggered).
    pub write_interval: Duration,
    /// How long the databases may take to converge once the writes stop.
    pub settle: Duration,
}

impl LoadConfig {
    /// 100 replicators for `FERRY_LOAD_SECONDS` (default 20) seconds.
    pub fn from_env() -> Self {
        let seconds = std::env::var("FERRY_LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20);
        LoadConfig {
            replicators: 100,
            duration: Duration::from_secs(seconds),
            write_interval: Duration::from_secs(2),
            settle: Duration::from_secs(180),
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Documents every database holds at the end.
    pub documents: u64,
    /// Resident memory of the process (KiB) when every replicator was idle at the start.
    pub rss_start_kib: u64,
    /// Resident memory of the process (KiB) after convergence.
    pub rss_end_kib: u64,
    /// Time from the end of the writes to convergence.
    pub settle: Duration,
}

/// The process's resident set size in KiB (Linux `/proc/self/status`; 0 elsewhere).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until `db` holds `n` documents, woken by its change notifications.
async fn until_count<R: Runtime>(db: &TestDb, n: u64, deadline: Instant, what: &str) {
    let mut changes = db.handle.changes().unwrap();
    loop {
        let count = db.count().await;
        if count == n {
            return;
        }
        let woke = within_until::<R, _>(deadline, changes.next()).await;
        assert!(woke.is_some(), "{what}: {count} documents, not {n}");
    }
}

/// Runs the load scenario of `config` (see the module docs) and returns what it measured.
pub async fn many_replicators_converge<R: Runtime>(config: LoadConfig) -> LoadReport {
    let dir = tempfile::tempdir().unwrap();
    let hub = sqlite(dir.path(), "hub", 1);
    let mut listener_config = ListenerConfig::new(hub.handle.clone())
        .disable_tls(true)
        .network_interface("127.0.0.1");
    listener_config.limits.max_connections = config.replicators + 10;
    let listener = Listener::<R>::start(listener_config).await.unwrap();
    let url = listener.urls()[0].clone();
    let peers: Vec<TestDb> = (0..config.replicators)
        .map(|i| memory(&format!("peer{i}"), 1_000 + i as u64))
        .collect();
    let replicators: Vec<Replicator<R>> = peers
        .iter()
        .map(|db| {
            let r = Replicator::<R>::new(
                ReplicatorConfig::new(db.handle.clone(), url.clone()).continuous(true),
            )
            .unwrap();
            r.start(false).unwrap();
            r
        })
        .collect();
    let start_deadline = Instant::now() + config.settle;
    for r in &replicators {
        let mut changes = r.status_changes();
        let idle = within_until::<R, _>(
            start_deadline,
            changes.wait_for(|s| s.activity == ActivityLevel::Idle),
        )
        .await;
        assert!(
            idle.is_some(),
            "every replicator connects: {:?}",
            r.status()
        );
    }
    let rss_start_kib = rss_kib();

    // The write phase: every peer writes one document per interval (staggered), the hub one
    // per interval / 10.
    let rt = R::current();
    let started = Instant::now();
    let tick = config.write_interval / config.replicators as u32;
    let mut written = 0u64;
    let mut round = 0u64;
    while started.elapsed() < config.duration {
        for (i, db) in peers.iter().enumerate() {
            db.handle
                .put(&format!("peer{i}-{round}"), body(i, round), None)
                .await
                .unwrap();
            written += 1;
            if i % 10 == 0 {
                hub.handle
                    .put(&format!("hub-{round}-{i}"), body(1_000_000, round), None)
                    .await
                    .unwrap();
                written += 1;
            }
            rt.sleep(tick).await;
        }
        round += 1;
    }
    let writes_done = Instant::now();
    let deadline = writes_done + config.settle;
    until_count::<R>(&hub, written, deadline, "the hub").await;
    for (i, db) in peers.iter().enumerate() {
        until_count::<R>(db, written, deadline, &format!("peer {i}")).await;
    }
    let settle = writes_done.elapsed();
    let rss_end_kib = rss_kib();

    let reference = hub.snapshot().await;
    for (i, db) in peers.iter().enumerate() {
        assert!(
            db.snapshot().await == reference,
            "peer {i} holds other revisions than the hub"
        );
    }
    for (i, r) in replicators.iter().enumerate() {
        let status = r.status();
        assert!(status.error.is_none(), "replicator {i}: {status:?}");
        assert_eq!(status.attempts, 1, "replicator {i} never reconnected");
        r.stop().await.unwrap();
    }
    listener.stop().await;
    LoadReport {
        documents: written,
        rss_start_kib,
        rss_end_kib,
        settle,
    }
}

fn body(writer: usize, round: u64) -> Value {
    Value::object([
        ("writer", Value::from(writer as u64)),
        ("round", Value::from(round)),
        ("text", Value::from("x".repeat(200))),
    ])
}
