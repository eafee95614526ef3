//! The N-peer simulator over many seeds (DESIGN §5). A failure prints its seed; replay it with
//! `FERRY_SIM_SEED=<seed> cargo test -p ferry-tests --test simulator peers_converge_after -- --nocapture`
//! (or `FERRY_SIM_CONFLICT_SEED=<seed>` for the run with concurrent edits).

#![allow(clippy::print_stdout)] // the report of a run is this test's output

use ferry_tests::sim;

/// Seeds run in CI; `FERRY_SIM_SEEDS` raises it (a release run can do 100,000).
fn seed_count() -> u64 {
    std::env::var("FERRY_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

#[test]
fn peers_converge_after_random_writes_and_disconnects() {
    if let Some(seed) = std::env::var("FERRY_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let report = sim::run(seed).unwrap_or_else(|e| panic!("{e}"));
        println!("seed {seed}: {report:?}");
        return;
    }
    let mut totals = sim::SimReport::default();
    for seed in 0..seed_count() {
        let report = sim::run(seed).unwrap_or_else(|e| panic!("{e}"));
        totals.writes += report.writes;
        totals.disconnects += report.disconnects;
        totals.frames += report.frames;
        totals.documents += report.documents;
        totals.filtered_documents += report.filtered_documents;
    }
    assert!(
        totals.filtered_documents > 0,
        "filters were exercised: {totals:?}"
    );
    assert!(
        totals.writes > 0 && totals.disconnects > 0 && totals.frames > 0,
        "{totals:?}"
    );
    println!("{} seeds: {totals:?}", seed_count());
}

#[test]
fn the_same_seed_replays_the_same_run() {
    for seed in [3, 17, 4242] {
        assert_eq!(
            sim::run(seed),
            sim::run(seed),
            "seed {seed} is deterministic"
        );
    }
}

/// Concurrent edits of the same documents on several peers, deletions, crash-restarts and
/// partitions: peers converge, resolve conflicts identically, and create nothing afterwards.
fn conflict_seed_count() -> u64 {
    std::env::var("FERRY_SIM_CONFLICT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

#[test]
fn peers_converge_with_concurrent_edits_and_conflicts() {
    let seeds = match std::env::var("FERRY_SIM_CONFLICT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => seed..seed + 1,
        None => 0..conflict_seed_count(),
    };
    let mut totals = sim::SimReport::default();
    for seed in seeds {
        let mut config = sim::SimConfig::from_seed(seed);
        config.concurrent_edits = true;
        config.operations /= 2;
        let report = sim::run_with(seed, &config).unwrap_or_else(|e| panic!("{e}"));
        totals.writes += report.writes;
        totals.disconnects += report.disconnects;
        totals.conflicts_resolved += report.conflicts_resolved;
        totals.frames += report.frames;
        totals.documents += report.documents;
    }
    assert!(
        totals.conflicts_resolved > 0,
        "conflicts happened and were resolved: {totals:?}"
    );
    println!("{} seeds with conflicts: {totals:?}", conflict_seed_count());
}

#[test]
fn concurrent_edits_do_produce_conflicts() {
    // The conflict run above must exercise resolution, not pass vacuously.
    let mut resolved = 0;
    for seed in 0..20 {
        let mut config = sim::SimConfig::from_seed(seed);
        config.concurrent_edits = true;
        config.operations /= 2;
        resolved += sim::run_with(seed, &config)
            .unwrap_or_else(|e| panic!("{e}"))
            .conflicts_resolved;
    }
    assert!(resolved > 20, "{resolved} conflicts resolved in 20 seeds");
}
