//! BLIP decoding and encoding checked against the LiteCore 3.0 recordings in
//! `../shared/vectors/litecore-3.0` (see its README for the decoding rules).

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use ferry_engine::blip::{
    Config, Connection, DecodedFrame, Event, FrameDecoder, FrameFlags, FrameHeader, FrameReader,
    FrameWriter, IncomingMessage, Message, MessageType, Received, SendOptions,
};
use serde_json::{Value, json};

const SCENARIOS: [&str; 7] = [
    "push-3",
    "pull-2",
    "pushpull-edits",
    "delta",
    "blob",
    "big",
    "continuous",
];

/// (connection, direction)
type Stream = (u64, String);

struct Scenario {
    name: &'static str,
    /// Frames per stream, in order.
    frames: BTreeMap<Stream, Vec<Vec<u8>>>,
    /// Expected messages per stream, in completion order.
    expected: BTreeMap<Stream, Vec<Value>>,
    /// Expected messages in the file's global order.
    all_expected: Vec<Value>,
}

fn load(name: &'static str) -> Scenario {
    let frames_text =
        std::fs::read_to_string(support::litecore_vector(&format!("{name}.frames.jsonl")))
            .expect("read frames");
    let mut frames: BTreeMap<Stream, Vec<Vec<u8>>> = BTreeMap::new();
    for line in frames_text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("frame line is JSON");
        let key = (
            v["conn"].as_u64().unwrap(),
            v["dir"].as_str().unwrap().to_owned(),
        );
        frames
            .entry(key)
            .or_default()
            .push(hex::decode(v["hex"].as_str().unwrap()).unwrap());
    }
    let messages_text =
        std::fs::read_to_string(support::litecore_vector(&format!("{name}.messages.json")))
            .expect("read messages");
    let all_expected: Vec<Value> = serde_json::from_str(&messages_text).expect("messages JSON");
    let mut expected: BTreeMap<Stream, Vec<Value>> = BTreeMap::new();
    for m in &all_expected {
        let key = (
            m["conn"].as_u64().unwrap(),
            m["dir"].as_str().unwrap().to_owned(),
        );
        expected.entry(key).or_default().push(m.clone());
    }
    Scenario {
        name,
        frames,
        expected,
        all_expected,
    }
}

/// The body as the vectors write it: parsed JSON if it is JSON, else `{"hex": ...}`.
fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| json!({ "hex": hex::encode(body) }))
}

