//! BLIP errors: fatal protocol errors (with the WebSocket close code to send), errors from the
//! `send_*` commands, and the error replies a peer sends.

use super::MessageNumber;
use super::varint::VarintError;

/// WebSocket close code 1002, *protocol error*: the peer broke the BLIP framing rules.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// WebSocket close code 1008, *policy violation*: the peer made us buffer more than allowed.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// WebSocket close code 1009, *message too big*: a frame, message or property block is too large.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// WebSocket close code 1011, *internal error*: Ferry itself failed (never caused by the peer).
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// A fatal BLIP error. After one, the connection is dead: it is sticky (every later
/// `handle_frame` returns it again) and the host should close the WebSocket with
/// [`ProtocolError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A varint (in the frame header, a property length or an ACK) ended early.
    #[error("truncated varint in the {0}")]
    TruncatedVarint(&'static str),
    /// A varint (in the frame header, a property length or an ACK) does not fit in 64 bits.
    #[error("overflowing varint in the {0}")]
    OverflowingVarint(&'static str),
    /// The flags varint has bits above 0x7F set.
    #[error("invalid frame flags {0:#x}")]
    InvalidFlags(u64),
    /// The frame's type bits are 3, 6 or 7, which BLIP does not define.
    #[error("unknown message type {0}")]
    UnknownMessageType(u8),
    /// A data frame is too short to hold its 4-byte CRC.
    #[error("frame too short for its CRC ({0} bytes after the header)")]
    TruncatedFrame(usize),
    /// The running CRC32 at the end of a frame does not match the bytes received.
    #[error("CRC mismatch: frame says {received:#010x}, data gives {computed:#010x}")]
    CrcMismatch {
        /// The CRC written in the frame.
        received: u32,
        /// The CRC computed over the uncompressed data received in this direction.
        computed: u32,
    },
    /// A compressed frame is not valid raw deflate for this direction's stream.
    #[error("bad deflate data: {0}")]
    BadDeflate(String),
    /// An ACK frame's body is not exactly one varint.
    #[error("invalid ACK body")]
    InvalidAck,
    /// A frame is larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A message's uncompressed data is larger than the configured maximum.
    #[error("message of at least {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The message's size so far in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A message's property block is larger than the configured maximum.
    #[error("properties of {size} bytes exceed the limit of {limit}")]
    PropertiesTooLarge {
        /// The announced property block size.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// Partially received messages would hold more bytes than the configured maximum.
    #[error("incoming partial messages would buffer {size} bytes, over the limit of {limit}")]
    IncomingBufferFull {
        /// The bytes that would be buffered.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The property block announced by a message is longer than the message.
    #[error("property block of {announced} bytes is longer than the message ({available} left)")]
    TruncatedProperties {
        /// The announced property block length.
        announced: u64,
        /// The bytes the message actually has after the length.
        available: usize,
    },
    /// The property block does not end with a NUL byte.
    #[error("property block does not end with NUL")]
    MissingNul,
    /// The property block holds a key without a value.
    #[error("property {0:?} has no value")]
    UnpairedProperty(String),
    /// A property key or value is not UTF-8.
    #[error("property string is not UTF-8")]
    InvalidUtf8Property,
    /// A reply or error arrived for a request this side never sent or that needs no reply.
    #[error("reply to unknown request #{0}")]
    ReplyToUnknownRequest(MessageNumber),
    /// A new request does not carry the next request number.
    #[error("request #{received} out of sequence (expected #{expected})")]
    UnexpectedRequestNumber {
        /// The number in the frame.
        received: MessageNumber,
        /// The next number the peer should have used.
        expected: MessageNumber,
    },
    /// A later frame of a message has a different message type than its first frame.
    #[error("frame for message #{0} changes its type mid-message")]
    InconsistentFrame(MessageNumber),
    /// Ferry's own compressor failed (a bug, never the peer's fault).
    #[error("internal compression failure: {0}")]
    CompressionFailed(String),
}

impl ProtocolError {
    /// The WebSocket close code the host should send for this error.
    #[must_use]
    pub fn close_code(&self) -> u16 {
        match self {
            Self::FrameTooLarge { .. }
            | Self::MessageTooLarge { .. }
            | Self::PropertiesTooLarge { .. } => CLOSE_MESSAGE_TOO_BIG,
            Self::IncomingBufferFull { .. } => CLOSE_POLICY_VIOLATION,
            Self::CompressionFailed(_) => CLOSE_INTERNAL_ERROR,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }

    pub(crate) fn varint(what: &'static str, err: VarintError) -> Self {
        match err {
            VarintError::Overflow => Self::OverflowingVarint(what),
            _ => Self::TruncatedVarint(what),
        }
    }
}

/// Why a `send_*` command was refused. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The outbox holds too many unsent bytes; retry after draining `poll_frame`.
    #[error("outbox full: {needed} bytes needed, {available} available")]
    OutboxFull {
        /// The encoded size of the refused message.
        needed: usize,
        /// The free outbox space.
        available: usize,
    },
    /// The message is larger than the maximum message size (or than the whole outbox).
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The encoded size of the message.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// A property key or value contains a NUL byte, which the wire format cannot carry.
    #[error("property {0:?} contains a NUL byte")]
    InvalidProperty(String),
    /// There is no received request with this number awaiting a reply.
    #[error("no request #{0} is awaiting a reply")]
    UnknownRequest(MessageNumber),
    /// The connection failed earlier with this fatal error.
    #[error("connection failed: {0}")]
    Failed(ProtocolError),
}

/// An error reply (`ERR`) from the peer: its `Error-Domain`, `Error-Code` and body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{domain} error {code}: {message}")]
pub struct BlipError {
    /// The `Error-Domain` property, such as `BLIP`, `HTTP` or `LiteCore` (empty if absent).
    pub domain: String,
    /// The `Error-Code` property as an integer (0 if absent or not a number).
    pub code: i64,
    /// The body as text (invalid UTF-8 replaced), usually a human-readable message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes() {
        assert_eq!(ProtocolError::MissingNul.close_code(), CLOSE_PROTOCOL_ERROR);
        assert_eq!(
            ProtocolError::CrcMismatch {
                received: 1,
                computed: 2
            }
            .close_code(),
            1002
        );
        assert_eq!(
            ProtocolError::FrameTooLarge { size: 2, limit: 1 }.close_code(),
            1009
        );
        assert_eq!(
            ProtocolError::PropertiesTooLarge { size: 2, limit: 1 }.close_code(),
            1009
        );
        assert_eq!(
            ProtocolError::IncomingBufferFull { size: 2, limit: 1 }.close_code(),
            1008
        );
        assert_eq!(
            ProtocolError::CompressionFailed(String::new()).close_code(),
            1011
        );
        assert_eq!(
            ProtocolError::varint("ACK", VarintError::Overflow),
            ProtocolError::OverflowingVarint("ACK")
        );
        let e = BlipError {
            domain: "HTTP".into(),
            code: 404,
            message: "missing".into(),
        };
        assert_eq!(e.to_string(), "HTTP error 404: missing");
    }
}
