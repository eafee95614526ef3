//! The BLIP frame header: message type, flags and message number.
//!
//! A frame is `varint number`, `varint flags`, then the frame data. Data frames end with a 4-byte
//! big-endian running CRC32 (see [`super::codec`]); ACK frames carry a varint and no CRC.

use super::error::ProtocolError;
use super::{MessageNumber, varint};

/// The five BLIP message types (the low three flag bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageType {
    /// `MSG` (0): a request.
    Request,
    /// `RPY` (1): a successful reply; carries its request's number.
    Reply,
    /// `ERR` (2): an error reply; carries its request's number.
    Error,
    /// `ACKMSG` (4): acknowledges bytes received of a request.
    AckRequest,
    /// `ACKRPY` (5): acknowledges bytes received of a reply or error.
    AckReply,
}

impl MessageType {
    /// Decodes the type bits (`flags & 0x07`); `None` for 3, 6 and 7.
    #[must_use]
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits & FrameFlags::TYPE_MASK {
            0 => Some(Self::Request),
            1 => Some(Self::Reply),
            2 => Some(Self::Error),
            4 => Some(Self::AckRequest),
            5 => Some(Self::AckReply),
            _ => None,
        }
    }

    /// The type bits.
    #[must_use]
    pub fn bits(self) -> u8 {
        match self {
            Self::Request => 0,
            Self::Reply => 1,
            Self::Error => 2,
            Self::AckRequest => 4,
            Self::AckReply => 5,
        }
    }

    /// The name used in BLIP documentation and the test vectors: `MSG`, `RPY`, `ERR`, `ACKMSG`,
    /// `ACKRPY`.
    #[must_use]
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Request => "MSG",
            Self::Reply => "RPY",
            Self::Error => "ERR",
            Self::AckRequest => "ACKMSG",
            Self::AckReply => "ACKRPY",
        }
    }

    /// Whether this is an ACK type (no CRC, no compression, body = one varint).
    #[must_use]
    pub fn is_ack(self) -> bool {
        matches!(self, Self::AckRequest | Self::AckReply)
    }

    /// Whether this is a reply type (`RPY` or `ERR`), numbered after its request.
    #[must_use]
    pub fn is_reply(self) -> bool {
        matches!(self, Self::Reply | Self::Error)
    }
}

/// A frame's flags byte: the message type plus the bit flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FrameFlags(u8);

impl FrameFlags {
    /// The bits holding the [`MessageType`].
    pub const TYPE_MASK: u8 = 0x07;
    /// The frame's data is raw deflate (this direction's stream, sync-flushed).
    pub const COMPRESSED: u8 = 0x08;
    /// The message goes in the urgent lane.
    pub const URGENT: u8 = 0x10;
    /// The request wants no reply.
    pub const NO_REPLY: u8 = 0x20;
    /// More frames of this message follow.
    pub const MORE_COMING: u8 = 0x40;
    /// Every bit BLIP defines.
    pub const ALL: u8 = 0x7f;

    /// Flags with the given type and no bit flags.
    #[must_use]
    pub fn new(kind: MessageType) -> Self {
        Self(kind.bits())
    }

    /// Flags from a byte (bits above 0x7F are dropped).
    #[must_use]
    pub fn from_bits(bits: u8) -> Self {
        Self(bits & Self::ALL)
    }

    /// The flags byte.
    #[must_use]
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The message type, or `None` for undefined type bits.
    #[must_use]
    pub fn message_type(self) -> Option<MessageType> {
        MessageType::from_bits(self.0)
    }

    /// Whether every bit of `flag` is set.
    #[must_use]
    pub fn contains(self, flag: u8) -> bool {
        self.0 & flag == flag
    }

    /// These flags with `flag` set or cleared.
    #[must_use]
    pub fn with(self, flag: u8, on: bool) -> Self {
        if on {
            Self((self.0 | flag) & Self::ALL)
        } else {
            Self(self.0 & !flag)
        }
    }

    /// Whether [`FrameFlags::COMPRESSED`] is set.
    #[must_use]
    pub fn compressed(self) -> bool {
        self.contains(Self::COMPRESSED)
    }

    /// Whether [`FrameFlags::URGENT`] is set.
    #[must_use]
    pub fn urgent(self) -> bool {
        self.contains(Self::URGENT)
    }

    /// Whether [`FrameFlags::NO_REPLY`] is set.
    #[must_use]
    pub fn no_reply(self) -> bool {
        self.contains(Self::NO_REPLY)
    }

