//! [`Connection`]: one BLIP connection as a sans-IO state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::error::{BlipError, ProtocolError, SendError};
use super::frame::{FrameFlags, FrameHeader, MessageType};
use super::message::{ERROR_CODE, ERROR_DOMAIN, Message};
use super::outbox::{Outbox, OutboxStats};
use super::reader::{FrameReader, Received};
use super::{Config, MessageNumber};

/// How to send a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Send in the urgent lane (its reply is urgent too).
    pub urgent: bool,
    /// Compress the message's frames with this direction's deflate stream.
    pub compressed: bool,
    /// The peer must not reply; no [`Event::ReplyReceived`] will follow.
    pub no_reply: bool,
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer sent a request (delivered whole). Unless `no_reply`, answer it with
    /// [`Connection::send_reply`] or [`Connection::send_error`].
    RequestReceived {
        /// The request's number, to reply with.
        number: MessageNumber,
        /// The request's properties and body.
        message: Message,
        /// The peer wants no reply.
        no_reply: bool,
    },
    /// The reply (or error) to one of our requests arrived (delivered whole).
    ReplyReceived {
        /// The number [`Connection::send_request`] returned.
        request_number: MessageNumber,
        /// The reply, or the error the peer sent instead.
        reply: Result<Message, BlipError>,
    },
}

/// One BLIP connection: frames in and out, requests and replies correlated, flow controlled.
///
/// After every [`Connection::handle_frame`] and every `send_*`, drain [`Connection::poll_event`]
/// and [`Connection::poll_frame`] until they return `None`. A fatal [`ProtocolError`] is sticky:
/// `handle_frame` returns it again, `send_*` fail with [`SendError::Failed`], and nothing more is
/// emitted; close the WebSocket with [`ProtocolError::close_code`].
#[derive(Debug)]
pub struct Connection {
    config: Config,
    reader: FrameReader,
    outbox: Outbox,
    events: VecDeque<Event>,
    next_request: MessageNumber,
    last_request_received: MessageNumber,
    /// Our requests awaiting a reply.
    awaiting_reply: BTreeSet<MessageNumber>,
    /// The peer's requests we must answer, with their flags.
    to_answer: BTreeMap<MessageNumber, FrameFlags>,
    failed: Option<ProtocolError>,
}

