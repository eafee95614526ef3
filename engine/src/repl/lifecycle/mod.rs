//! The replicator's connection life cycle: connect, retry with backoff, heartbeat, stop — as a
//! sans-IO state machine, [`ConnectionLifecycle`] (documented there, as this module is private).

mod error;
mod machine;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use error::{ConnectionError, is_transient_close_code, is_transient_http, retry_delay};
pub use machine::ConnectionLifecycle;

use super::ActivityLevel;

/// Settings of a [`ConnectionLifecycle`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LifecycleConfig {
    /// Failed connection attempts (the first connection included) after which the machine
    /// gives up; `None` retries forever. As in Couchbase Lite, `Some(1)` means "never retry";
    /// `Some(0)` is taken as `Some(1)`. Default: `Some(10)` one-shot, `None` continuous.
    pub max_attempts: Option<u32>,
    /// The longest wait between attempts, capping the doubling backoff (default 300 s).
    pub max_attempt_wait: Duration,
    /// How long a connection attempt (TCP, TLS, WebSocket upgrade) may take (default 15 s).
    pub connect_timeout: Duration,
    /// The interval between pings while connected; a peer silent for twice this long is
    /// declared dead. `None` (or zero) disables the heartbeat (default 300 s, as Couchbase
    /// Lite).
    pub heartbeat: Option<Duration>,
    /// How long a connection must stay open to count as good (resetting the attempt counter)
    /// even if the session never reported `Idle`; `None` counts only `Idle` and a finished
    /// session (default 30 s).
    pub stable_after: Option<Duration>,
}

impl LifecycleConfig {
    /// Couchbase Lite's defaults for a one-shot (`continuous == false`) or continuous
    /// replicator: they differ only in `max_attempts` (10 one-shot, unlimited continuous).
    pub fn new(continuous: bool) -> Self {
        LifecycleConfig {
            max_attempts: if continuous { None } else { Some(10) },
            max_attempt_wait: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(15),
            heartbeat: Some(Duration::from_secs(300)),
            stable_after: Some(Duration::from_secs(30)),
        }
    }
}

/// What the machine asks the host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleCommand {
    /// Open a connection to the peer (TCP, TLS, WebSocket upgrade), then report
    /// [`handle_connected`](ConnectionLifecycle::handle_connected) or
    /// [`handle_connect_failed`](ConnectionLifecycle::handle_connect_failed). Give up by
    /// `deadline`; the machine treats a silent deadline as [`ConnectionError::TimedOut`].
    Connect {
        /// When the attempt counts as timed out.
        deadline: std::time::Instant,
    },
    /// Abandon the connection attempt in progress (it timed out, or the replicator stopped).
    /// A connection that opens anyway will be refused with [`LifecycleCommand::Close`].
    CancelConnect,
    /// Send a WebSocket ping (the heartbeat).
    SendPing,
    /// Close the open connection with this WebSocket close code and reason (ignore if none is
    /// open).
    Close {
        /// The WebSocket close code (1000 normal, 1001 going away, or the session error's).
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Something that happened to the connection life cycle.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The activity level or the error changed; the values are the new
    /// [`status`](ConnectionLifecycle::status).
    StatusChanged {
        /// The new activity level.
        activity: ActivityLevel,
        /// The error that interrupted (offline, retrying) or stopped the connection, if any.
        error: Option<ConnectionError>,
    },
    /// A transient failure scheduled a retry.
    RetryScheduled {
        /// Failed attempts since the last good connection, this one included (1 for the first
        /// retry); equals [`attempts`](ConnectionLifecycle::attempts).
        attempt: u32,
        /// The wait: [`retry_delay`]`(attempt - 1, max_attempt_wait)`.
        delay: Duration,
        /// When the next [`LifecycleCommand::Connect`] is issued (`now + delay`).
        at: std::time::Instant,
    },
    /// The failures reached `max_attempts`: the machine stopped with the last error.
    GaveUp {
        /// Failed attempts since the last good connection.
        attempts: u32,
        /// The last error (transient, but retried too often).
        error: ConnectionError,
    },
}
