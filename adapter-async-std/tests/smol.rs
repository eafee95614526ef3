//! The smol path: `SmolRuntime` (smol's executor, timers and sockets, futures-rustls) runs
//! shared bodies inside `smol::block_on`, with no async-std and no tokio involved; and a smol
//! listener serves async-std replicators.

use ferry_async_std::AsyncStdRuntime;
use ferry_async_std::smol::SmolRuntime;
use ferry_testkit::{cross, sync, tls_auth};

#[test]
fn smol_push_and_pull_memory_to_sqlite_converges() {
    smol::block_on(sync::push_and_pull_memory_to_sqlite_converges::<SmolRuntime>());
}

#[test]
fn smol_every_tls_mode_with_password() {
    smol::block_on(tls_auth::every_tls_mode_with_password::<SmolRuntime>());
}

#[test]
fn smol_listener_async_std_replicators() {
    smol::block_on(cross::tls_password_push_and_pull::<
        SmolRuntime,
        AsyncStdRuntime,
    >());
}
