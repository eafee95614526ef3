//! The receive side of a direction, usable on its own: frames in, whole messages and ACKs out.
//!
//! [`FrameReader`] decodes frames with a [`FrameDecoder`], reassembles each message from its
//! frames (messages may interleave frame by frame), enforces the size limits and tells when an
//! ACK is due. It knows nothing of request/reply correlation; [`super::Connection`] adds that.

use std::collections::BTreeMap;

use super::codec::{DecodedFrame, FrameDecoder};
use super::error::ProtocolError;
use super::frame::{FrameFlags, MessageType};
use super::message::Message;
use super::{Config, MessageNumber, varint};

/// A complete incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    /// `MSG`, `RPY` or `ERR`.
    pub kind: MessageType,
    /// The message number (for a reply: its request's number).
    pub number: MessageNumber,
    /// The first frame's flags, without [`FrameFlags::MORE_COMING`].
    pub flags: FrameFlags,
    /// How many frames carried the message.
    pub frames: usize,
    /// The decoded properties and body.
    pub message: Message,
}

/// What one frame produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The frame completed a message.
    Message(IncomingMessage),
    /// The frame was part of a message that is not complete yet.
    Partial {
        /// `MSG`, `RPY` or `ERR`.
        kind: MessageType,
        /// The message number.
        number: MessageNumber,
        /// `Some(n)` when an ACK is due: `n` bytes of the message received so far.
        ack_due: Option<u64>,
    },
    /// The frame was an ACK from the peer.
    Ack {
        /// `ACKMSG` or `ACKRPY`.
        kind: MessageType,
        /// The acknowledged message's number.
        number: MessageNumber,
        /// The ACK frame's flags (normally urgent and no-reply).
        flags: FrameFlags,
        /// The bytes of that message the peer has received so far.
        bytes: u64,
    },
}

#[derive(Debug)]
struct Partial {
    kind: MessageType,
    flags: FrameFlags,
    frames: usize,
    data: Vec<u8>,
    wire_bytes: u64,
    acked: u64,
}

/// Reassembles one direction's frames into messages (a fresh reader per connection and
/// direction). Errors are fatal and sticky: once one is returned, every later call returns it.
#[derive(Debug)]
pub struct FrameReader {
    decoder: FrameDecoder,
    /// Partial messages by (is reply, number): requests and replies are numbered separately.
    partial: BTreeMap<(bool, MessageNumber), Partial>,
    buffered: usize,
    max_message_size: usize,
    max_properties_size: usize,
    max_buffered: usize,
    ack_threshold: u64,
    failed: Option<ProtocolError>,
}

impl FrameReader {
    /// A reader with `config`'s incoming limits and ACK threshold.
    #[must_use]
    pub fn new(config: &Config) -> Self {
        Self {
            decoder: FrameDecoder::new(config.max_incoming_frame_size),
            partial: BTreeMap::new(),
            buffered: 0,
            max_message_size: config.max_message_size,
            max_properties_size: config.max_properties_size,
            max_buffered: config.max_incoming_buffered,
            ack_threshold: config.ack_threshold.max(1),
            failed: None,
        }
    }

