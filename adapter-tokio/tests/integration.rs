//! The adapters' shared integration matrix (`ferry-testkit`) on tokio: every body runs on a
//! fresh two-worker multi-thread runtime.

fn run(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

ferry_testkit::integration_tests!(ferry_tokio::TokioRuntime, crate::run);
