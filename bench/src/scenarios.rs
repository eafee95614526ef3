//! The scenarios, in the order they run, and the goals they are judged by.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_engine::repl::{ActiveConfig, Direction, PassiveConfig, Profile, RemoteIdentity};
use ferry_engine::rev::RevId;
use ferry_engine::value::Value;
use ferry_store_sqlite::SqliteStore;
use ferry_tests::check::{compare_databases, missing_or_different};
use ferry_tests::pair::Pair;
use ferry_tests::{memory_db, workload};
use ferry_tokio::{
    ActivityLevel, Database, DocumentEvent, DocumentEvents, Fingerprint, Replicator,
    ReplicatorAuthenticator, ReplicatorConfig, StatusChanges,
};
use futures_util::StreamExt;
use serde_json::json;

use crate::child::{PASSWORD, USER, open_db};
use crate::measure::{self, mib, percentile};
use crate::peer::{Peer, run_helper};
use crate::proxy::Proxy;
use crate::report::{Goal, Report};
use crate::{Failure, Options};

pub(crate) mod raw;

const PROFILES: [Profile; 2] = [Profile::Ferry1, Profile::CbMobile3];
/// The longest any one replication may take before the run fails.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The longest a continuous replicator may take to settle or deliver one document.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The peak-RSS goal: 64 MB.
const RSS_GOAL_BYTES: f64 = 64e6;

fn tag(profile: Profile) -> &'static str {
    match profile {
        Profile::Ferry1 => "Ferry_1",
        Profile::CbMobile3 => "CBMobile_3",
    }
}

/// Runs every scenario with `opts`.
pub(crate) fn run(opts: Options) -> Result<(), Failure> {
    let temporary;
    let dir = match &opts.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().to_owned()
        }
    };
    println!(
        "Ferry benchmark: {} documents of the shared workload (~945 B as JSON), SQLite → SQLite \
         over wss://127.0.0.1 between two processes; {}\n",
        opts.docs,
        if cfg!(debug_assertions) {
            "NOT a release build: the figures mean nothing"
        } else {
            "release build"
        }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bench = Bench {
        report: Report::new(opts.json.clone()),
        opts,
        dir,
        raw_rate: 0.0,
        single_push_rate: 0.0,
    };
    if !bench.opts.engine_only {
        bench.raw_ceiling()?;
        runtime.block_on(bench.network_scenarios())?;
    }
    drop(runtime);
    bench.engine_alone()?;
    bench.report.finish();
    Ok(())
}

/// Peak RSS of both processes during one replication, in KiB.
#[derive(Debug, Clone, Copy)]
struct Rss {
    replicator: u64,
    listener: u64,
}

impl Rss {
    fn text(self) -> String {
        format!(
            "peak RSS replicator {:.0} MiB, listener {:.0} MiB",
            mib(self.replicator),
            mib(self.listener)
        )
    }

