//! Load on tokio: 100 continuous replicators in one process into one SQLite listener, with
//! application writes on every side, for `FERRY_LOAD_SECONDS` (default 20; the full
//! run is 120: `FERRY_LOAD_SECONDS=120 cargo test --release -p ferry-tokio --test load --
//! --nocapture`).

use ferry_testkit::load::{LoadConfig, many_replicators_converge};

#[test]
fn a_hundred_continuous_replicators_with_writes_on_every_side_converge() {
    let config = LoadConfig::from_env();
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(many_replicators_converge::<ferry_tokio::TokioRuntime>(
            config,
        ));
    #[allow(clippy::print_stdout)] // the figures the issue asks to report
    {
        println!(
            "{} replicators, {:?} of writes: {} documents on every database, converged {:.1} s \
             after the writes; process RSS {} MiB when idle at the start, {} MiB at the end",
            config.replicators,
            config.duration,
            report.documents,
            report.settle.as_secs_f64(),
            report.rss_start_kib / 1024,
            report.rss_end_kib / 1024
        );
    }
}
