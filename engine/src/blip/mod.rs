//! BLIP v3, the message transport of Couchbase Lite's replication protocol, sans IO.
//!
//! Bytes in, messages out; messages in, bytes out. One BLIP frame is the payload of one binary
//! WebSocket message; the host owns the WebSocket and moves those payloads in and out.
//!
//! - [`Connection`] is the whole protocol for one connection: feed each received frame to
//!   [`Connection::handle_frame`], then drain [`Connection::poll_event`] and
//!   [`Connection::poll_frame`]. Send with [`Connection::send_request`],
//!   [`Connection::send_reply`] and [`Connection::send_error`].
//! - The pieces are usable alone: [`varint`], [`FrameHeader`], [`Message`] (properties and
//!   body), [`FrameWriter`] / [`FrameDecoder`] (CRC and deflate per direction) and
//!   [`FrameReader`] (one direction's frames to whole messages).
//!
//! **Delivery:** incoming messages are delivered whole, once their last frame has arrived
//! (in completion order). Within one lane (urgent or normal) Ferry's outbox finishes messages in
//! the order they were queued, so a Ferry peer receives them in that order.
//!
//! The wire format, limits and close codes are written down in `docs/PROTOCOL.md`.

mod codec;
mod config;
mod connection;
mod error;
mod frame;
mod message;
mod outbox;
mod reader;
pub mod varint;

#[doc(hidden)]
pub mod fuzz;

pub use codec::{CRC_LEN, DecodedFrame, FrameDecoder, FrameWriter, SYNC_FLUSH_TRAILER};
pub use config::Config;
pub use connection::{Connection, Event, SendOptions};
pub use error::{
    BlipError, CLOSE_INTERNAL_ERROR, CLOSE_MESSAGE_TOO_BIG, CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR, ProtocolError, SendError,
};
pub use frame::{FrameFlags, FrameHeader, MessageType};
pub use message::{ERROR_CODE, ERROR_DOMAIN, Message, PROFILE, Properties};
pub use outbox::OutboxStats;
pub use reader::{FrameReader, IncomingMessage, Received};

/// A message number. Requests are numbered 1, 2, 3… per direction; a reply or error carries its
/// request's number.
pub type MessageNumber = u64;
