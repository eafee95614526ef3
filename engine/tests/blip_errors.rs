//! Every fatal BLIP error: the named error, its WebSocket close code, and stickiness (after it,
//! `handle_frame` returns the same error, `send_*` fail and nothing more is emitted).

use ferry_engine::blip::{
    Config, Connection, FrameFlags, FrameHeader, FrameWriter, Message, MessageType, ProtocolError,
    SendError, SendOptions,
};

/// A data frame with a correct running CRC, written by a fresh sender.
fn frame(kind: MessageType, number: u64, flags: u8, data: &[u8]) -> Vec<u8> {
    FrameWriter::new()
        .encode_frame(&FrameHeader::new(number, kind, flags), data)
        .unwrap()
}

fn request_frame(body: &[u8]) -> Vec<u8> {
    frame(
        MessageType::Request,
        1,
        0,
        &Message::request("x").with_body(body).encode().unwrap(),
    )
}

/// Feeds `frames` to a connection; the last one must fail with `expected` and close code
/// `code`; then checks stickiness.
fn assert_fatal(config: Config, frames: &[Vec<u8>], expected: &ProtocolError, code: u16) {
    let mut conn = Connection::new(config);
    // A request of ours, so replies #1 are expected and something is queued to send.
    conn.send_request(&Message::request("ping"), SendOptions::default())
        .unwrap();
    let (last, before) = frames.split_last().unwrap();
    for f in before {
        conn.handle_frame(f).unwrap();
    }
    let err = conn.handle_frame(last).unwrap_err();
    assert_eq!(&err, expected);
    assert_eq!(err.close_code(), code, "close code of {err}");
    // Sticky: the same error for any later frame, even a valid one.
    assert_eq!(conn.handle_frame(&request_frame(b"")), Err(err.clone()));
    assert_eq!(conn.error(), Some(&err));
    assert_eq!(conn.poll_frame(), None, "a frame after a fatal error");
    assert_eq!(conn.poll_event(), None, "an event after a fatal error");
    assert_eq!(
        conn.send_request(&Message::request("again"), SendOptions::default()),
        Err(SendError::Failed(err.clone()))
    );
    assert_eq!(
        conn.send_reply(1, &Message::new()),
        Err(SendError::Failed(err))
    );
}

fn protocol(frames: &[Vec<u8>], expected: ProtocolError) {
    assert_fatal(Config::default(), frames, &expected, 1002);
}

#[test]
fn truncated_varint() {
    protocol(
        &[vec![0x81]],
        ProtocolError::TruncatedVarint("message number"),
    );
    protocol(
        &[vec![0x01, 0x80]],
        ProtocolError::TruncatedVarint("frame flags"),
    );
    // An ACK whose byte count stops mid-varint.
    protocol(
        &[vec![0x01, 0x34, 0xff]],
        ProtocolError::TruncatedVarint("ACK byte count"),
    );
    // A message whose property length stops mid-varint.
    protocol(
        &[frame(MessageType::Request, 1, 0, &[0x80])],
        ProtocolError::TruncatedVarint("property block length"),
    );
}

#[test]
fn overflowing_varint() {
    let mut over = vec![0xff; 10];
    over.extend_from_slice(&[0, 0]);
    protocol(&[over], ProtocolError::OverflowingVarint("message number"));
    let mut props = vec![0xff; 9];
    props.push(0x7f);
    protocol(
        &[frame(MessageType::Request, 1, 0, &props)],
        ProtocolError::OverflowingVarint("property block length"),
    );
}

#[test]
fn crc_mismatch() {
    let mut f = request_frame(b"hello");
    let n = f.len();
    f[n - 1] ^= 0x01;
    let mut conn = Connection::new(Config::default());
    let err = conn.handle_frame(&f).unwrap_err();
    assert!(matches!(err, ProtocolError::CrcMismatch { .. }), "{err:?}");
    assert_fatal(Config::default(), &[f], &err, 1002);
    // A frame that is fine alone fails as the second of a stream: the CRC is running.
    let first = request_frame(b"a");
    let second = frame(
        MessageType::Request,
        2,
        0,
        &Message::request("x").encode().unwrap(),
    );
    let mut conn = Connection::new(Config::default());
    conn.handle_frame(&first).unwrap();
    assert!(matches!(
        conn.handle_frame(&second),
        Err(ProtocolError::CrcMismatch { .. })
    ));
}

