//! # ferry-testkit: the adapters' integration tests, written once
//!
//! Every body here is an `async fn name<R: Runtime>()` that runs the named scenario over real
//! 127.0.0.1 sockets on runtime `R` and asserts its outcome; each adapter runs the whole
//! matrix on its runtime with one line, [`integration_tests!`], giving it its runtime type and
//! a `block_on`. [`cross`] holds the scenarios with a listener on one runtime and a replicator
//! on another. Waiting is bounded ([`common::DEADLINE`]) and on events, never on sleeps.
//!
//! Test-only (`publish = false`): the adapters take it as a dev-dependency.

#![allow(missing_docs, clippy::missing_panics_doc)]

pub mod child;
pub mod common;
pub mod continuous;
pub mod cross;
pub mod failures;
pub mod hostile;
pub mod listener;
pub mod load;
pub mod retry;
pub mod sync;
pub mod tls_auth;

use std::future::Future;
use std::time::Duration;

use ferry_net::driver::Runtime;

/// Runs `future` for at most `limit` on runtime `R`'s timers: `None` if the limit passed.
pub async fn within<R: Runtime, T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    ferry_net::driver::timeout(&*R::current(), limit, future).await
}

/// Defines one `#[test]` per shared body, each running `$crate::<module>::<name>::<$rt>()`
/// to completion with `$block_on` (a `fn(impl Future<Output = ()>)`): an adapter's whole
/// integration matrix in one line, `ferry_testkit::integration_tests!(MyRuntime, my_block_on);`.
#[macro_export]
macro_rules! integration_tests {
    ($rt:ty, $block_on:path) => {
        $crate::integration_tests!(@each $rt, $block_on;
            sync: push_moves_local_documents_to_the_listener,
                pull_fetches_the_listeners_documents,
                push_and_pull_memory_to_sqlite_converges,
                push_and_pull_sqlite_to_memory_converges,
                document_events_and_pending_documents_follow_the_push,
                document_ids_limit_what_moves,
                restarts_resume_from_the_checkpoint_unless_reset,
                a_push_filter_limits_what_the_listener_receives,
                status_changes_publish_progress_at_most_every_interval,
                blobs_move_between_sqlite_databases;
            continuous: two_continuous_replicators_and_app_writes_converge,
                heartbeat_pongs_keep_an_idle_connection_alive;
            failures: wrong_password_stops_at_once_without_retrying,
                pinned_certificate_mismatch_is_permanent,
                accept_only_self_signed_refuses_a_ca_signed_listener,
                read_only_listener_serves_pulls_and_refuses_pushes,
                refused_upgrades_are_clear_http_answers,
                a_text_message_is_a_protocol_error_closed_with_1002,
                a_listener_wanting_client_certificates_refuses_a_replicator_without_one,
                database_calls_name_the_wrong_store_type;
            hostile: hostile_upgrades_are_refused,
                hostile_framing_is_closed_with_a_code,
                hostile_replication_requests_are_refused,
                a_flood_of_unread_requests_is_bounded_and_closed,
                hostile_tls_is_refused;
            listener: port_zero_picks_a_free_port_and_urls_name_it,
                binds_to_an_address_or_the_loopback_interface_by_name,
                counts_connections_of_two_running_replicators,
                connections_beyond_the_limit_are_told_to_retry,
                idle_connections_are_closed_and_replicators_reconnect;
            retry: listener_stop_mid_sync_is_retried_until_it_finishes,
                a_silent_peer_is_declared_dead_by_the_heartbeat_and_retried;
            tls_auth: every_tls_mode_with_password,
                every_authenticator_once,
                anonymous_identity_is_reused_after_a_restart;
        );
    };
    (@each $rt:ty, $block_on:path; $($module:ident: $($name:ident),+;)+) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $name() {
                        $block_on($crate::$module::$name::<$rt>());
                    }
                )+
            }
        )+
    };
}