    fn json(self) -> serde_json::Value {
        json!({
            "replicator": round(mib(self.replicator), 1),
            "listener": round(mib(self.listener), 1),
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

struct Bench {
    opts: Options,
    dir: PathBuf,
    report: Report,
    /// Documents per second of the raw ceiling.
    raw_rate: f64,
    /// Documents per second of one replicator's initial push (Ferry_1).
    single_push_rate: f64,
}

/// A replicator's settings for the benchmark listener on `port`.
pub(crate) fn config(
    local: &Database,
    port: u16,
    fingerprint: Fingerprint,
    direction: Direction,
    profile: Profile,
) -> ReplicatorConfig {
    ReplicatorConfig::new(local.clone(), format!("wss://127.0.0.1:{port}/db"))
        .replicator_type(direction)
        .authenticator(ReplicatorAuthenticator::basic(USER, PASSWORD))
        .pinned_server_fingerprint(fingerprint)
        .profiles(vec![profile])
}

/// Runs a one-shot replicator to completion; fails on an error or a retry.
pub(crate) async fn replicate_once(config: ReplicatorConfig) -> Result<(), Failure> {
    let replicator = Replicator::new(config)?;
    let mut changes = replicator.status_changes();
    replicator.start(false)?;
    let status = tokio::time::timeout(
        REPLICATION_TIMEOUT,
        changes.wait_for(|s| s.activity == ActivityLevel::Stopped && s.attempts > 0),
    )
    .await
    .map_err(|_| "the replication did not finish in time")?
    .ok_or("the replicator went away")?;
    if let Some(error) = status.error {
        return Err(format!("replication failed: {error}").into());
    }
    if status.attempts > 1 {
        return Err(format!("replication needed {} attempts", status.attempts).into());
    }
    Ok(())
}

/// Waits until a continuous replicator is idle (caught up), failing on an error.
async fn settle(changes: &mut StatusChanges) -> Result<(), Failure> {
    let status = tokio::time::timeout(
        SETTLE_TIMEOUT,
        changes.wait_for(|s| {
            s.activity == ActivityLevel::Idle
                || (s.activity == ActivityLevel::Stopped && s.attempts > 0)
        }),
    )
    .await
    .map_err(|_| "the continuous replicator did not settle")?
    .ok_or("the replicator went away")?;
    match status.error {
        Some(error) => Err(format!("replication failed: {error}").into()),
        None if status.activity == ActivityLevel::Stopped => {
            Err("the continuous replicator stopped".into())
        }
        None => Ok(()),
    }
}

/// Waits until the listener process reports that it stored `id`; returns when it read that.
async fn seen(peer: &mut Peer, id: &str) -> Result<Instant, Failure> {
    loop {
        let (at, doc) = tokio::time::timeout(SETTLE_TIMEOUT, peer.seen.recv())
            .await
            .map_err(|_| format!("{id} did not reach the listener"))?
            .ok_or("the listener process ended")?;
        if doc == id {
            return Ok(at);
        }
    }
}

/// Waits until a replicator reports `id` at `rev` pushed (acknowledged by the listener).
async fn pushed(events: &mut DocumentEvents, id: &str, rev: &RevId) -> Result<(), Failure> {
    loop {
        let event = tokio::time::timeout(SETTLE_TIMEOUT, events.next())
            .await
            .map_err(|_| format!("{id} was not pushed"))?
            .ok_or("the replicator went away")?;
        match event {
            DocumentEvent::DocumentReplicated { doc_id, rev: r, .. }
                if doc_id == id && r == *rev =>
            {
                return Ok(());
            }
            DocumentEvent::DocumentFailed { doc_id, error, .. } if doc_id == id => {
                return Err(format!("{id} failed: {error}").into());
            }
            _ => {}
        }
    }
}

/// Fails unless the SQLite databases `a` and `b` hold exactly the same documents.
fn verify_equal(a: &Path, b: &Path, what: &str) -> Result<(), Failure> {
    let diff = compare_databases(&open_db(a)?, &open_db(b)?, 5);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: the databases differ: {diff:?}").into())
    }
}

/// Opens (creating) a SQLite database on its own store thread.
fn open(path: &Path) -> Result<Database, Failure> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("db")
        .to_owned();
    Ok(Database::open_store(name, SqliteStore::open(path)?)?)
}

/// The 100 KB document of the delta scenario: a workload document plus 125 more text fields.
fn big_body() -> Value {
    let mut body = workload::body(0, 0);
    let map = body.as_object_mut().expect("workload bodies are objects");
    for k in 0..125 {
        map.insert(format!("part-{k:03}"), Value::from(workload::text(k, 1)));
    }
    body
}

impl Bench {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sqlite"))
    }

    async fn network_scenarios(&mut self) -> Result<(), Failure> {
        let n = self.opts.docs;
        let mut specs = vec!["__populate".to_owned()];
        for profile in PROFILES {
            let path = self.path(&format!("source-{}", tag(profile)));
            specs.push(format!("{}:0:{n}", path.display()));
        }
        run_helper(&specs)?;
        for profile in PROFILES {
            self.push_pull_resync_latency(profile).await?;
        }
        for profile in PROFILES {
            for delta in [true, false] {
                self.delta_bytes(profile, delta).await?;
            }
        }
        if self.opts.rss_docs > 0 {
            self.large().await?;
        }
        self.many_replicators().await
    }

    /// Times a one-shot replication of the SQLite database `local` with `peer`, run by a
    /// replicator process of its own (so its peak RSS is the replication's alone), and
    /// measures both processes' peaks.
    async fn timed(
        &self,
        local: &Path,
        peer: &mut Peer,
        direction: Direction,
        profile: Profile,
    ) -> Result<(Duration, Rss), Failure> {
        peer.reset_peak_rss().await?;
        let args = vec![
            "__replicate".to_owned(),
            local.display().to_string(),
            peer.port.to_string(),
            peer.fingerprint.to_string(),
            if direction == Direction::Push {
                "push"
            } else {
                "pull"
            }
            .to_owned(),
            profile.subprotocol().to_owned(),
        ];
        let out = tokio::task::spawn_blocking(move || run_helper(&args)).await??;
        let mut words = out
            .trim()
            .strip_prefix("DONE ")
            .unwrap_or_default()
            .split(' ');
        let (Some(seconds), Some(peak)) = (words.next(), words.next()) else {
            return Err(format!("unexpected output of the replicator process: {out:?}").into());
        };
        let rss = Rss {
            replicator: peak.parse()?,
            listener: peer.peak_rss_kib().await?,
        };
        Ok((Duration::from_secs_f64(seconds.parse()?), rss))
    }

    /// Scenarios 1–4 and 6 at N for one profile: initial push, initial pull, re-sync after 1%
    /// both ways, continuous latency.
    async fn push_pull_resync_latency(&mut self, profile: Profile) -> Result<(), Failure> {
        let (n, t) = (self.opts.docs, tag(profile));
        // The replicator side runs in processes of its own (see `timed`); this process opens
        // the source only for the continuous scenario, once they are done with it.
        let source = self.path(&format!("source-{t}"));
        let pulled = self.path(&format!("pulled-{t}"));
        let served = self.path(&format!("served-{t}"));
        let mut peer = Peer::start(&served, false).await?;

        // 1. Initial push.
        let (push, rss) = self
            .timed(&source, &mut peer, Direction::Push, profile)
            .await?;
        let stored = peer.count().await?;
        if stored != n {
            return Err(format!("push: the listener holds {stored} documents, not {n}").into());
        }
        let push_rate = n as f64 / push.as_secs_f64();
        if profile == Profile::Ferry1 {
            self.single_push_rate = push_rate;
        }
        self.rate_row("1 initial push", profile, n, push, push_rate, rss)?;

        // 2. Initial pull into an empty database.
        let (pull, rss) = self
            .timed(&pulled, &mut peer, Direction::Pull, profile)
            .await?;
        let have = open_db(&pulled)?.document_count()?;
        if have != n {
            return Err(format!("pull: the puller holds {have} documents, not {n}").into());
        }
        let pull_rate = n as f64 / pull.as_secs_f64();
        self.rate_row("2 initial pull", profile, n, pull, pull_rate, rss)?;
        self.report.goal(Goal {
            what: format!("push and pull ≥ 0.5 × raw ceiling ({t})"),
            target: "≥ 0.50",
            measured: format!(
                "push {:.3}, pull {:.3}",
                push_rate / self.raw_rate,
                pull_rate / self.raw_rate
            ),
            met: push_rate.min(pull_rate) >= 0.5 * self.raw_rate,
        });

        // 3. Re-sync after 1% changed: pushed from the source, then pulled by the puller.
        let out = run_helper(&[
            "__update".into(),
            source.display().to_string(),
            n.to_string(),
        ])?;
        let changed: u64 = out.trim().trim_start_matches("UPDATED ").parse()?;
        let (push_again, _) = self
            .timed(&source, &mut peer, Direction::Push, profile)
            .await?;
        let (pull_again, _) = self
            .timed(&pulled, &mut peer, Direction::Pull, profile)
            .await?;
        let push_share = push_again.as_secs_f64() / push.as_secs_f64();
        let pull_share = pull_again.as_secs_f64() / pull.as_secs_f64();
        self.report.row(
            "3 re-sync, 1% changed",
            t,
            &format!(
                "{changed} changed docs: push {:.3} s = {:.2}% of the initial push, pull {:.3} s \
                 = {:.2}% of the initial pull",
                push_again.as_secs_f64(),
                push_share * 100.0,
                pull_again.as_secs_f64(),
                pull_share * 100.0
            ),
            json!({"docs": n, "changed": changed,
                   "push_seconds": round(push_again.as_secs_f64(), 4),
                   "push_share_of_initial": round(push_share, 5),
                   "pull_seconds": round(pull_again.as_secs_f64(), 4),
                   "pull_share_of_initial": round(pull_share, 5)}),
        )?;
        self.report.goal(Goal {
            what: format!("re-sync after 1% ≤ 2% of the full sync ({t})"),
            target: "≤ 2.00%",
            measured: format!(
                "push {:.2}%, pull {:.2}%",
                push_share * 100.0,
                pull_share * 100.0
            ),
            met: push_share.max(pull_share) <= 0.02,
        });

        // 4. Continuous push: put → stored by the listener process.
        let handle = open(&source)?;
        self.latency(&handle, &mut peer, profile).await?;
        drop(handle);

        // The puller catches up with the latency documents (not timed), then everything must
        // match: source = served = puller.
        self.timed(&pulled, &mut peer, Direction::Pull, profile)
            .await?;
        peer.quit().await?;
        verify_equal(&source, &served, "source and listener")?;
        verify_equal(&pulled, &served, "puller and listener")?;
        Ok(())
    }

    fn rate_row(
        &mut self,
        scenario: &str,
        profile: Profile,
        n: u64,
        elapsed: Duration,
        rate: f64,
        rss: Rss,
    ) -> Result<(), Failure> {
        let ratio = rate / self.raw_rate;
        self.report.row(
            scenario,
            tag(profile),
            &format!(
                "{n} docs in {:.2} s: {rate:.0} docs/s = {ratio:.3} × raw; {}",
                elapsed.as_secs_f64(),
                rss.text()
            ),
            json!({"docs": n, "seconds": round(elapsed.as_secs_f64(), 4),
                   "docs_per_s": rate.round(), "ratio_to_raw": round(ratio, 4),
                   "peak_rss_mib": rss.json()}),
        )
    }

    /// Scenario 4: a continuous push replicator; each put is timed until the listener process
    /// reports the document stored.
    async fn latency(
        &mut self,
        source: &Database,
        peer: &mut Peer,
        profile: Profile,
    ) -> Result<(), Failure> {
        let puts = self.opts.latency_puts;
        let replicator = Replicator::new(
            config(
                source,
                peer.port,
                peer.fingerprint,
                Direction::Push,
                profile,
            )
            .continuous(true),
        )?;
        let mut changes = replicator.status_changes();
        replicator.start(false)?;
        settle(&mut changes).await?;
        peer.ask("watch").await?;
        let mut latencies = Vec::with_capacity(puts as usize);
        for k in 0..puts {
            let id = format!("latency-{k:06}");
            let started = Instant::now();
            source.put(&id, workload::body(k, 0), None).await?;
            let at = seen(peer, &id).await?;
            latencies.push(at.saturating_duration_since(started));
        }
        settle(&mut changes).await?;
        replicator.stop().await?;
        latencies.sort();
        let (p50, p99, max) = (
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            percentile(&latencies, 100.0),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        self.report.row(
            "4 continuous latency",
            tag(profile),
            &format!(
                "{puts} puts, put → stored by the listener: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                ms(p50),
                ms(p99),
                ms(max)
            ),
            json!({"puts": puts, "p50_ms": round(ms(p50), 3), "p99_ms": round(ms(p99), 3),
                   "max_ms": round(ms(max), 3)}),
        )?;
        self.report.goal(Goal {
            what: format!(
                "continuous latency p50 ≤ 2 ms, p99 ≤ 10 ms ({})",
                tag(profile)
            ),
            target: "2 / 10 ms",
            measured: format!("{:.2} / {:.2} ms", ms(p50), ms(p99)),
            met: p50 <= Duration::from_millis(2) && p99 <= Duration::from_millis(10),
        });
        Ok(())
    }

    /// Scenario 5: the bytes both ways through a counting relay for a one-field edit of a
    /// 100 KB document, pushed by a continuous replicator.
    async fn delta_bytes(&mut self, profile: Profile, delta: bool) -> Result<(), Failure> {
        let name = format!(
            "delta-{}-{}",
            tag(profile),
            if delta { "on" } else { "off" }
        );
        let local_path = self.path(&format!("{name}-local"));
        let local = open(&local_path)?;
        let served = self.path(&format!("{name}-served"));
        let mut peer = Peer::start(&served, delta).await?;
        let relay = Proxy::start(peer.port).await?;
        peer.ask("watch").await?;
        let replicator = Replicator::new(
            config(
                &local,
                relay.port,
                peer.fingerprint,
                Direction::Push,
                profile,
            )
            .continuous(true),
        )?;
        let mut changes = replicator.status_changes();
        let mut events = replicator.document_events();
        replicator.start(false)?;
        settle(&mut changes).await?;

        let mut body = big_body();
        let size = body.to_json().len() as u64;
        let before_first = relay.counters.total();
        let rev = local.put("big", body.clone(), None).await?;
        // Acknowledged, so the replicator has recorded the revision as the listener's (the
        // base a delta needs): waiting only until the listener stored it is not enough.
        pushed(&mut events, "big", &rev).await?;
        let before_edit = relay.counters.total();
        if let Some(map) = body.as_object_mut() {
            map.insert("title".into(), Value::from("Document number 0 (edited)"));
        }
        let rev = local.put("big", body, Some(rev)).await?;
        pushed(&mut events, "big", &rev).await?;
        let edit = relay.counters.total() - before_edit;
        let first = before_edit - before_first;
        replicator.stop().await?;
        drop(relay);
        peer.quit().await?;
        verify_equal(&local_path, &served, "delta: local and listener")?;

        let share = edit as f64 / size as f64;
        self.report.row(
            &format!("5 edit bytes, delta {}", if delta { "on" } else { "off" }),
            tag(profile),
            &format!(
                "one-field edit of a {size} B document: {edit} B on the wire both ways \
                 ({:.2}% of the body; the first upload took {first} B)",
                share * 100.0
            ),
            json!({"delta": delta, "body_bytes": size, "edit_wire_bytes": edit,
                   "share_of_body": round(share, 5), "first_upload_wire_bytes": first}),
        )?;
        if delta {
            self.report.goal(Goal {
                what: format!("delta ≤ 1% of the body ({})", tag(profile)),
                target: "≤ 1.00%",
                measured: format!("{:.2}% ({edit} B)", share * 100.0),
                met: share <= 0.01,
            });
        }
        Ok(())
    }

    /// Scenario 6 at `rss_docs`: push into an empty listener, pull into an empty database,
    /// each process's peak RSS (Ferry_1).
    async fn large(&mut self) -> Result<(), Failure> {
        let m = self.opts.rss_docs;
        let profile = Profile::Ferry1;
        let source_path = self.path("large-source");
        run_helper(&[
            "__populate".into(),
            format!("{}:0:{m}", source_path.display()),
        ])?;
        let source = source_path;
        let pulled = self.path("large-pulled");
        let served = self.path("large-served");
        let mut peer = Peer::start(&served, false).await?;
        let (push, push_rss) = self
            .timed(&source, &mut peer, Direction::Push, profile)
            .await?;
        let (pull, pull_rss) = self
            .timed(&pulled, &mut peer, Direction::Pull, profile)
            .await?;
        peer.quit().await?;
        verify_equal(&source, &served, "large: source and listener")?;
        verify_equal(&pulled, &served, "large: puller and listener")?;
        for (scenario, elapsed, rss) in [
            ("6 peak RSS, push", push, push_rss),
            ("6 peak RSS, pull", pull, pull_rss),
        ] {
            let rate = m as f64 / elapsed.as_secs_f64();
            self.rate_row(scenario, profile, m, elapsed, rate, rss)?;
        }
        let peak = [push_rss, pull_rss]
            .iter()
            .flat_map(|r| [r.replicator, r.listener])
            .max()
            .unwrap_or(0);
        self.report.goal(Goal {
            what: format!("peak RSS per process ≤ 64 MB at {m} docs"),
            target: "≤ 64 MB",
            measured: format!("{:.1} MB", peak as f64 * 1024.0 / 1e6),
            met: (peak as f64 * 1024.0) <= RSS_GOAL_BYTES,
        });
        Ok(())
    }

    /// Scenario 7: many one-shot push replicators at once into one listener.
    async fn many_replicators(&mut self) -> Result<(), Failure> {
        let (count, per) = (self.opts.replicators, self.opts.docs_per_replicator);
        let total = count * per;
        let paths: Vec<PathBuf> = (0..count)
            .map(|r| self.path(&format!("many-{r:03}")))
            .collect();
        let mut specs = vec!["__populate".to_owned()];
        for (r, path) in (0u64..).zip(&paths) {
            specs.push(format!("{}:{}:{}", path.display(), r * per, (r + 1) * per));
        }
        run_helper(&specs)?;
        let locals = paths
            .iter()
            .map(|p| open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let served = self.path("many-served");
        let mut peer = Peer::start(&served, false).await?;
        peer.reset_peak_rss().await?;
        measure::reset_peak_rss()?;
        let started = Instant::now();
        let runs = locals.iter().map(|local| {
            replicate_once(config(
                local,
                peer.port,
                peer.fingerprint,
                Direction::Push,
                Profile::Ferry1,
            ))
        });
        let results = futures_util::future::join_all(runs).await;
        let elapsed = started.elapsed();
        for result in results {
            result?;
        }
        let rss = Rss {
            replicator: measure::peak_rss_kib().unwrap_or(0),
            listener: peer.peak_rss_kib().await?,
        };
        let stored = peer.count().await?;
        if stored != total {
            return Err(format!("many: the listener holds {stored} documents, not {total}").into());
        }
        peer.quit().await?;
        for local in &locals {
            let served = served.clone();
            let missing = local
                .with::<SqliteStore, _>(move |db| {
                    open_db(&served).map(|s| missing_or_different(db, &s, 5))
                })
                .await??;
            if !missing.is_empty() {
                return Err(format!("many: documents missing on the listener: {missing:?}").into());
            }
        }
        let rate = total as f64 / elapsed.as_secs_f64();
        let ratio = rate / self.single_push_rate;
        self.report.row(
            "7 many replicators",
            "Ferry_1",
            &format!(
                "{count} × {per} docs in {:.2} s: {rate:.0} docs/s = {ratio:.2} × one replicator; {}",
                elapsed.as_secs_f64(),
                rss.text()
            ),
            json!({"replicators": count, "docs_each": per, "seconds": round(elapsed.as_secs_f64(), 4),
                   "docs_per_s": rate.round(), "ratio_to_single": round(ratio, 4),
                   "ratio_to_raw": round(rate / self.raw_rate, 4), "peak_rss_mib": rss.json()}),
        )?;
        self.report.goal(Goal {
            what: format!("{count} replicators ≥ 0.8 × one replicator"),
            target: "≥ 0.80",
            measured: format!("{ratio:.2}"),
            met: ratio >= 0.8,
        });
        Ok(())
    }

    /// Scenario 8: the engine alone — N documents pushed from one memory database to another,
    /// then pulled into a third, through the real BLIP codec and both replication roles, with
    /// no sockets, threads or disk.
    fn engine_alone(&mut self) -> Result<(), Failure> {
        let n = self.opts.docs;
        for profile in PROFILES {
            let mut source = memory_db(1);
            for i in 0..n {
                source.put(&workload::doc_id(i), &workload::body(i, 0), None)?;
            }
            let mut push_pair = Pair::new(source, memory_db(2), profile);
            let push = run_pair(&mut push_pair, Direction::Push)?;
            let mut pull_pair = Pair::new(memory_db(3), push_pair.passive_db, profile);
            let pull = run_pair(&mut pull_pair, Direction::Pull)?;
            for (what, a, b) in [
                ("push", &push_pair.active_db, &pull_pair.passive_db),
                ("pull", &pull_pair.active_db, &pull_pair.passive_db),
            ] {
                let diff = compare_databases(a, b, 5);
                if !diff.is_empty() {
                    return Err(format!("engine {what}: the databases differ: {diff:?}").into());
                }
            }
            let (push_rate, pull_rate) =
                (n as f64 / push.as_secs_f64(), n as f64 / pull.as_secs_f64());
            self.report.row(
                "8 engine alone",
                tag(profile),
                &format!(
                    "{n} docs, memory → memory in one thread: push {push_rate:.0} docs/s, \
                     pull {pull_rate:.0} docs/s"
                ),
                json!({"docs": n, "push_docs_per_s": push_rate.round(),
                       "pull_docs_per_s": pull_rate.round()}),
            )?;
            self.report.goal(Goal {
                what: format!("engine alone ≥ 500,000 docs/s ({})", tag(profile)),
                target: "≥ 500,000",
                measured: format!("push {push_rate:.0}, pull {pull_rate:.0}"),
                met: push_rate.min(pull_rate) >= 500_000.0,
            });
        }
        Ok(())
    }
}

/// Runs a one-shot replication in `direction` over an in-memory pair to quiescence; returns
/// how long it took.
fn run_pair(pair: &mut Pair, direction: Direction) -> Result<Duration, Failure> {
    let remote = RemoteIdentity::Uuid(pair.passive_db.uuid());
    let started = Instant::now();
    pair.connect(
        ActiveConfig::new(direction, remote),
        PassiveConfig::default(),
    );
    pair.run(usize::MAX);
    let elapsed = started.elapsed();
    match pair.active_error() {
        Some(error) => Err(format!("engine {direction:?} failed: {error:?}").into()),
        None => Ok(elapsed),
    }
}