#[test]
fn corrupt_deflate() {
    let f = vec![0x01, FrameFlags::COMPRESSED, 0xff, 0xfe, 0xfd, 0, 0, 0, 0];
    let err = Connection::new(Config::default())
        .handle_frame(&f)
        .unwrap_err();
    assert!(matches!(err, ProtocolError::BadDeflate(_)), "{err:?}");
    assert_fatal(Config::default(), &[f], &err, 1002);
}

#[test]
fn oversize_frame() {
    let mut config = Config::default();
    config.max_incoming_frame_size = 100;
    let f = request_frame(&[7; 200]);
    let expected = ProtocolError::FrameTooLarge {
        size: f.len(),
        limit: 100,
    };
    assert_fatal(config, &[f], &expected, 1009);
}

#[test]
fn oversize_properties() {
    let mut config = Config::default();
    config.max_properties_size = 16;
    let msg = Message::request("x").with_property("long", "0123456789abcdef");
    let f = frame(MessageType::Request, 1, 0, &msg.encode().unwrap());
    let expected = ProtocolError::PropertiesTooLarge {
        size: 32,
        limit: 16,
    };
    assert_fatal(config, &[f], &expected, 1009);
}

#[test]
fn oversize_message_is_refused_before_it_completes() {
    let mut config = Config::default();
    config.max_message_size = 10_000;
    let data = Message::request("x")
        .with_body(vec![1; 20_000])
        .encode()
        .unwrap();
    let mut w = FrameWriter::new();
    let more = FrameFlags::MORE_COMING;
    let frames: Vec<Vec<u8>> = data
        .chunks(4096)
        .take(3)
        .map(|c| {
            w.encode_frame(&FrameHeader::new(1, MessageType::Request, more), c)
                .unwrap()
        })
        .collect();
    let expected = ProtocolError::MessageTooLarge {
        size: 3 * 4096,
        limit: 10_000,
    };
    assert_fatal(config, &frames, &expected, 1009);
}

#[test]
fn compressed_bomb_is_refused() {
    let mut config = Config::default();
    config.max_message_size = 50_000;
    let data = Message::request("x")
        .with_body(vec![0; 1_000_000])
        .encode()
        .unwrap();
    let f = frame(MessageType::Request, 1, FrameFlags::COMPRESSED, &data);
    assert!(f.len() < 10_000, "a 100x bomb: {}", f.len());
    let expected = ProtocolError::MessageTooLarge {
        size: 50_001,
        limit: 50_000,
    };
    assert_fatal(config, &[f], &expected, 1009);
}

#[test]
fn incoming_buffer_bound() {
    let mut config = Config::default();
    config.max_incoming_buffered = 6_000;
    let mut w = FrameWriter::new();
    let more = FrameFlags::MORE_COMING;
    let data = vec![0u8; 4_000];
    let frames = vec![
        w.encode_frame(&FrameHeader::new(1, MessageType::Request, more), &data)
            .unwrap(),
        w.encode_frame(&FrameHeader::new(2, MessageType::Request, more), &data)
            .unwrap(),
    ];
    let expected = ProtocolError::IncomingBufferFull {
        size: 8_000,
        limit: 6_000,
    };
    assert_fatal(config, &frames, &expected, 1008);
}

#[test]
fn reply_to_unknown_request() {
    // We sent request #1 only: a reply to #2 is fatal, and so is an error reply to #7.
    protocol(
        &[frame(MessageType::Reply, 2, 0, &[0])],
        ProtocolError::ReplyToUnknownRequest(2),
    );
    protocol(
        &[frame(MessageType::Error, 7, 0, &[0])],
        ProtocolError::ReplyToUnknownRequest(7),
    );
    // A second reply to #1 after the first completed it.
    let mut w = FrameWriter::new();
    let frames = vec![
        w.encode_frame(&FrameHeader::new(1, MessageType::Reply, 0), &[0])
            .unwrap(),
        w.encode_frame(&FrameHeader::new(1, MessageType::Reply, 0), &[0])
            .unwrap(),
    ];
    protocol(&frames, ProtocolError::ReplyToUnknownRequest(1));
}

