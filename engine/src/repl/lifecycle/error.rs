//! Why a connection attempt failed or a connection ended, classified as transient (retry) or
//! permanent (stop), and the backoff between retries.

use std::time::Duration;

use crate::repl::SessionError;

/// Why a connection attempt failed or an open connection ended: what the host reports with
/// [`handle_connect_failed`](super::ConnectionLifecycle::handle_connect_failed) and
/// [`handle_closed`](super::ConnectionLifecycle::handle_closed), and what the status carries.
///
/// [`ConnectionError::is_transient`] decides between retrying and stopping, as Couchbase Lite
/// does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer refused the TCP connection (nothing listening). Transient.
    #[error("connection refused")]
    Refused,
    /// The connection was reset by the peer or the network. Transient.
    #[error("connection reset")]
    Reset,
    /// Connecting (TCP, TLS or the WebSocket upgrade) did not finish before its deadline, or a
    /// socket operation timed out. Transient.
    #[error("timed out")]
    TimedOut,
    /// The host or its network is unreachable, or its name did not resolve (the network may be
    /// down). Transient.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The WebSocket upgrade was answered with this HTTP status. Transient for 408, 429, 502,
    /// 503 and 504; permanent otherwise (401, 403, 404, …).
    #[error("HTTP status {0} in the WebSocket upgrade")]
    Http(u16),
    /// TLS failed: the server's certificate did not verify (pinning, self-signed policy, trusted
    /// roots) or the handshake was refused. Permanent.
    #[error("TLS: {0}")]
    Tls(String),
    /// The WebSocket was closed with this close code and reason before the session finished.
    /// See [`ConnectionError::is_transient`] for which codes are retried.
    #[error("WebSocket closed with code {0}: {1}")]
    WebSocketClose(u16, String),
    /// The peer broke the protocol (a bad upgrade answer, non-binary messages, …). Permanent.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer speaks no replication profile (WebSocket subprotocol) this replicator offers.
    /// Permanent.
    #[error("incompatible profile: {0}")]
    IncompatibleProfile(String),
    /// The replication session failed; transient when [`SessionError::is_transient`] says so.
    #[error("replication session failed: {0}")]
    Session(#[from] SessionError),
    /// The peer sent nothing (no bytes, no pong) for two heartbeat intervals and was declared
    /// dead. Transient.
    #[error("the peer sent nothing for {} s", .silent_for.as_secs())]
    PeerUnresponsive {
        /// How long the peer was silent.
        silent_for: Duration,
    },
}

impl ConnectionError {
    /// Whether a new connection attempt later may succeed (retry), rather than the replicator
    /// stopping with this error.
    ///
    /// WebSocket close codes retried: 1000 (a normal close by the peer before the session
    /// finished; LiteCore treats it as 1001), 1001 going away (a listener stopping), 1005 no
    /// status, 1006 abnormal closure, 1011 server error, 1012 service restart, 1013 try again
    /// later, 1014 bad gateway and 4001 (Couchbase's "transient application error"). Every
    /// other code (1002 protocol error, 1003, 1007, 1008 policy violation, 1009 too big, 1010,
    /// 1015 TLS, 4000 and unknown codes) is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectionError::Refused
            | ConnectionError::Reset
            | ConnectionError::TimedOut
            | ConnectionError::Unreachable(_)
            | ConnectionError::PeerUnresponsive { .. } => true,
            ConnectionError::Http(status) => is_transient_http(*status),
            ConnectionError::WebSocketClose(code, _) => is_transient_close_code(*code),
            ConnectionError::Session(error) => error.is_transient(),
            ConnectionError::Tls(_)
            | ConnectionError::Protocol(_)
            | ConnectionError::IncompatibleProfile(_) => false,
        }
    }
}

/// Whether an HTTP status answering the WebSocket upgrade is worth retrying: 408 request
/// timeout, 429 too many requests, 502 bad gateway, 503 service unavailable, 504 gateway
/// timeout.
pub fn is_transient_http(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// Whether a WebSocket close code is worth retrying (see [`ConnectionError::is_transient`]).
pub fn is_transient_close_code(code: u16) -> bool {
    matches!(
        code,
        1000 | 1001 | 1005 | 1006 | 1011 | 1012 | 1013 | 1014 | 4001
    )
}

/// The wait before a retry: `min(2^n s, max_wait)`, where `n` is the number of retries already
/// made since the last good connection — `n = 0` for the first retry (1 s), then 2 s, 4 s, … up
/// to `max_wait`. Never overflows, whatever `n`.
pub fn retry_delay(n: u32, max_wait: Duration) -> Duration {
    match 1u64.checked_shl(n) {
        Some(seconds) => Duration::from_secs(seconds).min(max_wait),
        None => max_wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blip::BlipError;

    #[test]
    fn transport_failures_are_transient() {
        for e in [
            ConnectionError::Refused,
            ConnectionError::Reset,
            ConnectionError::TimedOut,
            ConnectionError::Unreachable("no route".into()),
            ConnectionError::PeerUnresponsive {
                silent_for: Duration::from_secs(60),
            },
        ] {
            assert!(e.is_transient(), "{e}");
        }
    }

    #[test]
    fn http_statuses_are_classified() {
        for status in [408, 429, 502, 503, 504] {
            assert!(ConnectionError::Http(status).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 500, 501] {
            assert!(!ConnectionError::Http(status).is_transient(), "{status}");
        }
    }

    #[test]
    fn close_codes_are_classified() {
        for code in [1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 4001] {
            assert!(
                ConnectionError::WebSocketClose(code, String::new()).is_transient(),
                "{code}"
            );
        }
        for code in [1002, 1003, 1007, 1008, 1009, 1010, 1015, 3000, 4000, 4999] {
            assert!(
                !ConnectionError::WebSocketClose(code, String::new()).is_transient(),
                "{code}"
            );
        }
    }

    #[test]
    fn tls_protocol_and_profile_errors_are_permanent() {
        assert!(!ConnectionError::Tls("unknown issuer".into()).is_transient());
        assert!(!ConnectionError::Protocol("text frame".into()).is_transient());
        assert!(!ConnectionError::IncompatibleProfile("BLIP_2".into()).is_transient());
    }

    #[test]
    fn session_errors_follow_their_own_classification() {
        let closed = SessionError::Closed("eof".into());
        assert!(closed.is_transient());
        assert!(ConnectionError::from(closed).is_transient());
        let forbidden = SessionError::Refused {
            request: "subChanges",
            error: BlipError {
                domain: "HTTP".into(),
                code: 403,
                message: "forbidden".into(),
            },
        };
        assert!(!forbidden.is_transient());
        assert!(!ConnectionError::from(forbidden).is_transient());
    }

    #[test]
    fn retry_delays_double_from_one_second_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        let delays: Vec<u64> = (0..11).map(|n| retry_delay(n, cap).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(retry_delay(63, cap), cap);
        assert_eq!(retry_delay(64, cap), cap);
        assert_eq!(retry_delay(u32::MAX, cap), cap);
        assert_eq!(retry_delay(3, Duration::ZERO), Duration::ZERO);
    }
}
