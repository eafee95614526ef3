//! The outbox: queued outgoing messages, cut into frames, in two lanes, with ACK flow control.
//!
//! - Each lane (urgent, normal) is FIFO: a lane sends its oldest message until it is finished,
//!   so messages of one lane are received complete in the order they were queued, and a new
//!   message never starts before an older one of its lane.
//! - The urgent lane goes first, but after [`Config::urgent_burst`] urgent frames in a row a
//!   waiting normal message gets one frame, so neither lane starves.
//! - A message with [`Config::max_unacked_bytes`] or more sent but unacknowledged bytes is
//!   paused (its lane waits; the other lane may go) until the peer's ACK arrives.
//! - Frames carry up to [`Config::max_frame_size`] bytes of data when the message is urgent or
//!   alone in the outbox, else [`Config::frame_size`].
//! - Requests start in number order across both lanes: an urgent request waits for the first
//!   frame of an older normal request that has not started (receivers require new request
//!   numbers in sequence).
//! - ACK frames jump every queue.

use std::collections::VecDeque;

use super::codec::FrameWriter;
use super::error::ProtocolError;
use super::frame::{FrameFlags, FrameHeader, MessageType};
use super::{Config, MessageNumber};

/// Whether `lane`'s head may send a frame now: it is not paused for an ACK and, if it is a
/// request not yet started, no older request in `other` is still unstarted (requests must start
/// in number order: receivers such as LiteCore reject a new request number out of sequence).
fn ready(lane: &VecDeque<Outgoing>, other: &VecDeque<Outgoing>, max_unacked: u64) -> bool {
    let Some(head) = lane.front() else {
        return false;
    };
    if head.paused(max_unacked) {
        return false;
    }
    if head.offset > 0 || head.header.kind != MessageType::Request {
        return true;
    }
    // In a lane, requests are queued in number order, so the first unstarted one is the oldest.
    other
        .iter()
        .find(|m| m.header.kind == MessageType::Request && m.offset == 0)
        .is_none_or(|m| m.header.number > head.header.number)
}

#[derive(Debug)]
struct Outgoing {
    header: FrameHeader,
    data: Vec<u8>,
    offset: usize,
    sent: u64,
    acked: u64,
}

impl Outgoing {
    fn paused(&self, max_unacked: u64) -> bool {
        self.sent.saturating_sub(self.acked) >= max_unacked
    }
}

