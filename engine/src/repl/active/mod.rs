//! The active session: the replicator's side of one connection.
//!
//! It reads (or resets) the checkpoint, then pushes local changes (`proposeChanges` then `rev`),
//! pulls the peer's (`subChanges`, answering `changes` and storing `rev`s) or both, saving the
//! checkpoint on a timer and at the end. A one-shot session finishes when both directions are
//! caught up and the checkpoint is saved; a continuous one stays idle, pushing local changes the
//! host signals with [`ActiveSession::handle_database_changed`] and storing the peer's live
//! changes.

mod pull;
mod push;
mod resolve;
mod session;

use std::time::Duration;

pub use session::ActiveSession;

use crate::rev::RevId;

/// Which way documents move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Local changes go to the peer.
    Push,
    /// The peer's changes come here.
    Pull,
    /// Both.
    PushAndPull,
}

impl Direction {
    /// Whether local changes are pushed.
    pub fn pushes(self) -> bool {
        matches!(self, Direction::Push | Direction::PushAndPull)
    }

    /// Whether the peer's changes are pulled.
    pub fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::PushAndPull)
    }

    /// The name used in checkpoint IDs.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
            Direction::PushAndPull => "pushAndPull",
        }
    }
}

/// The peer's identity, from which the checkpoint ID is derived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RemoteIdentity {
    /// The peer's database UUID (a Ferry listener sends it in the WebSocket handshake, header
    /// [`crate::repl::DATABASE_UUID_HEADER`]).
    Uuid([u8; 16]),
    /// Something stable the host knows the peer by, for peers that do not send a UUID (a
    /// Couchbase Lite listener): for example the database name and the server's certificate
    /// fingerprint, or the URL as a last resort.
    Name(String),
}

impl RemoteIdentity {
    fn bytes(&self) -> Vec<u8> {
        match self {
            RemoteIdentity::Uuid(uuid) => uuid.to_vec(),
            RemoteIdentity::Name(name) => name.as_bytes().to_vec(),
        }
    }
}

/// Settings of an [`ActiveSession`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ActiveConfig {
    /// BLIP limits and tuning.
    pub blip: crate::blip::Config,
    /// Push, pull or both.
    pub direction: Direction,
    /// Keep replicating live changes after catching up.
    pub continuous: bool,
    /// Ignore saved checkpoints and start from the beginning.
    pub reset_checkpoint: bool,
    /// Replicate only these documents (both directions).
    pub doc_ids: Option<Vec<String>>,
    /// Who the peer is (for the checkpoint ID).
    pub remote: RemoteIdentity,
    /// The number this database uses for the peer in its revision trees' remote ancestors.
    pub remote_id: u32,
    /// How often the checkpoint is saved while running (default 5 s).
    pub checkpoint_interval: Duration,
    /// How long to wait for any reply before declaring the peer unresponsive (default 60 s).
    pub request_timeout: Duration,
    /// Changes per `proposeChanges`, and per `changes` asked of the peer (default 500).
    pub changes_batch: usize,
    /// `proposeChanges` awaiting replies at once (default 4).
    pub max_changes_in_flight: usize,
    /// Pushed `rev`s awaiting replies at once (default 2,048). Above the peer's insert batch
    /// (500), so the peer's next batch arrives while it stores one: with 256, a 100,000-document
    /// push waited on each of the peer's commits and took 20% longer.
    pub max_revs_in_flight: usize,
    /// Body bytes of pushed `rev`s awaiting replies at once (default 4 MiB).
    pub max_rev_bytes_in_flight: usize,
    /// Pulled changes announced but not yet stored, at most; the session stops answering
    /// `changes` beyond it (default 5,000).
    pub max_pull_pending: usize,
    /// Received revisions inserted in one transaction, at most (default 500).
    pub insert_batch: usize,
    /// How long a received revision may wait for more to share its transaction (default 1 ms).
    /// It does not wait when every revision asked for has arrived.
    pub insert_delay: Duration,
    /// Longest `history` asked of the peer (default 20).
    pub max_history: usize,
    /// Decides which local changes are pushed (all by default).
    pub push_filter: Option<crate::repl::ReplicationFilter>,
    /// Decides which pulled changes are stored (all by default).
    pub pull_filter: Option<crate::repl::ReplicationFilter>,
    /// Decides pulled conflicts (default: Couchbase Lite's).
    pub conflict_resolver: crate::repl::ConflictResolver,
    /// Offer and send deltas (`deltas: "true"` in answers to the peer's `changes`; pushed
    /// `rev` bodies as deltas when the peer offers them too). Default `true`, as Couchbase
    /// Lite's replicator: deltas then flow whenever the listener enables them.
    pub enable_delta_sync: bool,
}

impl ActiveConfig {
    /// A configuration with defaults for the given direction and peer.
    pub fn new(direction: Direction, remote: RemoteIdentity) -> Self {
        ActiveConfig {
            blip: crate::blip::Config::default(),
            direction,
            continuous: false,
            reset_checkpoint: false,
            doc_ids: None,
            remote,
            remote_id: 1,
            checkpoint_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            changes_batch: 500,
            max_changes_in_flight: 4,
            max_revs_in_flight: 2048,
            max_rev_bytes_in_flight: 4 << 20,
            max_pull_pending: 5_000,
            insert_batch: 500,
            insert_delay: Duration::from_millis(1),
            max_history: 20,
            push_filter: None,
            pull_filter: None,
            conflict_resolver: crate::repl::ConflictResolver::default(),
            enable_delta_sync: true,
        }
    }
}

/// What the replicator is doing, as Couchbase Lite names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityLevel {
    /// Finished, stopped or failed.
    Stopped,
    /// Not connected, waiting to retry.
    Offline,
    /// Connecting, or reading the checkpoint.
    Connecting,
    /// Caught up; waiting for changes (continuous).
    Idle,
    /// Moving documents.
    Busy,
}

/// Documents completed out of documents known to need work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Finished changes.
    pub completed: u64,
    /// Known changes (grows as more are discovered).
    pub total: u64,
}

/// A snapshot of a session's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationStatus {
    /// The activity level.
    pub activity: ActivityLevel,
    /// Progress.
    pub progress: Progress,
    /// The error that stopped the session, if any.
    pub error: Option<crate::repl::SessionError>,
}

/// Something an active session did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ActiveEvent {
    /// A document was pushed or pulled (and stored).
    DocumentReplicated {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: RevId,
        /// Whether it was pushed (`Push`) or pulled (`Pull`).
        direction: Direction,
        /// Whether the revision is a deletion.
        deleted: bool,
        /// Whether the document is now in conflict here (pulled branch).
        conflicted: bool,
    },
    /// A document could not be replicated.
    DocumentFailed {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: RevId,
        /// Whether it was being pushed or pulled.
        direction: Direction,
        /// Why.
        error: String,
        /// Whether a later attempt may succeed.
        transient: bool,
    },
    /// A pulled conflict was resolved; the result is pushed like any local change.
    ConflictResolved {
        /// The document ID.
        doc_id: String,
        /// The resulting current revision.
        rev: RevId,
    },
    /// The checkpoint was saved at the peer and locally.
    CheckpointSaved,
    /// The status changed.
    StatusChanged(ReplicationStatus),
}