fn properties_value(message: &Message) -> Vec<(String, String)> {
    message
        .properties
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn expected_properties(expected: &Value) -> Vec<(String, String)> {
    expected["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn assert_message(ctx: &str, got: &IncomingMessage, frame_flags: &[u8], expected: &Value) {
    assert_eq!(got.kind.wire_name(), expected["type"], "{ctx}: type");
    assert_eq!(
        got.number,
        expected["number"].as_u64().unwrap(),
        "{ctx}: number"
    );
    assert_eq!(
        u64::from(got.flags.bits()),
        expected["flags"].as_u64().unwrap(),
        "{ctx}: flags"
    );
    assert_eq!(
        got.frames as u64,
        expected["frames"].as_u64().unwrap(),
        "{ctx}: frame count"
    );
    if let Some(ff) = expected.get("frame_flags") {
        let ff: Vec<u8> = ff
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(frame_flags, ff.as_slice(), "{ctx}: per-frame flags");
    }
    assert_eq!(
        properties_value(&got.message),
        expected_properties(expected),
        "{ctx}: properties"
    );
    let body = &got.message.body;
    let want = &expected["body"];
    if let Some(hex_body) = want
        .get("hex")
        .and_then(Value::as_str)
        .filter(|_| want.as_object().unwrap().len() == 1)
    {
        if body_value(body) != *want {
            assert_eq!(hex::encode(body), hex_body, "{ctx}: body bytes");
        }
    } else {
        let parsed: Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{ctx}: body is not JSON ({e}) but expected {want}"));
        assert_eq!(&parsed, want, "{ctx}: JSON body");
    }
}

#[derive(Default)]
struct Totals {
    frames: usize,
    crcs: usize,
    messages: usize,
    acks: usize,
}

/// Decodes one stream with a fresh `FrameReader` and checks it against the expected messages.
/// Returns the decoded messages (ACKs excluded).
fn decode_stream(
    ctx: &str,
    frames: &[Vec<u8>],
    expected: &[Value],
    totals: &mut Totals,
) -> Vec<IncomingMessage> {
    let mut reader = FrameReader::new(&Config::default());
    let mut frame_flags: BTreeMap<(bool, u64), Vec<u8>> = BTreeMap::new();
    let mut expected = expected.iter();
    let mut decoded = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let ctx = format!("{ctx} frame {i}");
        let (header, _) = FrameHeader::decode(frame).expect("header");
        let received = reader
            .handle_frame(frame)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        totals.frames += 1;
        if !header.kind.is_ack() {
            // A data frame decoded without error had its CRC verified.
            totals.crcs += 1;
            frame_flags
                .entry((header.kind.is_reply(), header.number))
                .or_default()
                .push(header.flags.bits());
        }
        match received {
            Received::Partial { .. } => {}
            Received::Ack {
                kind,
                number,
                flags,
                bytes,
            } => {
                let want = expected
                    .next()
                    .unwrap_or_else(|| panic!("{ctx}: unexpected ACK"));
                assert_eq!(kind.wire_name(), want["type"], "{ctx}");
                assert_eq!(number, want["number"].as_u64().unwrap(), "{ctx}");
                assert_eq!(
                    u64::from(flags.bits()),
                    want["flags"].as_u64().unwrap(),
                    "{ctx}"
                );
                assert_eq!(want["frames"], 1, "{ctx}");
                assert_eq!(
                    bytes,
                    want["body"]["ackBytes"].as_u64().unwrap(),
                    "{ctx}: ackBytes"
                );
                totals.acks += 1;
            }
            Received::Message(m) => {
                let want = expected
                    .next()
                    .unwrap_or_else(|| panic!("{ctx}: unexpected message"));
                let ff = frame_flags
                    .remove(&(m.kind.is_reply(), m.number))
                    .unwrap_or_default();
                assert_message(&ctx, &m, &ff, want);
                totals.messages += 1;
                decoded.push(m);
            }
        }
    }
    assert!(
        expected.next().is_none(),
        "{ctx}: expected messages left over"
    );
    assert_eq!(
        reader.partial_count(),
        0,
        "{ctx}: partial messages left over"
    );
    decoded
}

#[test]
fn every_recorded_frame_decodes_to_the_recorded_messages() {
    let mut totals = Totals::default();
    let mut expected_total = 0;
    for name in SCENARIOS {
        let s = load(name);
        expected_total += s.all_expected.len();
        assert_eq!(
            s.frames.keys().collect::<Vec<_>>(),
            s.expected.keys().collect::<Vec<_>>(),
            "{name}: streams"
        );
        for (key, frames) in &s.frames {
            let ctx = format!("{} conn {} {}", s.name, key.0, key.1);
            decode_stream(&ctx, frames, &s.expected[key], &mut totals);
        }
    }
    assert_eq!(totals.frames, 791, "frames decoded");
    assert_eq!(totals.crcs, 789, "CRCs verified");
    assert_eq!(totals.acks, 2, "ACK frames");
    assert_eq!(
        totals.messages + totals.acks,
        expected_total,
        "messages decoded"
    );
}

/// Frame-level round trip: every recorded frame decoded with `FrameDecoder` and re-encoded with
/// a `FrameWriter` gives back the identical bytes when uncompressed (so Ferry's running CRC
/// equals LiteCore's, across compressed frames too) and decodes to the same messages when
/// compressed. Every message's data re-encoded by `Message::encode` is byte-identical.
#[test]
fn reencoded_frames_round_trip_and_match_litecore_bytes() {
    let (mut identical, mut compressed) = (0, 0);
    for name in SCENARIOS {
        let s = load(name);
        for (key, frames) in &s.frames {
            let ctx = format!("{name} conn {} {}", key.0, key.1);
            let mut decoder = FrameDecoder::new(1 << 20);
            let mut writer = FrameWriter::new();
            let mut rewritten = Vec::new();
            let mut data_by_message: BTreeMap<(bool, u64), Vec<u8>> = BTreeMap::new();
            let mut message_data = Vec::new();
            for frame in frames {
                match decoder.decode(frame, 1 << 24).unwrap() {
                    DecodedFrame::Ack { header, bytes } => {
                        let again = FrameWriter::encode_ack(header.kind, header.number, bytes);
                        assert_eq!(&again, frame, "{ctx}: ACK bytes");
                        rewritten.push(again);
                    }
                    DecodedFrame::Data { header, data, .. } => {
                        let again = writer.encode_frame(&header, &data).unwrap();
                        if header.flags.compressed() {
                            compressed += 1;
                        } else {
                            assert_eq!(&again, frame, "{ctx}: uncompressed frame bytes");
                            identical += 1;
                        }
                        let key = (header.kind.is_reply(), header.number);
                        data_by_message
                            .entry(key)
                            .or_default()
                            .extend_from_slice(&data);
                        if !header.flags.more_coming() {
                            message_data.push(data_by_message.remove(&key).unwrap());
                        }
                        rewritten.push(again);
                    }
                }
            }
            let mut totals = Totals::default();
            let decoded = decode_stream(&ctx, &rewritten, &s.expected[key], &mut totals);
            assert_eq!(decoded.len(), message_data.len());
            for (m, data) in decoded.iter().zip(&message_data) {
                assert_eq!(
                    &m.message.encode().unwrap(),
                    data,
                    "{ctx}: message #{} data",
                    m.number
                );
            }
        }
    }
    assert!(
        identical > 300 && compressed > 300,
        "{identical} identical, {compressed} compressed"
    );
}

fn send_options(flags: u64) -> SendOptions {
    let flags = FrameFlags::from_bits(flags as u8);
    SendOptions {
        urgent: flags.urgent(),
        compressed: flags.compressed(),
        no_reply: flags.no_reply(),
    }
}

/// Moves every frame from `from` to `to`, until both are quiet; returns the events of each.
fn pump(a: &mut Connection, b: &mut Connection, events: &mut [Vec<Event>; 2]) {
    loop {
        let mut moved = false;
        while let Some(frame) = a.poll_frame() {
            b.handle_frame(&frame).unwrap();
            moved = true;
        }
        while let Some(frame) = b.poll_frame() {
            a.handle_frame(&frame).unwrap();
            moved = true;
        }
        while let Some(e) = a.poll_event() {
            events[0].push(e);
        }
        while let Some(e) = b.poll_event() {
            events[1].push(e);
        }
        if !moved {
            return;
        }
    }
}

/// Message-level round trip: each connection of each recording is replayed through two Ferry
/// `Connection`s (requests in number order with the recorded options, replies and errors once
/// their request arrived); every message arrives with the recorded number, properties and body.
#[test]
fn recorded_sessions_replay_through_ferry_connections() {
    let (mut checked, mut expected_count) = (0, 0);
    for name in SCENARIOS {
        let s = load(name);
        let mut decoded: BTreeMap<Stream, Vec<IncomingMessage>> = BTreeMap::new();
        for (key, frames) in &s.frames {
            let ctx = format!("{name} conn {} {}", key.0, key.1);
            let all = decode_stream(&ctx, frames, &s.expected[key], &mut Totals::default());
            expected_count += all.len();
            decoded.insert(key.clone(), all);
        }
        let conns: std::collections::BTreeSet<u64> = s.frames.keys().map(|k| k.0).collect();
        for conn in conns {
            // Side 0 is the active peer (sends c2s), side 1 the passive one.
            let mut sides = [
                Connection::new(Config::default()),
                Connection::new(Config::default()),
            ];
            let mut events: [Vec<Event>; 2] = [Vec::new(), Vec::new()];
            // What each side should receive: (receiver, is reply, number) -> message.
            let mut awaited: BTreeMap<(usize, bool, u64), &IncomingMessage> = BTreeMap::new();
            for (sender, dir) in ["c2s", "s2c"].iter().enumerate() {
                for m in decoded
                    .get(&(conn, (*dir).to_owned()))
                    .into_iter()
                    .flatten()
                {
                    awaited.insert((1 - sender, m.kind.is_reply(), m.number), m);
                }
            }
            for (sender, dir) in ["c2s", "s2c"].iter().enumerate() {
                let mut requests: Vec<&IncomingMessage> = decoded
                    .get(&(conn, (*dir).to_owned()))
                    .into_iter()
                    .flatten()
                    .filter(|m| m.kind == MessageType::Request)
                    .collect();
                requests.sort_by_key(|m| m.number);
                for msg in requests {
                    let n = sides[sender]
                        .send_request(&msg.message, send_options(u64::from(msg.flags.bits())))
                        .unwrap();
                    assert_eq!(n, msg.number, "{name} conn {conn} {dir}: request numbering");
                }
            }
            // Pump; answer each request as recorded once it has arrived; repeat until quiet.
            loop {
                let (a, b) = sides.split_at_mut(1);
                pump(&mut a[0], &mut b[0], &mut events);
                let mut progressed = false;
                for receiver in 0..2 {
                    for event in std::mem::take(&mut events[receiver]) {
                        progressed = true;
                        let (is_reply, number) = match &event {
                            Event::RequestReceived { number, .. } => (false, *number),
                            Event::ReplyReceived { request_number, .. } => (true, *request_number),
                            other => panic!("unexpected {other:?}"),
                        };
                        let ctx = format!("{name} conn {conn} to side {receiver} #{number}");
                        let msg = awaited
                            .remove(&(receiver, is_reply, number))
                            .unwrap_or_else(|| panic!("{ctx}: not expected"));
                        match event {
                            Event::RequestReceived {
                                message, no_reply, ..
                            } => {
                                assert_eq!(no_reply, msg.flags.no_reply(), "{ctx}");
                                assert_eq!(message, msg.message, "{ctx}");
                                // Answer as recorded, if the recording has the answer.
                                let answer = awaited.get(&(1 - receiver, true, number)).copied();
                                match answer.map(|a| (a.kind, &a.message)) {
                                    Some((MessageType::Reply, m)) => {
                                        sides[receiver].send_reply(number, m).unwrap();
                                    }
                                    Some((_, m)) => {
                                        let code =
                                            m.property("Error-Code").unwrap().parse().unwrap();
                                        let body = String::from_utf8(m.body.clone()).unwrap();
                                        let domain = m.property("Error-Domain").unwrap();
                                        sides[receiver]
                                            .send_error(number, domain, code, &body)
                                            .unwrap();
                                    }
                                    None => assert!(no_reply, "{ctx}: recording lacks the reply"),
                                }
                            }
                            Event::ReplyReceived {
                                reply: Ok(message), ..
                            } => {
                                assert_eq!(msg.kind, MessageType::Reply, "{ctx}");
                                assert_eq!(message, msg.message, "{ctx}");
                            }
                            Event::ReplyReceived {
                                reply: Err(err), ..
                            } => {
                                assert_eq!(msg.kind, MessageType::Error, "{ctx}");
                                let p = &msg.message;
                                assert_eq!(Some(err.domain.as_str()), p.property("Error-Domain"));
                                assert_eq!(
                                    Some(err.code.to_string().as_str()),
                                    p.property("Error-Code")
                                );
                                assert_eq!(err.message.as_bytes(), p.body.as_slice());
                            }
                            other => panic!("{ctx}: unexpected {other:?}"),
                        }
                        checked += 1;
                    }
                }
                if !progressed {
                    break;
                }
            }
            assert!(
                awaited.is_empty(),
                "{name} conn {conn}: never arrived: {:?}",
                awaited.keys()
            );
            assert!(
                sides.iter().all(|c| c.pending_requests() == 0),
                "{name} conn {conn}"
            );
        }
    }
    assert_eq!(checked, expected_count, "messages replayed");
    assert!(checked > 700);
}

/// zlib's own raw inflate (through python3) accepts the compressed stream Ferry writes, frame by
/// frame with `00 00 FF FF` put back, and so does Ferry's decoder.
#[test]
fn ferry_deflate_stream_is_accepted_by_zlib() {
    // Real payloads: every body of the `blob` and `delta` recordings, several times over.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for name in ["blob", "delta", "pushpull-edits"] {
        let s = load(name);
        for (key, frames) in &s.frames {
            let all = decode_stream(name, frames, &s.expected[key], &mut Totals::default());
            payloads.extend(all.iter().map(|m| m.message.encode().unwrap()));
        }
    }
    payloads.push(vec![0u8; 100_000]);
    payloads.push(
        (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    );
    let mut writer = FrameWriter::new();
    let mut decoder = FrameDecoder::new(1 << 20);
    let mut deflate_chunks: Vec<Vec<u8>> = Vec::new();
    let mut input = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        for chunk in payload.chunks(4096) {
            let header =
                FrameHeader::new(i as u64 + 1, MessageType::Request, FrameFlags::COMPRESSED);
            let frame = writer.encode_frame(&header, chunk).unwrap();
            let body = &frame[header.encoded_len()..frame.len() - 4];
            assert!(
                !body.ends_with(&[0, 0, 0xff, 0xff]),
                "trailer must be stripped"
            );
            let mut with_trailer = body.to_vec();
            with_trailer.extend_from_slice(&[0, 0, 0xff, 0xff]);
            deflate_chunks.push(with_trailer);
            match decoder.decode(&frame, 1 << 20).unwrap() {
                DecodedFrame::Data { data, .. } => assert_eq!(data, chunk),
                other => panic!("{other:?}"),
            }
            input.extend_from_slice(chunk);
        }
    }
    let script = "import sys, zlib\n\
        d = zlib.decompressobj(-15)\n\
        data = sys.stdin.buffer.read()\n\
        out = bytearray()\n\
        i = 0\n\
        while i < len(data):\n\
        \x20   n = int.from_bytes(data[i:i+4], 'big'); i += 4\n\
        \x20   out += d.decompress(data[i:i+n]); i += n\n\
        sys.stdout.buffer.write(bytes(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is required by this test (it runs zlib's raw inflate) and was not found on PATH");
    let mut stdin = child.stdin.take().unwrap();
    let feed = deflate_chunks.clone();
    let writer_thread = std::thread::spawn(move || {
        for c in &feed {
            stdin.write_all(&(c.len() as u32).to_be_bytes()).unwrap();
            stdin.write_all(c).unwrap();
        }
    });
    let output = child.wait_with_output().expect("python3 ran");
    writer_thread.join().unwrap();
    assert!(
        output.status.success(),
        "python3 zlib inflate failed: {output:?}"
    );
    assert_eq!(output.stdout.len(), input.len(), "zlib output length");
    assert!(output.stdout == input, "zlib inflated different bytes");
    assert!(deflate_chunks.len() > 50);
}