    /// Whether [`FrameFlags::MORE_COMING`] is set.
    #[must_use]
    pub fn more_coming(self) -> bool {
        self.contains(Self::MORE_COMING)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The message number (a reply carries its request's number).
    pub number: MessageNumber,
    /// The frame's flags.
    pub flags: FrameFlags,
    /// The message type the flags name.
    pub kind: MessageType,
}

impl FrameHeader {
    /// A header for `kind` with the given number and flag bits (the type bits of `flags` are
    /// replaced by `kind`'s).
    #[must_use]
    pub fn new(number: MessageNumber, kind: MessageType, flags: u8) -> Self {
        let flags = FrameFlags::from_bits((flags & !FrameFlags::TYPE_MASK) | kind.bits());
        Self {
            number,
            flags,
            kind,
        }
    }

    /// Appends the header's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::encode(self.number, out);
        varint::encode(u64::from(self.flags.bits()), out);
    }

    /// The encoded header's length.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        varint::encoded_len(self.number) + varint::encoded_len(u64::from(self.flags.bits()))
    }

    /// Decodes the header at the start of `frame`; returns it and its length in bytes.
    pub fn decode(frame: &[u8]) -> Result<(Self, usize), ProtocolError> {
        let (number, n1) =
            varint::decode(frame).map_err(|e| ProtocolError::varint("message number", e))?;
        let rest = frame.get(n1..).unwrap_or_default();
        let (flags, n2) =
            varint::decode(rest).map_err(|e| ProtocolError::varint("frame flags", e))?;
        let flags = u8::try_from(flags)
            .ok()
            .filter(|f| *f <= FrameFlags::ALL)
            .ok_or(ProtocolError::InvalidFlags(flags))?;
        let kind = MessageType::from_bits(flags).ok_or(ProtocolError::UnknownMessageType(
            flags & FrameFlags::TYPE_MASK,
        ))?;
        Ok((
            Self {
                number,
                flags: FrameFlags(flags),
                kind,
            },
            n1 + n2,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_recorded_headers() {
        // An ACKMSG from the LiteCore `big` recording: #4, flags 0x34 (ACKMSG|urgent|noreply).
        let (h, len) = FrameHeader::decode(&[0x04, 0x34, 0x9d, 0xff, 0x03]).unwrap();
        assert_eq!((h.number, h.kind, len), (4, MessageType::AckRequest, 2));
        assert!(h.flags.urgent() && h.flags.no_reply() && !h.flags.compressed());
        let (h, _) = FrameHeader::decode(&[0x02, 0x19]).unwrap();
        assert_eq!(h.kind, MessageType::Reply);
        assert!(h.flags.urgent() && h.flags.compressed());
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(
            FrameHeader::decode(&[0x01]),
            Err(ProtocolError::TruncatedVarint("frame flags"))
        );
        assert_eq!(
            FrameHeader::decode(&[]),
            Err(ProtocolError::TruncatedVarint("message number"))
        );
        assert_eq!(
            FrameHeader::decode(&[0x01, 0x03]),
            Err(ProtocolError::UnknownMessageType(3))
        );
        assert_eq!(
            FrameHeader::decode(&[0x01, 0x07]),
            Err(ProtocolError::UnknownMessageType(7))
        );
        assert_eq!(
            FrameHeader::decode(&[0x01, 0x80, 0x01]),
            Err(ProtocolError::InvalidFlags(128))
        );
        let mut over = vec![0xff; 10];
        over.push(0);
        assert_eq!(
            FrameHeader::decode(&over),
            Err(ProtocolError::OverflowingVarint("message number"))
        );
    }

    #[test]
    fn flag_helpers() {
        let f = FrameFlags::new(MessageType::Error).with(FrameFlags::URGENT, true);
        assert_eq!(f.bits(), 0x12);
        assert_eq!(f.with(FrameFlags::URGENT, false).bits(), 0x02);
        assert_eq!(f.message_type(), Some(MessageType::Error));
        assert!(MessageType::AckReply.is_ack() && MessageType::Error.is_reply());
        assert_eq!(MessageType::AckRequest.wire_name(), "ACKMSG");
    }

    proptest! {
        #[test]
        fn headers_round_trip(number in any::<u64>(), kind in 0u8..6, bits in 0u8..0x80) {
            prop_assume!(kind != 3);
            let kind = MessageType::from_bits(kind).unwrap();
            let header = FrameHeader::new(number, kind, bits);
            let mut out = Vec::new();
            header.encode(&mut out);
            prop_assert_eq!(out.len(), header.encoded_len());
            out.extend_from_slice(b"data");
            prop_assert_eq!(FrameHeader::decode(&out), Ok((header, header.encoded_len())));
        }

        #[test]
        fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = FrameHeader::decode(&bytes);
        }
    }
}