/// Counters describing what the outbox did, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Data frames produced.
    pub frames_sent: u64,
    /// ACK frames produced.
    pub acks_sent: u64,
    /// Times a message had to stop and wait for an ACK.
    pub ack_pauses: u64,
    /// ACKs received that let a paused message continue.
    pub ack_resumes: u64,
    /// The most bytes ever queued at once.
    pub peak_buffered: usize,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    writer: FrameWriter,
    urgent: VecDeque<Outgoing>,
    normal: VecDeque<Outgoing>,
    acks: VecDeque<(MessageType, MessageNumber, u64)>,
    buffered: usize,
    urgent_streak: u32,
    stats: OutboxStats,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Self {
            writer: FrameWriter::new(),
            urgent: VecDeque::new(),
            normal: VecDeque::new(),
            acks: VecDeque::new(),
            buffered: 0,
            urgent_streak: 0,
            stats: OutboxStats::default(),
        }
    }

    /// Unsent message bytes queued.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    pub(crate) fn stats(&self) -> OutboxStats {
        self.stats
    }

    /// Queues a message; the caller has checked the size limits.
    pub(crate) fn push(&mut self, header: FrameHeader, data: Vec<u8>) {
        self.buffered += data.len();
        self.stats.peak_buffered = self.stats.peak_buffered.max(self.buffered);
        let msg = Outgoing {
            header,
            data,
            offset: 0,
            sent: 0,
            acked: 0,
        };
        if header.flags.urgent() {
            self.urgent.push_back(msg);
        } else {
            self.normal.push_back(msg);
        }
    }

    /// Queues an ACK frame, merging it with a queued ACK for the same message.
    pub(crate) fn push_ack(&mut self, kind: MessageType, number: MessageNumber, bytes: u64) {
        match self
            .acks
            .iter_mut()
            .find(|(k, n, _)| *k == kind && *n == number)
        {
            Some(slot) => slot.2 = slot.2.max(bytes),
            None => self.acks.push_back((kind, number, bytes)),
        }
    }

    /// Records the peer's ACK for one of our messages; unknown messages are ignored (they may
    /// have been fully sent already).
    pub(crate) fn handle_ack(
        &mut self,
        kind: MessageType,
        number: MessageNumber,
        bytes: u64,
        max_unacked: u64,
    ) {
        let acks_request = kind == MessageType::AckRequest;
        let found = self
            .urgent
            .iter_mut()
            .chain(self.normal.iter_mut())
            .find(|m| {
                m.header.number == number && (m.header.kind == MessageType::Request) == acks_request
            });
        if let Some(msg) = found {
            let was_paused = msg.paused(max_unacked);
            msg.acked = msg.acked.max(bytes.min(msg.sent));
            if was_paused && !msg.paused(max_unacked) {
                self.stats.ack_resumes += 1;
            }
        }
    }

    /// Drops everything queued (after a fatal error).
    pub(crate) fn clear(&mut self) {
        self.urgent.clear();
        self.normal.clear();
        self.acks.clear();
        self.buffered = 0;
    }

    /// Whether a message is queued and paused waiting for an ACK.
    pub(crate) fn has_paused(&self, max_unacked: u64) -> bool {
        self.urgent
            .iter()
            .chain(self.normal.iter())
            .any(|m| m.paused(max_unacked))
    }

    /// The next frame to send, if any may go now.
    pub(crate) fn next_frame(&mut self, config: &Config) -> Result<Option<Vec<u8>>, ProtocolError> {
        if let Some((kind, number, bytes)) = self.acks.pop_front() {
            self.stats.acks_sent += 1;
            return Ok(Some(FrameWriter::encode_ack(kind, number, bytes)));
        }
        let max_unacked = config.effective_window();
        let urgent_ready = ready(&self.urgent, &self.normal, max_unacked);
        let normal_ready = ready(&self.normal, &self.urgent, max_unacked);
        let use_urgent = match (urgent_ready, normal_ready) {
            (false, false) => return Ok(None),
            (true, false) => true,
            (false, true) => false,
            (true, true) => self.urgent_streak < config.urgent_burst,
        };
        let alone = self.urgent.len() + self.normal.len() == 1;
        let lane = if use_urgent {
            &mut self.urgent
        } else {
            &mut self.normal
        };
        self.urgent_streak = if use_urgent {
            self.urgent_streak.saturating_add(1)
        } else {
            0
        };
        let Some(msg) = lane.front_mut() else {
            return Ok(None);
        };
        let size = if msg.header.flags.urgent() || alone {
            config.max_frame_size
        } else {
            config.frame_size
        }
        .max(1);
        let end = msg.data.len().min(msg.offset.saturating_add(size));
        let more = end < msg.data.len();
        let mut header = msg.header;
        header.flags = header.flags.with(FrameFlags::MORE_COMING, more);
        let frame = self
            .writer
            .encode_frame(&header, &msg.data[msg.offset..end])?;
        self.buffered -= end - msg.offset;
        msg.offset = end;
        msg.sent += (frame.len() - header.encoded_len()) as u64;
        self.stats.frames_sent += 1;
        if !more {
            lane.pop_front();
        } else if msg.paused(max_unacked) {
            self.stats.ack_pauses += 1;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blip::codec::{DecodedFrame, FrameDecoder};

    fn header(number: u64, flags: u8) -> FrameHeader {
        FrameHeader::new(number, MessageType::Request, flags)
    }

    fn drain(outbox: &mut Outbox, config: &Config) -> Vec<FrameHeader> {
        let mut dec = FrameDecoder::new(1 << 20);
        let mut out = Vec::new();
        while let Some(frame) = outbox.next_frame(config).unwrap() {
            match dec.decode(&frame, 1 << 20).unwrap() {
                DecodedFrame::Data { header, .. } | DecodedFrame::Ack { header, .. } => {
                    out.push(header)
                }
            }
        }
        out
    }

    #[test]
    fn urgent_first_without_starving_normal() {
        let config = Config {
            frame_size: 10,
            max_frame_size: 10,
            urgent_burst: 2,
            ..Config::default()
        };
        let mut o = Outbox::new();
        o.push(header(1, FrameFlags::URGENT), vec![0; 50]);
        o.push(header(2, 0), vec![0; 30]);
        assert_eq!(o.buffered(), 80);
        let order: Vec<u64> = drain(&mut o, &config).iter().map(|h| h.number).collect();
        assert_eq!(order, [1, 1, 2, 1, 1, 2, 1, 2]);
        assert_eq!(o.buffered(), 0);
    }

    #[test]
    fn requests_start_in_number_order_across_lanes() {
        let config = Config {
            frame_size: 10,
            max_frame_size: 10,
            ..Config::default()
        };
        let mut o = Outbox::new();
        o.push(header(1, 0), vec![0; 30]);
        o.push(header(2, FrameFlags::URGENT), vec![0; 30]);
        // Urgent #2 waits for #1 to start; then the urgent lane goes first.
        o.push(
            FrameHeader::new(9, MessageType::Reply, FrameFlags::URGENT),
            vec![0; 10],
        );
        let order: Vec<u64> = drain(&mut o, &config).iter().map(|h| h.number).collect();
        assert_eq!(order, [1, 2, 2, 2, 9, 1, 1]);
    }

    #[test]
    fn lanes_are_fifo_and_frame_size_depends_on_company() {
        let config = Config {
            frame_size: 10,
            max_frame_size: 25,
            ..Config::default()
        };
        let mut o = Outbox::new();
        o.push(header(1, 0), vec![0; 30]);
        o.push(header(2, 0), vec![0; 30]);
        let headers = drain(&mut o, &config);
        let order: Vec<u64> = headers.iter().map(|h| h.number).collect();
        // #1 goes in 10-byte frames while #2 waits; #2, alone, in 25-byte frames.
        assert_eq!(order, [1, 1, 1, 2, 2]);
        assert!(headers[0].flags.more_coming() && !headers[2].flags.more_coming());
    }

    #[test]
    fn pauses_until_acked_and_acks_jump_the_queue() {
        let config = Config {
            frame_size: 100,
            max_frame_size: 100,
            max_unacked_bytes: 250,
            ack_threshold: 200,
            ..Config::default()
        };
        let mut o = Outbox::new();
        o.push(header(7, 0), vec![0; 1000]);
        let mut frames = 0;
        while o.next_frame(&config).unwrap().is_some() {
            frames += 1;
        }
        // 104 wire bytes per frame: paused after the third (312 >= 250).
        assert_eq!(frames, 3);
        assert!(o.has_paused(250));
        assert_eq!(o.stats().ack_pauses, 1);
        o.push_ack(MessageType::AckReply, 9, 5);
        o.push_ack(MessageType::AckReply, 9, 6);
        assert_eq!(
            o.next_frame(&config).unwrap().unwrap(),
            FrameWriter::encode_ack(MessageType::AckReply, 9, 6)
        );
        // An ACK for a reply #7 does not unpause request #7.
        o.handle_ack(MessageType::AckReply, 7, 312, 250);
        assert!(o.next_frame(&config).unwrap().is_none());
        o.handle_ack(MessageType::AckRequest, 7, 208, 250);
        assert!(o.next_frame(&config).unwrap().is_some());
        assert_eq!(o.stats().ack_resumes, 1);
    }
}