/// Every recorded stream fed whole into a Ferry `Connection` (which first sent as many requests
/// as the stream answers) is accepted: LiteCore's request numbering, replies, ACKs and
/// interleaving all pass Ferry's checks. Receiving the `big` push, Ferry sends exactly the ACK
/// frames LiteCore sent (same byte counts, same bytes).
#[test]
fn recorded_streams_are_accepted_by_a_connection_that_acks_like_litecore() {
    let mut acks_compared = 0;
    for name in SCENARIOS {
        let s = load(name);
        for (key, frames) in &s.frames {
            let ctx = format!("{name} conn {} {}", key.0, key.1);
            let expected = &s.expected[key];
            let replies = expected
                .iter()
                .filter(|m| m["type"] == "RPY" || m["type"] == "ERR");
            let max_reply = replies
                .filter_map(|m| m["number"].as_u64())
                .max()
                .unwrap_or(0);
            let mut conn = Connection::new(Config::default());
            for _ in 0..max_reply {
                conn.send_request(&Message::request("placeholder"), SendOptions::default())
                    .unwrap();
            }
            // ACK frames jump the outbox queue: an ACK due after a frame is the next frame out.
            let mut events = 0;
            let mut acks_out = Vec::new();
            for frame in frames {
                conn.handle_frame(frame)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                events += std::iter::from_fn(|| conn.poll_event()).count();
                if let Some(f) = conn.poll_frame() {
                    let (h, _) = FrameHeader::decode(&f).unwrap();
                    if h.kind.is_ack() {
                        acks_out.push(f);
                    }
                }
            }
            let data_messages = expected
                .iter()
                .filter(|m| !m["type"].as_str().unwrap().starts_with("ACK"));
            assert_eq!(events, data_messages.count(), "{ctx}: events");
            // The ACKs LiteCore sent back for this stream, from the opposite direction.
            let back = (key.0, if key.1 == "c2s" { "s2c" } else { "c2s" }.to_owned());
            let litecore_acks: Vec<&Vec<u8>> = s.frames[&back]
                .iter()
                .filter(|f| FrameHeader::decode(f).is_ok_and(|(h, _)| h.kind.is_ack()))
                .collect();
            assert_eq!(acks_out.len(), litecore_acks.len(), "{ctx}: ACK count");
            for (ours, theirs) in acks_out.iter().zip(litecore_acks) {
                assert_eq!(ours, theirs, "{ctx}: ACK frame");
                acks_compared += 1;
            }
        }
    }
    assert_eq!(acks_compared, 2, "the `big` recording has two ACKs");
}