    /// Decodes one frame (one WebSocket binary message).
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<Received, ProtocolError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.process(frame);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.partial.clear();
            self.buffered = 0;
        }
        result
    }

    /// Whether a message of this kind and number has frames received and more to come.
    #[must_use]
    pub fn is_partial(&self, kind: MessageType, number: MessageNumber) -> bool {
        self.partial.contains_key(&(kind.is_reply(), number))
    }

    /// The bytes held in partially received messages.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The number of partially received messages.
    #[must_use]
    pub fn partial_count(&self) -> usize {
        self.partial.len()
    }

    /// The fatal error, if one happened.
    #[must_use]
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    fn process(&mut self, frame: &[u8]) -> Result<Received, ProtocolError> {
        // The data limit for this frame: what the message and the buffer may still take.
        let key_hint = super::frame::FrameHeader::decode(frame)
            .map(|(h, _)| (h.kind.is_reply(), h.number))
            .ok();
        let already = key_hint
            .and_then(|k| self.partial.get(&k))
            .map_or(0, |p| p.data.len());
        let message_room = self.max_message_size.saturating_sub(already);
        let buffer_room = self.max_buffered.saturating_sub(self.buffered);
        let room = message_room.min(buffer_room);
        let decoded = self.decoder.decode(frame, room).map_err(|err| match err {
            ProtocolError::MessageTooLarge { size, .. } if buffer_room < message_room => {
                ProtocolError::IncomingBufferFull {
                    size: self.buffered + size,
                    limit: self.max_buffered,
                }
            }
            ProtocolError::MessageTooLarge { size, .. } => ProtocolError::MessageTooLarge {
                size: already + size,
                limit: self.max_message_size,
            },
            other => other,
        })?;
        let (header, data, wire_len) = match decoded {
            DecodedFrame::Ack { header, bytes } => {
                return Ok(Received::Ack {
                    kind: header.kind,
                    number: header.number,
                    flags: header.flags,
                    bytes,
                });
            }
            DecodedFrame::Data {
                header,
                data,
                wire_len,
            } => (header, data, wire_len),
        };
        let key = (header.kind.is_reply(), header.number);
        let more = header.flags.more_coming();
        let mut partial = match self.partial.remove(&key) {
            Some(p) => {
                if p.kind != header.kind {
                    return Err(ProtocolError::InconsistentFrame(header.number));
                }
                self.buffered -= p.data.len();
                p
            }
            None => Partial {
                kind: header.kind,
                flags: header.flags.with(FrameFlags::MORE_COMING, false),
                frames: 0,
                data: Vec::new(),
                wire_bytes: 0,
                acked: 0,
            },
        };
        partial.frames += 1;
        partial.wire_bytes += wire_len as u64;
        if partial.data.is_empty() {
            partial.data = data;
        } else {
            partial.data.extend_from_slice(&data);
        }
        // Refuse an oversize property block as soon as its length is known.
        match varint::decode(&partial.data) {
            Ok((len, _)) if len > self.max_properties_size as u64 => {
                return Err(ProtocolError::PropertiesTooLarge {
                    size: len,
                    limit: self.max_properties_size,
                });
            }
            Err(varint::VarintError::Overflow) => {
                return Err(ProtocolError::OverflowingVarint("property block length"));
            }
            _ => {}
        }
        if !more {
            let message = Message::decode_owned(partial.data, self.max_properties_size)?;
            return Ok(Received::Message(IncomingMessage {
                kind: partial.kind,
                number: header.number,
                flags: partial.flags,
                frames: partial.frames,
                message,
            }));
        }
        let ack_due = (partial.wire_bytes - partial.acked >= self.ack_threshold).then(|| {
            partial.acked = partial.wire_bytes;
            partial.wire_bytes
        });
        self.buffered += partial.data.len();
        self.partial.insert(key, partial);
        Ok(Received::Partial {
            kind: header.kind,
            number: header.number,
            ack_due,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blip::codec::FrameWriter;
    use crate::blip::frame::FrameHeader;

    fn frames_for(w: &mut FrameWriter, number: u64, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        interleave(
            w,
            &[(number, data)],
            chunk,
            &vec![0; data.len().div_ceil(chunk)],
        )
    }

    /// Frames for `(number, data)` pairs cut in `chunk`-byte pieces, encoded (for the running
    /// CRC) in the order given by `order` (indices into the messages).
    fn interleave(
        w: &mut FrameWriter,
        messages: &[(u64, &[u8])],
        chunk: usize,
        order: &[usize],
    ) -> Vec<Vec<u8>> {
        let mut offsets = vec![0; messages.len()];
        order
            .iter()
            .map(|&i| {
                let (number, data) = messages[i];
                let end = (offsets[i] + chunk).min(data.len());
                let more = if end < data.len() {
                    FrameFlags::MORE_COMING
                } else {
                    0
                };
                let header = FrameHeader::new(number, MessageType::Request, more);
                let frame = w.encode_frame(&header, &data[offsets[i]..end]).unwrap();
                offsets[i] = end;
                frame
            })
            .collect()
    }

    #[test]
    fn interleaved_messages_reassemble_and_ack() {
        let config = Config {
            ack_threshold: 1000,
            ..Config::default()
        };
        let mut r = FrameReader::new(&config);
        let mut w = FrameWriter::new();
        let a = Message::request("a")
            .with_body(vec![1u8; 3000])
            .encode()
            .unwrap();
        let b = Message::request("b")
            .with_body(vec![2u8; 700])
            .encode()
            .unwrap();
        let frames = interleave(&mut w, &[(1, &a), (2, &b)], 600, &[0, 1, 0, 0, 1, 0, 0, 0]);
        let mut acks = Vec::new();
        let mut done = Vec::new();
        for f in &frames {
            match r.handle_frame(f).unwrap() {
                Received::Partial {
                    ack_due: Some(n),
                    number,
                    ..
                } => acks.push((number, n)),
                Received::Message(m) => done.push((m.number, m.frames, m.message)),
                _ => {}
            }
        }
        assert_eq!(done.len(), 2);
        assert_eq!((done[0].0, done[0].1), (2, 2));
        assert_eq!(done[0].2.profile(), Some("b"));
        assert_eq!((done[1].0, done[1].1, done[1].2.body.len()), (1, 6, 3000));
        // Each uncompressed frame is 600 data + 4 CRC bytes: ACKs after 2 and 4 frames.
        assert_eq!(acks, [(1, 1208), (1, 2416)]);
        assert_eq!((r.buffered(), r.partial_count()), (0, 0));
    }

    #[test]
    fn buffer_limit_is_fatal_and_sticky() {
        let config = Config {
            max_incoming_buffered: 1000,
            ..Config::default()
        };
        let mut r = FrameReader::new(&config);
        let mut w = FrameWriter::new();
        let a = Message::new().with_body(vec![1u8; 3000]).encode().unwrap();
        let fa = frames_for(&mut w, 1, &a, 600);
        assert!(matches!(
            r.handle_frame(&fa[0]),
            Ok(Received::Partial { .. })
        ));
        let err = r.handle_frame(&fa[1]).unwrap_err();
        assert!(
            matches!(err, ProtocolError::IncomingBufferFull { limit: 1000, .. }),
            "{err:?}"
        );
        assert_eq!(err.close_code(), 1008);
        assert_eq!(r.handle_frame(&fa[2]), Err(err.clone()));
        assert_eq!(r.error(), Some(&err));
    }

    #[test]
    fn message_limit_and_properties_limit() {
        let config = Config {
            max_message_size: 1000,
            max_properties_size: 10,
            ..Config::default()
        };
        let mut w = FrameWriter::new();
        let a = Message::new().with_body(vec![1u8; 1500]).encode().unwrap();
        let fa = frames_for(&mut w, 1, &a, 600);
        let mut r = FrameReader::new(&config);
        r.handle_frame(&fa[0]).unwrap();
        let err = r.handle_frame(&fa[1]).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MessageTooLarge { limit: 1000, .. }),
            "{err:?}"
        );
        assert_eq!(err.close_code(), 1009);

        let mut w = FrameWriter::new();
        let big = Message::request("0123456789").encode().unwrap();
        let f = frames_for(&mut w, 1, &big, 600);
        let err = FrameReader::new(&config).handle_frame(&f[0]).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::PropertiesTooLarge {
                size: 19,
                limit: 10
            }
        );
    }
}