impl Connection {
    /// A new connection with the given limits.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            reader: FrameReader::new(&config),
            config,
            outbox: Outbox::new(),
            events: VecDeque::new(),
            next_request: 1,
            last_request_received: 0,
            awaiting_reply: BTreeSet::new(),
            to_answer: BTreeMap::new(),
            failed: None,
        }
    }

    /// The connection's configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one received frame (the payload of one binary WebSocket message).
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<(), ProtocolError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.process(frame)
            .inspect_err(|err| self.fail(err.clone()))
    }

    /// The next frame to send (the payload of one binary WebSocket message), if any may go now.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<Vec<u8>> {
        if self.failed.is_some() {
            return None;
        }
        match self.outbox.next_frame(&self.config) {
            Ok(frame) => frame,
            Err(err) => {
                self.fail(err);
                None
            }
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Queues a request; returns its number, which its reply will carry.
    pub fn send_request(
        &mut self,
        message: &Message,
        options: SendOptions,
    ) -> Result<MessageNumber, SendError> {
        let flags = FrameFlags::new(MessageType::Request)
            .with(FrameFlags::URGENT, options.urgent)
            .with(FrameFlags::COMPRESSED, options.compressed)
            .with(FrameFlags::NO_REPLY, options.no_reply);
        let number = self.next_request;
        self.enqueue(
            FrameHeader::new(number, MessageType::Request, flags.bits()),
            message,
        )?;
        self.next_request += 1;
        if !options.no_reply {
            self.awaiting_reply.insert(number);
        }
        Ok(number)
    }

    /// Queues the reply to request `request_number`. It goes in the request's lane and is
    /// compressed if the request was and the body is not empty.
    pub fn send_reply(
        &mut self,
        request_number: MessageNumber,
        message: &Message,
    ) -> Result<(), SendError> {
        self.answer(request_number, MessageType::Reply, message, None)
    }

    /// Queues the reply to request `request_number` in the request's lane, compressed if
    /// `compressed` and the body is not empty, whatever the request was (Couchbase Lite
    /// compresses a `getAttachment` reply when the request's `compress` property asks).
    pub fn send_reply_compressed(
        &mut self,
        request_number: MessageNumber,
        message: &Message,
        compressed: bool,
    ) -> Result<(), SendError> {
        self.answer(
            request_number,
            MessageType::Reply,
            message,
            Some(compressed),
        )
    }

    /// Queues an error reply to request `request_number`: `Error-Domain`, `Error-Code` and
    /// `message` as the body.
    pub fn send_error(
        &mut self,
        request_number: MessageNumber,
        domain: &str,
        code: i64,
        message: &str,
    ) -> Result<(), SendError> {
        let error = Message::new()
            .with_property(ERROR_DOMAIN, domain)
            .with_property(ERROR_CODE, code.to_string())
            .with_body(message.as_bytes());
        self.answer(request_number, MessageType::Error, &error, None)
    }

    /// Whether request `number` from the peer is awaiting our reply.
    #[must_use]
    pub fn is_awaiting_reply(&self, number: MessageNumber) -> bool {
        self.to_answer.contains_key(&number)
    }

    /// The number of our requests still waiting for their reply.
    #[must_use]
    pub fn pending_requests(&self) -> usize {
        self.awaiting_reply.len()
    }

    /// Unsent bytes in the outbox (bounded by [`Config::max_outbox_bytes`]).
    #[must_use]
    pub fn buffered_outgoing(&self) -> usize {
        self.outbox.buffered()
    }

    /// Free outbox space: the largest encoded message a `send_*` accepts now.
    #[must_use]
    pub fn outbox_available(&self) -> usize {
        self.config
            .max_outbox_bytes
            .saturating_sub(self.outbox.buffered())
    }

    /// Bytes held in partially received messages (bounded by
    /// [`Config::max_incoming_buffered`]).
    #[must_use]
    pub fn buffered_incoming(&self) -> usize {
        self.reader.buffered()
    }

    /// Whether an outgoing message is paused waiting for the peer's ACK.
    #[must_use]
    pub fn is_waiting_for_ack(&self) -> bool {
        self.outbox.has_paused(self.config.effective_window())
    }

    /// Counters of the outbox (frames, ACKs, pauses).
    #[must_use]
    pub fn stats(&self) -> OutboxStats {
        self.outbox.stats()
    }

    /// The fatal error, if one happened.
    #[must_use]
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    fn fail(&mut self, err: ProtocolError) {
        self.failed = Some(err);
        self.events.clear();
        self.outbox.clear();
    }

    fn answer(
        &mut self,
        request_number: MessageNumber,
        kind: MessageType,
        message: &Message,
        compressed: Option<bool>,
    ) -> Result<(), SendError> {
        let Some(request) = self.to_answer.get(&request_number).copied() else {
            return Err(self.failed_or(SendError::UnknownRequest(request_number)));
        };
        let flags = FrameFlags::new(kind)
            .with(FrameFlags::URGENT, request.urgent())
            .with(
                FrameFlags::COMPRESSED,
                compressed.unwrap_or(request.compressed()) && !message.body.is_empty(),
            );
        self.enqueue(
            FrameHeader::new(request_number, kind, flags.bits()),
            message,
        )?;
        self.to_answer.remove(&request_number);
        Ok(())
    }

    fn failed_or(&self, err: SendError) -> SendError {
        self.failed.clone().map_or(err, SendError::Failed)
    }

    fn enqueue(&mut self, header: FrameHeader, message: &Message) -> Result<(), SendError> {
        if let Some(err) = &self.failed {
            return Err(SendError::Failed(err.clone()));
        }
        let size = message.encoded_len();
        let limit = self
            .config
            .max_message_size
            .min(self.config.max_outbox_bytes);
        if size > limit {
            return Err(SendError::MessageTooLarge { size, limit });
        }
        let available = self.outbox_available();
        if size > available {
            return Err(SendError::OutboxFull {
                needed: size,
                available,
            });
        }
        let data = message.encode()?;
        self.outbox.push(header, data);
        Ok(())
    }

    fn process(&mut self, frame: &[u8]) -> Result<(), ProtocolError> {
        let (header, _) = FrameHeader::decode(frame)?;
        let (kind, number) = (header.kind, header.number);
        let new_request = kind == MessageType::Request && !self.reader.is_partial(kind, number);
        if new_request && number != self.last_request_received + 1 {
            return Err(ProtocolError::UnexpectedRequestNumber {
                received: number,
                expected: self.last_request_received + 1,
            });
        }
        if kind.is_reply()
            && !self.reader.is_partial(kind, number)
            && !self.awaiting_reply.contains(&number)
        {
            return Err(ProtocolError::ReplyToUnknownRequest(number));
        }
        let received = self.reader.handle_frame(frame)?;
        if new_request {
            self.last_request_received = number;
        }
        match received {
            Received::Message(incoming) => match incoming.kind {
                MessageType::Request => {
                    let no_reply = incoming.flags.no_reply();
                    if !no_reply {
                        self.to_answer.insert(number, incoming.flags);
                    }
                    self.events.push_back(Event::RequestReceived {
                        number,
                        message: incoming.message,
                        no_reply,
                    });
                }
                _ => {
                    self.awaiting_reply.remove(&number);
                    let reply = if incoming.kind == MessageType::Error {
                        Err(blip_error(&incoming.message))
                    } else {
                        Ok(incoming.message)
                    };
                    self.events.push_back(Event::ReplyReceived {
                        request_number: number,
                        reply,
                    });
                }
            },
            Received::Partial {
                ack_due: Some(bytes),
                ..
            } => {
                let ack = if kind.is_reply() {
                    MessageType::AckReply
                } else {
                    MessageType::AckRequest
                };
                self.outbox.push_ack(ack, number, bytes);
            }
            Received::Partial { ack_due: None, .. } => {}
            Received::Ack {
                kind,
                number,
                bytes,
                ..
            } => {
                self.outbox
                    .handle_ack(kind, number, bytes, self.config.effective_window());
            }
        }
        Ok(())
    }
}

