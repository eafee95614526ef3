//! Replication: Couchbase Lite's replication protocol over BLIP, as two sans-IO session roles.
//!
//! - [`PassiveSession`]: what a listener runs per incoming connection. It serves checkpoints,
//!   the changes feed and revisions to pullers, and accepts pushes (never storing a conflict).
//! - [`ActiveSession`]: the replicator's side: push, pull or both, one-shot or continuous, with
//!   checkpoints.
//!
//! Both take the [`Database`](crate::db::Database) as an argument of every `handle_*` call: the
//! host owns the database (typically on a store thread shared by all sessions) and the sessions
//! hold only protocol state. Both follow the crate's polling contract: after each `handle_*`
//! call, drain `poll_frame` (frames to send, one binary WebSocket message each) and `poll_event`,
//! and call `handle_timeout` when the `poll_timeout` deadline passes.
//!
//! The wire is described in `docs/PROTOCOL.md`.

mod active;
mod blobs;
pub mod catalogue;
mod checkpoint;
mod conflict;
mod deltas;
mod error;
mod feed;
mod filter;
mod lifecycle;
mod passive;
mod profile;

pub use active::{
    ActiveConfig, ActiveEvent, ActiveSession, ActivityLevel, Direction, Progress, RemoteIdentity,
    ReplicationStatus,
};
pub use checkpoint::checkpoint_id;
pub use conflict::{Conflict, ConflictResolver, ConflictSide, Resolution, default_resolution};
pub use error::SessionError;
pub use filter::{FilterInput, ReplicationFilter};
pub use lifecycle::{
    ConnectionError, ConnectionLifecycle, LifecycleCommand, LifecycleConfig, LifecycleEvent,
    is_transient_close_code, is_transient_http, retry_delay,
};
pub use passive::{PassiveConfig, PassiveDiagnostics, PassiveEvent, PassiveSession};
pub use profile::Profile;

/// How full a session's windows are right now: what the configured bounds limit. Tests assert
/// these never exceed the configuration, whatever the number of documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Announcements (`changes` / `proposeChanges`) awaiting the peer's answer.
    pub announcements_in_flight: usize,
    /// Revisions sent and awaiting the peer's acknowledgement.
    pub revs_in_flight: usize,
    /// Body bytes of those revisions.
    pub rev_bytes_in_flight: usize,
    /// Received revisions waiting to be stored.
    pub pending_inserts: usize,
    /// Changes announced by the peer and not yet finished here.
    pub pull_unfinished: usize,
    /// Bytes queued in the BLIP outbox.
    pub outbox_bytes: usize,
}

/// The HTTP response header in which a Ferry listener names its database UUID (32 hex digits)
/// during the WebSocket upgrade, so replicators derive checkpoint IDs from stable identities
/// rather than URLs.
pub const DATABASE_UUID_HEADER: &str = "Ferry-Database-UUID";

/// The MVCC revision text of a peer checkpoint generation, as LiteCore writes it (`"3-cc"`).
pub(crate) fn checkpoint_rev(generation: u64) -> String {
    format!("{generation}-cc")
}

/// The generation in a checkpoint MVCC revision text (`"3-cc"` → 3).
pub(crate) fn parse_checkpoint_rev(text: &str) -> Option<u64> {
    let (generation, suffix) = text.split_once('-')?;
    if suffix.is_empty() {
        return None;
    }
    generation.parse().ok().filter(|g| *g > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_revs_round_trip() {
        assert_eq!(checkpoint_rev(3), "3-cc");
        assert_eq!(parse_checkpoint_rev("3-cc"), Some(3));
        assert_eq!(parse_checkpoint_rev("0-cc"), None);
        assert_eq!(parse_checkpoint_rev("x-cc"), None);
        assert_eq!(parse_checkpoint_rev("3-"), None);
        assert_eq!(parse_checkpoint_rev(""), None);
    }
}
