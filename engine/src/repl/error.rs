//! Errors that end a replication session.

use crate::blip::{BlipError, ProtocolError, SendError};
use crate::db::DbError;

use super::catalogue::CatalogueError;

/// Why a replication session ended. Sticky: once a session failed, every `handle_*` call
/// returns the same error. [`SessionError::close_code`] names the WebSocket close code to use
/// and [`SessionError::is_transient`] whether a replicator should retry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The BLIP layer failed (bad frame, CRC mismatch, limits): a protocol violation.
    #[error("BLIP protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A message could not be queued.
    #[error("cannot send: {0}")]
    Send(#[from] SendError),
    /// The peer sent a reply of the wrong shape.
    #[error("malformed message from the peer: {0}")]
    Malformed(#[from] CatalogueError),
    /// The peer refused a request the session cannot do without.
    #[error("the peer refused {request}: {error}")]
    Refused {
        /// What was refused.
        request: &'static str,
        /// The peer's error.
        error: BlipError,
    },
    /// The local database failed.
    #[error("local database error: {0}")]
    Database(#[from] DbError),
    /// The peer did not answer a request in time.
    #[error("the peer did not answer {request} within {seconds} s")]
    Timeout {
        /// What was not answered.
        request: &'static str,
        /// The timeout.
        seconds: u64,
    },
    /// The connection closed before the session finished.
    #[error("the connection closed: {0}")]
    Closed(String),
}

impl SessionError {
    /// The WebSocket close code to close the connection with.
    pub fn close_code(&self) -> u16 {
        match self {
            SessionError::Protocol(e) => e.close_code(),
            SessionError::Malformed(_) => 1002,
            SessionError::Send(SendError::MessageTooLarge { .. }) => 1009,
            SessionError::Refused { .. } => 1008,
            SessionError::Timeout { .. } => 1001,
            SessionError::Database(_) | SessionError::Send(_) => 1011,
            SessionError::Closed(_) => 1006,
        }
    }

    /// Whether retrying later (on a new connection) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SessionError::Timeout { .. } | SessionError::Closed(_) => true,
            SessionError::Database(DbError::Store(s)) => s.is_transient(),
            SessionError::Refused { error, .. } => {
                error.domain == "HTTP" && matches!(error.code, 408 | 429 | 500 | 502 | 503 | 504)
            }
            SessionError::Send(SendError::OutboxFull { .. }) => true,
            _ => false,
        }
    }
}