fn blip_error(message: &Message) -> BlipError {
    BlipError {
        domain: message
            .property(ERROR_DOMAIN)
            .unwrap_or_default()
            .to_owned(),
        code: message
            .property(ERROR_CODE)
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0),
        message: String::from_utf8_lossy(&message.body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blip::codec::{DecodedFrame, FrameDecoder};

    /// Moves frames both ways until quiet; returns the events of each side.
    fn pump(a: &mut Connection, b: &mut Connection) -> (Vec<Event>, Vec<Event>) {
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        loop {
            let mut moved = false;
            while let Some(f) = a.poll_frame() {
                b.handle_frame(&f).unwrap();
                moved = true;
            }
            while let Some(f) = b.poll_frame() {
                a.handle_frame(&f).unwrap();
                moved = true;
            }
            ea.extend(std::iter::from_fn(|| a.poll_event()));
            eb.extend(std::iter::from_fn(|| b.poll_event()));
            if !moved {
                return (ea, eb);
            }
        }
    }

    #[test]
    fn requests_replies_and_errors_are_correlated() {
        let (mut a, mut b) = (
            Connection::new(Config::default()),
            Connection::new(Config::default()),
        );
        let n1 = a
            .send_request(&Message::request("one"), SendOptions::default())
            .unwrap();
        let n2 = a
            .send_request(&Message::request("two"), SendOptions::default())
            .unwrap();
        let n3 = a
            .send_request(
                &Message::request("three"),
                SendOptions {
                    no_reply: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((n1, n2, n3, a.pending_requests()), (1, 2, 3, 2));
        let (_, eb) = pump(&mut a, &mut b);
        assert_eq!(eb.len(), 3);
        assert!(matches!(
            &eb[2],
            Event::RequestReceived {
                number: 3,
                no_reply: true,
                ..
            }
        ));
        assert!(b.is_awaiting_reply(1) && b.is_awaiting_reply(2) && !b.is_awaiting_reply(3));
        b.send_error(2, "HTTP", 404, "missing").unwrap();
        b.send_reply(1, &Message::new().with_body("ok")).unwrap();
        assert_eq!(
            b.send_reply(1, &Message::new()),
            Err(SendError::UnknownRequest(1))
        );
        let (ea, _) = pump(&mut a, &mut b);
        let want_err = BlipError {
            domain: "HTTP".into(),
            code: 404,
            message: "missing".into(),
        };
        assert_eq!(
            ea,
            [
                Event::ReplyReceived {
                    request_number: 2,
                    reply: Err(want_err)
                },
                Event::ReplyReceived {
                    request_number: 1,
                    reply: Ok(Message::new().with_body("ok"))
                },
            ]
        );
        assert_eq!(a.pending_requests(), 0);
    }

    #[test]
    fn replies_inherit_lane_and_compression() {
        let (mut a, mut b) = (
            Connection::new(Config::default()),
            Connection::new(Config::default()),
        );
        let options = SendOptions {
            urgent: true,
            compressed: true,
            no_reply: false,
        };
        a.send_request(&Message::request("changes").with_body("[]"), options)
            .unwrap();
        a.send_request(&Message::request("changes").with_body("[]"), options)
            .unwrap();
        let _ = pump(&mut a, &mut b);
        b.send_reply(1, &Message::new().with_body("[0]")).unwrap();
        b.send_reply(2, &Message::new()).unwrap();
        let mut dec = FrameDecoder::new(1 << 16);
        let mut flags = Vec::new();
        while let Some(f) = b.poll_frame() {
            if let DecodedFrame::Data { header, .. } = dec.decode(&f, 1 << 16).unwrap() {
                flags.push(header.flags.bits());
            }
        }
        // As LiteCore: 0x19 (RPY|compressed|urgent) with a body, 0x11 for an empty one.
        assert_eq!(flags, [0x19, 0x11]);
    }

    #[test]
    fn big_messages_are_acked_and_paused() {
        let config = Config {
            max_unacked_bytes: 60_000,
            ..Config::default()
        };
        let (mut a, mut b) = (Connection::new(config.clone()), Connection::new(config));
        a.send_request(
            &Message::request("big").with_body(vec![7; 300_000]),
            SendOptions::default(),
        )
        .unwrap();
        // Without the peer's ACKs, the sender stops after ~60 KB.
        let mut sent = 0;
        while let Some(f) = a.poll_frame() {
            sent += f.len();
            b.handle_frame(&f).unwrap();
        }
        assert!((60_000..80_000).contains(&sent), "{sent}");
        assert!(a.is_waiting_for_ack());
        let ack = b.poll_frame().expect("an ACK is due");
        assert_eq!(&ack[..2], &[1, 0x34]);
        a.handle_frame(&ack).unwrap();
        assert!(!a.is_waiting_for_ack());
        let (_, eb) = pump(&mut a, &mut b);
        assert!(
            matches!(&eb[..], [Event::RequestReceived { message, .. }] if message.body.len() == 300_000)
        );
        assert_eq!(b.stats().acks_sent, 4, "ACKs at ~65, 131, 196 and 262 KB");
        assert!(a.stats().ack_pauses >= 1);
    }
}
