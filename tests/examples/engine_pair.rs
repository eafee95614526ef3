//! Benchmark: the engine alone over an in-memory pair (no sockets, no disk): N benchmark
//! documents pushed from one memory database to another, then pulled into a third, through the
//! real BLIP codec and both replication roles. Prints docs/s and peak RSS.
//!
//! `cargo run --release -p ferry-tests --example engine_pair -- [N] [profile: ferry|cbmobile]`
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the clock

use std::time::Instant;

use ferry_engine::repl::{ActiveConfig, Direction, PassiveConfig, Profile, RemoteIdentity};
use ferry_tests::pair::Pair;
use ferry_tests::{memory_db, workload};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let profile = match args.next().as_deref() {
        Some("cbmobile") => Profile::CbMobile3,
        _ => Profile::Ferry1,
    };
    let mut source = memory_db(1);
    for i in 0..n {
        source
            .put(&workload::doc_id(i), &workload::body(i, 0), None)
            .expect("put");
    }
    let rss_loaded = peak_rss_mib();

    // Push: source (active) -> sink (passive).
    let mut pair = Pair::new(source, memory_db(2), profile);
    let cfg = ActiveConfig::new(
        Direction::Push,
        RemoteIdentity::Uuid(pair.passive_db.uuid()),
    );
    let start = Instant::now();
    pair.connect(cfg, PassiveConfig::default());
    pair.run(usize::MAX);
    let push = start.elapsed();
    assert_eq!(pair.passive_db.document_count().unwrap(), n);
    let rss_push = peak_rss_mib();

    // Pull: a third database pulls everything from the sink.
    let mut pull_pair = Pair::new(memory_db(3), pair.passive_db, profile);
    let cfg = ActiveConfig::new(
        Direction::Pull,
        RemoteIdentity::Uuid(pull_pair.passive_db.uuid()),
    );
    let start = Instant::now();
    pull_pair.connect(cfg, PassiveConfig::default());
    pull_pair.run(usize::MAX);
    let pull = start.elapsed();
    assert_eq!(pull_pair.active_db.document_count().unwrap(), n);

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "engine alone, in-memory pair, {n} docs (~1 KB), profile {}",
        profile.subprotocol()
    );
    println!(
        "  push: {:>8.3} s  {:>10.0} docs/s",
        push.as_secs_f64(),
        rate(push)
    );
    println!(
        "  pull: {:>8.3} s  {:>10.0} docs/s",
        pull.as_secs_f64(),
        rate(pull)
    );
    println!(
        "  peak RSS: {rss_loaded:.0} MiB after loading, {rss_push:.0} MiB after push, {:.0} MiB at end (three memory databases of {n} docs)",
        peak_rss_mib()
    );
    println!(
        "{{\"scenario\":\"engine_pair\",\"docs\":{n},\"profile\":\"{}\",\"push_docs_per_s\":{:.0},\"pull_docs_per_s\":{:.0},\"peak_rss_mib\":{:.0}}}",
        profile.subprotocol(),
        rate(push),
        rate(pull),
        peak_rss_mib()
    );
}