#[test]
fn no_reply_requests_get_no_replies() {
    let mut conn = Connection::new(Config::default());
    let options = SendOptions {
        no_reply: true,
        ..SendOptions::default()
    };
    assert_eq!(
        conn.send_request(&Message::request("fire-and-forget"), options),
        Ok(1)
    );
    assert_eq!(conn.pending_requests(), 0);
    let err = conn
        .handle_frame(&frame(MessageType::Reply, 1, 0, &[0]))
        .unwrap_err();
    assert_eq!(err, ProtocolError::ReplyToUnknownRequest(1));
    // And a received no-reply request cannot be answered.
    let mut conn = Connection::new(Config::default());
    let data = Message::request("x").encode().unwrap();
    conn.handle_frame(&frame(MessageType::Request, 1, FrameFlags::NO_REPLY, &data))
        .unwrap();
    assert!(conn.poll_event().is_some());
    assert_eq!(
        conn.send_reply(1, &Message::new()),
        Err(SendError::UnknownRequest(1))
    );
}

#[test]
fn bad_utf8_properties() {
    let data = [4, 0xc3, 0x28, 0, b'v', 0];
    protocol(
        &[frame(MessageType::Request, 1, 0, &data[..5])],
        ProtocolError::MissingNul,
    );
    let data = [5, 0xc3, 0x28, 0, b'v', 0];
    protocol(
        &[frame(MessageType::Request, 1, 0, &data)],
        ProtocolError::InvalidUtf8Property,
    );
}

#[test]
fn missing_nul() {
    let data = [3, b'k', 0, b'v'];
    protocol(
        &[frame(MessageType::Request, 1, 0, &data)],
        ProtocolError::MissingNul,
    );
    let data = [2, b'k', 0];
    protocol(
        &[frame(MessageType::Request, 1, 0, &data)],
        ProtocolError::UnpairedProperty("k".into()),
    );
    let data = [9, b'k', 0];
    protocol(
        &[frame(MessageType::Request, 1, 0, &data)],
        ProtocolError::TruncatedProperties {
            announced: 9,
            available: 2,
        },
    );
}

#[test]
fn unknown_type_and_flags() {
    protocol(
        &[vec![0x01, 0x03, 0, 0, 0, 0, 0]],
        ProtocolError::UnknownMessageType(3),
    );
    protocol(
        &[vec![0x01, 0x16, 0, 0, 0, 0, 0]],
        ProtocolError::UnknownMessageType(6),
    );
    protocol(
        &[vec![0x01, 0x80, 0x01, 0, 0, 0, 0]],
        ProtocolError::InvalidFlags(0x80),
    );
    protocol(&[vec![0x01, 0x00, 0, 0]], ProtocolError::TruncatedFrame(2));
}

#[test]
fn request_numbers_must_start_in_sequence() {
    let data = Message::request("x").encode().unwrap();
    protocol(
        &[frame(MessageType::Request, 2, 0, &data)],
        ProtocolError::UnexpectedRequestNumber {
            received: 2,
            expected: 1,
        },
    );
}

#[test]
fn a_message_cannot_change_type_mid_way() {
    let mut w = FrameWriter::new();
    let frames = vec![
        w.encode_frame(
            &FrameHeader::new(1, MessageType::Reply, FrameFlags::MORE_COMING),
            &[0],
        )
        .unwrap(),
        w.encode_frame(&FrameHeader::new(1, MessageType::Error, 0), &[])
            .unwrap(),
    ];
    protocol(&frames, ProtocolError::InconsistentFrame(1));
}

#[test]
fn send_errors_are_not_fatal() {
    let mut config = Config::default();
    config.max_outbox_bytes = 1_000;
    config.max_message_size = 800;
    let mut conn = Connection::new(config);
    let big = Message::request("x").with_body(vec![0; 900]);
    assert!(matches!(
        conn.send_request(&big, SendOptions::default()),
        Err(SendError::MessageTooLarge { limit: 800, .. })
    ));
    let half = Message::request("x").with_body(vec![0; 600]);
    assert_eq!(conn.send_request(&half, SendOptions::default()), Ok(1));
    assert!(matches!(
        conn.send_request(&half, SendOptions::default()),
        Err(SendError::OutboxFull { available: 389, .. })
    ));
    assert_eq!(
        conn.send_request(&Message::request("a\0b"), SendOptions::default()),
        Err(SendError::InvalidProperty("Profile".into()))
    );
    assert_eq!(
        conn.send_reply(5, &Message::new()),
        Err(SendError::UnknownRequest(5))
    );
    // Draining frees the space; the refused request did not use up a number.
    while conn.poll_frame().is_some() {}
    assert_eq!(conn.send_request(&half, SendOptions::default()), Ok(2));
    assert_eq!(conn.error(), None);
}
