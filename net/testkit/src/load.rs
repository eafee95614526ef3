//! Load: many continuous replicators into one listener, with application writes on every side
//! for a while; every database converges and no replicator reports an error. The listener (the
//! hub, on SQLite) runs in a process of its own, so its resident memory, reported at the start
//! and the end of the write phase, is the listener's alone; the replicators (on memory
//! databases) share the test's process.
//!
//! The hub process is the test binary re-invoked on an ignored test that runs [`hub_child`]
//! (see [`crate::child`]).

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};

use crate::child::{ChildProcess, env_vars, rss_kib, serve_commands};
use crate::common::{TestDb, memory, sqlite, within, within_until};
use ferry_engine::db::{Database as Db, DatabaseConfig};
use ferry_engine::value::Value;
use ferry_net::api::{ActivityLevel, ListenerConfig, ReplicatorConfig};
use ferry_net::driver::{Listener, Replicator, Runtime};
use ferry_store_sqlite::SqliteStore;
use ferry_tests::check::{differences, snapshot};

const ENV_DIR: &str = "FERRY_LOAD_HUB_DIR";
const ENV_CONNECTIONS: &str = "FERRY_LOAD_HUB_CONNECTIONS";
/// The hub's database: `sqlite(dir, HUB, HUB_SEED)`.
const HUB: &str = "hub";
const HUB_SEED: u64 = 1;
/// How much the listener's resident memory may grow during a run (64 MiB).
const LISTENER_GROWTH_KIB: u64 = 64 * 1024;

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
    /// Resident memory of the listener's process (KiB) when every replicator was idle at the
    /// start.
    pub listener_rss_start_kib: u64,
    /// Resident memory of the listener's process (KiB) after convergence.
    pub listener_rss_end_kib: u64,
    /// Resident memory of the replicators' process (KiB) at the start and the end.
    pub replicators_rss_kib: (u64, u64),
    /// Time from the end of the writes to convergence.
    pub settle: Duration,
}

/// The hub process (run by an ignored test of the adapter's load test binary): serves a SQLite
/// database on `ws://127.0.0.1:<port>/hub` and answers the parent's commands, one per line:
/// `put <id> <writer> <round>` → `OK`; `count` → `COUNT <documents>`; `wait-count <n>
/// <seconds>` → `COUNT <documents>` once there are `n` (or the seconds passed); `rss` → `RSS
/// <KiB>`. It stops the listener and closes the database when its stdin closes.
pub async fn hub_child<R: Runtime>() {
    let env = env_vars(&[ENV_DIR, ENV_CONNECTIONS]);
    let hub = sqlite(Path::new(&env[ENV_DIR]), HUB, HUB_SEED);
    let mut config = ListenerConfig::new(hub.handle.clone())
        .disable_tls(true)
        .network_interface("127.0.0.1");
    config.limits.max_connections = env[ENV_CONNECTIONS].parse().unwrap();
    let listener = Listener::<R>::start(config).await.unwrap();
    let ready = listener.urls()[0].to_string();
    serve_commands::<R>(&ready, |command| {
        let hub = hub.clone();
        async move {
            let words: Vec<&str> = command.split_whitespace().collect();
            match words[..] {
                ["put", id, writer, round] => {
                    let body = body(writer.parse().unwrap(), round.parse().unwrap());
                    hub.handle.put(id, body, None).await.unwrap();
                    "OK".to_owned()
                }
                ["count"] => format!("COUNT {}", hub.count().await),
                ["wait-count", n, seconds] => {
                    let deadline = Instant::now() + Duration::from_secs(seconds.parse().unwrap());
                    let count = until_count::<R>(&hub, n.parse().unwrap(), deadline).await;
                    format!("COUNT {count}")
                }
                ["rss"] => format!("RSS {}", rss_kib()),
                _ => format!("ERR unknown command {command:?}"),
            }
        }
        .boxed()
    })
    .await;
    listener.stop().await;
}

/// Waits until `db` holds `n` documents, woken by its change notifications, or until
/// `deadline`; returns the count it saw last.
async fn until_count<R: Runtime>(db: &TestDb, n: u64, deadline: Instant) -> u64 {
    let mut changes = db.handle.changes().unwrap();
    loop {
        let count = db.count().await;
        if count == n
            || within_until::<R, _>(deadline, changes.next())
                .await
                .is_none()
        {
            return count;
        }
    }
}

/// Runs the load scenario of `config` (see the module docs) with the hub in a process running
/// the ignored test `hub_test` (which calls [`hub_child`]), and returns what it measured.
pub async fn many_replicators_converge<R: Runtime>(
    config: LoadConfig,
    hub_test: &str,
) -> LoadReport {
    let dir = tempfile::tempdir().unwrap();
    let connections = (config.replicators + 10).to_string();
    let mut hub = ChildProcess::spawn::<R>(
        hub_test,
        &[
            (ENV_DIR, dir.path().as_os_str().to_owned()),
            (ENV_CONNECTIONS, OsString::from(connections)),
        ],
    )
    .await;
    let url = hub.ready()[0].clone();
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
    let listener_rss_start_kib = hub.ask_number::<R>("rss", "RSS").await;
    let replicators_rss_start = rss_kib();

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
                let answer = hub
                    .ask::<R>(&format!("put hub-{round}-{i} 1000000 {round}"))
                    .await;
                assert_eq!(answer, "OK", "the hub's write");
                written += 1;
            }
            rt.sleep(tick).await;
        }
        round += 1;
    }
    let writes_done = Instant::now();
    let deadline = writes_done + config.settle;
    let hub_count = within::<R, _>(
        config.settle + Duration::from_secs(10),
        hub.ask_number::<R>(
            &format!("wait-count {written} {}", config.settle.as_secs()),
            "COUNT",
        ),
    )
    .await
    .expect("the hub answers within the settle time");
    assert_eq!(hub_count, written, "the hub's documents");
    for (i, db) in peers.iter().enumerate() {
        let count = until_count::<R>(db, written, deadline).await;
        assert_eq!(count, written, "peer {i}'s documents");
    }
    let settle = writes_done.elapsed();
    let listener_rss_end_kib = hub.ask_number::<R>("rss", "RSS").await;
    let replicators_rss_end = rss_kib();
    // The listener's memory is bounded by its windows and caches, not by the documents or the
    // messages it has seen: a leak per message would show here (the 2-minute run relays some
    // 400,000 revisions).
    assert!(
        listener_rss_end_kib <= listener_rss_start_kib + LISTENER_GROWTH_KIB,
        "the listener's RSS grew from {listener_rss_start_kib} KiB to {listener_rss_end_kib} KiB"
    );

    for (i, r) in replicators.iter().enumerate() {
        let status = r.status();
        assert!(status.error.is_none(), "replicator {i}: {status:?}");
        assert_eq!(status.attempts, 1, "replicator {i} never reconnected");
        r.stop().await.unwrap();
    }
    hub.wait_success();

    let path = dir.path().join(format!("{HUB}-{HUB_SEED}.sqlite"));
    let store = SqliteStore::open(&path).unwrap();
    store.check_integrity().unwrap();
    let reference = snapshot(&Db::open(store, DatabaseConfig::default()).unwrap());
    for (i, db) in peers.iter().enumerate() {
        let diff = differences(&reference, &db.snapshot().await, 5);
        assert!(diff.is_empty(), "peer {i} differs from the hub: {diff:#?}");
    }
    LoadReport {
        documents: written,
        listener_rss_start_kib,
        listener_rss_end_kib,
        replicators_rss_kib: (replicators_rss_start, replicators_rss_end),
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
