//! A tokio listener with async-std replicators, and the reverse: TLS with a password, push,
//! pull, and push-and-pull of edits; both databases identical afterwards
//! (`ferry_testkit::cross`). The test thread runs async-std's `block_on` inside a tokio
//! runtime's context, so each side's `Runtime::current()` is its own runtime.

use ferry_async_std::AsyncStdRuntime;
use ferry_testkit::cross::tls_password_push_and_pull;
use ferry_tokio::TokioRuntime;

fn with_tokio_and_async_std(test: impl std::future::Future<Output = ()>) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _context = tokio.enter();
    async_std::task::block_on(test);
}

#[test]
fn tokio_listener_async_std_replicators() {
    with_tokio_and_async_std(tls_password_push_and_pull::<TokioRuntime, AsyncStdRuntime>());
}

#[test]
fn async_std_listener_tokio_replicators() {
    with_tokio_and_async_std(tls_password_push_and_pull::<AsyncStdRuntime, TokioRuntime>());
}
