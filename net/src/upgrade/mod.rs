//! The WebSocket upgrade (RFC 6455 §4) as pure functions over `http` types, independent of any
//! socket or runtime.
//!
//! - Listener side: [`ServerHandshake::accept`] validates an upgrade request for
//!   `/<db>/_blipsync`, authenticates it, negotiates the replication profile and returns either
//!   the complete 101 response ([`Accepted`]) or the HTTP refusal to send ([`Refusal`]).
//! - Replicator side: [`Endpoint::parse`] reads a `ws://` / `wss://` database URL,
//!   [`ClientHandshake`] builds the upgrade request and interprets the response.
//!
//! The types are `http`'s (`http::Request<B>`, `http::Response<B>`), the ones async-tungstenite
//! hands to its server handshake callback (`accept_hdr_async`): in the callback, call
//! [`ServerHandshake::accept`] on the request, then [`Accepted::apply_to`] on the response
//! tungstenite prepared (it adds the chosen subprotocol and the database UUID), or return
//! [`Refusal::to_response`] as the error response. On the client side the request from
//! [`ClientHandshake::request`] carries every header tungstenite requires, and
//! [`ClientHandshake::finish`] reads the response it returns.

mod client;
mod server;

use base64::Engine as _;
use sha1::{Digest, Sha1};

pub use client::{ClientHandshake, Endpoint, Negotiated, http_error};
pub use server::{Accepted, Refusal, ServerHandshake};

/// The last path segment of the replication endpoint: `/<db>/_blipsync`.
pub const BLIPSYNC_SEGMENT: &str = "_blipsync";

/// The realm of the listener's Basic challenge.
pub const REALM: &str = "Ferry";

/// The `WWW-Authenticate` value of a 401 answer.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"Ferry\"";

/// The only WebSocket version (RFC 6455).
pub const WEBSOCKET_VERSION: &str = "13";

/// The GUID RFC 6455 appends to the client's key.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + RFC 6455 GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Whether a comma-separated header value holds `token` (case-insensitive), as for `Connection:
/// keep-alive, Upgrade`.
pub(crate) fn has_token<'a>(
    values: impl IntoIterator<Item = &'a http::HeaderValue>,
    token: &str,
) -> bool {
    values.into_iter().any(|value| {
        value
            .to_str()
            .map(|text| {
                text.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
            })
            .unwrap_or(false)
    })
}

/// The 32-hex text of a database UUID.
pub(crate) fn uuid_hex(uuid: &[u8; 16]) -> String {
    hex::encode(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
