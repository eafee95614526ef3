//! The fuzz harness shared by `fuzz/fuzz_targets/blip_frames.rs` and the engine's corpus replay
//! test (`engine/tests/blip_fuzz_corpus.rs`), so the corpus runs on stable Rust in CI.

use super::{Config, Connection, Event, Message, ProtocolError, SendOptions};

/// Splits fuzz input into frames: each frame is a big-endian `u16` length then that many bytes
/// (a short last frame takes what is left).
#[must_use]
pub fn split_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        frames.push(&rest[2..end]);
        rest = &rest[end..];
    }
    frames
}

/// Joins frames in the format [`split_frames`] reads (frames over 65,535 bytes are cut).
#[must_use]
pub fn join_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        let frame = &frame[..frame.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// What [`fuzz_harness`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarnessReport {
    /// Frames fed to the connection.
    pub frames: usize,
    /// Events it emitted.
    pub events: usize,
    /// Frames it emitted.
    pub frames_out: usize,
    /// The fatal error, if one happened.
    pub fatal: Option<ProtocolError>,
}

/// Feeds `data`'s frames into a [`Connection`] (which first sends 512 requests, so replies
/// numbered 1–512 are expected), answering each request and draining every output. Panics if an
/// invariant breaks: a limit exceeded, a close code outside 1002/1008/1009, or a fatal error
/// that is not sticky.
pub fn fuzz_harness(data: &[u8]) -> HarnessReport {
    let mut report = HarnessReport::default();
    let config = Config {
        max_message_size: 1 << 20,
        max_incoming_buffered: 2 << 20,
        max_outbox_bytes: 4 << 20,
        ..Config::default()
    };
    let mut conn = Connection::new(config.clone());
    for i in 0..512u32 {
        let options = SendOptions {
            urgent: i % 3 == 0,
            compressed: i % 2 == 0,
            no_reply: false,
        };
        let sent = conn.send_request(&Message::request("fuzz"), options);
        assert_eq!(sent, Ok(u64::from(i) + 1));
    }
    let mut failure: Option<ProtocolError> = None;
    for frame in split_frames(data) {
        report.frames += 1;
        match conn.handle_frame(frame) {
            Ok(()) => assert!(failure.is_none(), "a fatal error was not sticky"),
            Err(err) => {
                assert!(
                    matches!(err.close_code(), 1002 | 1008 | 1009),
                    "unexpected close code for {err}"
                );
                if let Some(first) = &failure {
                    assert_eq!(first, &err, "a fatal error was not sticky");
                }
                failure = Some(err);
            }
        }
        assert!(conn.buffered_incoming() <= config.max_incoming_buffered);
        while let Some(event) = conn.poll_event() {
            assert!(failure.is_none(), "an event after a fatal error");
            report.events += 1;
            if let Event::RequestReceived {
                number,
                no_reply: false,
                message,
            } = event
            {
                let reply = Message::new().with_body(message.body);
                let _ = conn.send_reply(number, &reply);
            }
        }
        let mut frames = 0;
        while let Some(frame) = conn.poll_frame() {
            assert!(failure.is_none(), "a frame after a fatal error");
            frames += 1;
            report.frames_out += 1;
            assert!(frames < 10_000 && frame.len() <= 20_000, "runaway output");
        }
        assert!(conn.buffered_outgoing() <= config.max_outbox_bytes);
    }
    if let Some(err) = &failure {
        assert_eq!(conn.handle_frame(&[0, 0]).as_ref(), Err(err));
        assert_eq!(conn.error(), Some(err));
    }
    report.fatal = failure;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_join() {
        let frames: [&[u8]; 3] = [b"ab", b"", b"cde"];
        let joined = join_frames(frames);
        assert_eq!(joined, [0, 2, b'a', b'b', 0, 0, 0, 3, b'c', b'd', b'e']);
        assert_eq!(split_frames(&joined), frames);
        assert_eq!(split_frames(&[0, 9, 1]), [&[1u8][..]]);
        assert!(split_frames(&[7]).is_empty());
    }

    #[test]
    fn harness_reports_errors() {
        assert_eq!(fuzz_harness(&[]).fatal, None);
        let report = fuzz_harness(&join_frames([&[0x81u8][..], &[1, 0][..]]));
        assert_eq!(
            report.fatal,
            Some(ProtocolError::TruncatedVarint("message number"))
        );
        assert_eq!(report.frames, 2);
    }
}
