//! Load on tokio: 100 continuous replicators in one process into one SQLite listener in
//! another, with application writes on every side, for `FERRY_LOAD_SECONDS` (default 20; the
//! issue's full run is 120: `FERRY_LOAD_SECONDS=120 cargo test --release -p ferry-tokio --test
//! load -- --nocapture`).

use ferry_testkit::load::{LoadConfig, hub_child, many_replicators_converge};
use ferry_tokio::TokioRuntime;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// The hub's process (see `ferry_testkit::load`).
#[test]
#[ignore = "child process of `a_hundred_continuous_replicators_with_writes_on_every_side_converge`"]
fn load_hub_listener() {
    block_on(hub_child::<TokioRuntime>());
}

#[test]
fn a_hundred_continuous_replicators_with_writes_on_every_side_converge() {
    let config = LoadConfig::from_env();
    let report = block_on(many_replicators_converge::<TokioRuntime>(
        config,
        "load_hub_listener",
    ));
    #[allow(clippy::print_stdout)] // the figures the issue asks to report
    {
        println!(
            "{} replicators, {:?} of writes: {} documents on every database, converged {:.1} s \
             after the writes; the listener's process RSS {} MiB when idle at the start, {} MiB \
             at the end; the replicators' process {} MiB, then {} MiB",
            config.replicators,
            config.duration,
            report.documents,
            report.settle.as_secs_f64(),
            report.listener_rss_start_kib / 1024,
            report.listener_rss_end_kib / 1024,
            report.replicators_rss_kib.0 / 1024,
            report.replicators_rss_kib.1 / 1024,
        );
    }
}
