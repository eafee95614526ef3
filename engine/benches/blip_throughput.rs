//! BLIP throughput: framing + running CRC32, with and without deflate, through two
//! `Connection`s wired back to back (and the bare frame codec), in one thread.
//!
//! `cargo bench -p ferry-engine --bench blip_throughput` (release build). Prints MB/s of
//! message data (properties + body) per scenario; 1 MB = 10^6 bytes.
// A benchmark measures wall time and prints its table: the engine's bans don't apply here.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::time::{Duration, Instant};

use ferry_engine::blip::{
    Config, Connection, DecodedFrame, Event, FrameDecoder, FrameFlags, FrameHeader, FrameWriter,
    Message, MessageType, SendOptions,
};

const TOTAL: usize = 64 << 20;
const MESSAGE: usize = 64 << 10;

/// A JSON-ish, compressible body (like `rev` bodies).
fn json_body(size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size + 64);
    let mut i = 0u64;
    while out.len() < size {
        out.push_str(&format!(
            "{{\"_id\":\"doc-{i}\",\"type\":\"order\",\"qty\":{},\"price\":{}.{:02},\"tags\":[\"a\",\"b\"]}},",
            i % 17,
            i % 1000,
            i % 100
        ));
        i += 1;
    }
    out.truncate(size);
    out.into_bytes()
}

/// Incompressible bytes.
fn noise(size: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn pair(body: &[u8], compressed: bool) -> (Duration, usize, usize) {
    let (mut a, mut b) = (
        Connection::new(Config::default()),
        Connection::new(Config::default()),
    );
    let msg = Message::request("rev")
        .with_property("id", "doc")
        .with_body(body.to_vec());
    let count = TOTAL / body.len();
    let options = SendOptions {
        compressed,
        no_reply: true,
        ..SendOptions::default()
    };
    let (mut sent, mut received, mut wire) = (0, 0, 0);
    let start = Instant::now();
    while received < count {
        while sent < count && a.send_request(&msg, options).is_ok() {
            sent += 1;
        }
        while let Some(f) = a.poll_frame() {
            wire += f.len();
            b.handle_frame(&f).expect("valid frame");
        }
        while let Some(e) = b.poll_event() {
            if let Event::RequestReceived { message, .. } = e {
                assert_eq!(message.body.len(), body.len());
                received += 1;
            }
        }
        while let Some(f) = b.poll_frame() {
            a.handle_frame(&f).expect("valid ACK");
        }
    }
    (start.elapsed(), count * msg.encoded_len(), wire)
}

fn codec(body: &[u8], compressed: bool) -> (Duration, usize, usize) {
    let (mut w, mut d) = (FrameWriter::new(), FrameDecoder::new(1 << 20));
    let flags = if compressed {
        FrameFlags::COMPRESSED
    } else {
        0
    };
    let (mut bytes, mut wire) = (0, 0);
    let start = Instant::now();
    let mut n = 0;
    while bytes < TOTAL {
        for chunk in body.chunks(16384) {
            n += 1;
            let frame = w
                .encode_frame(&FrameHeader::new(n, MessageType::Request, flags), chunk)
                .unwrap();
            wire += frame.len();
            match d.decode(&frame, 1 << 20).unwrap() {
                DecodedFrame::Data { data, .. } => assert_eq!(data.len(), chunk.len()),
                DecodedFrame::Ack { .. } => unreachable!(),
            }
            bytes += chunk.len();
        }
    }
    (start.elapsed(), bytes, wire)
}

fn main() {
    let json = json_body(MESSAGE);
    let random = noise(MESSAGE);
    println!(
        "BLIP throughput, {} MiB of {} KiB messages per scenario (one thread)",
        TOTAL >> 20,
        MESSAGE >> 10
    );
    println!("{:<44} {:>10} {:>12}", "scenario", "MB/s", "wire/data");
    let rows: Vec<(&str, (Duration, usize, usize))> = vec![
        ("codec: frame + CRC, uncompressed", codec(&json, false)),
        ("codec: frame + CRC + deflate, JSON", codec(&json, true)),
        ("codec: frame + CRC + deflate, random", codec(&random, true)),
        ("connection pair: uncompressed", pair(&json, false)),
        ("connection pair: deflate, JSON", pair(&json, true)),
        ("connection pair: deflate, random", pair(&random, true)),
    ];
    for (name, (elapsed, bytes, wire)) in rows {
        let mbps = bytes as f64 / elapsed.as_secs_f64() / 1e6;
        println!(
            "{name:<44} {mbps:>10.1} {:>12.3}",
            wire as f64 / bytes as f64
        );
        println!(
            "BENCH blip_throughput scenario=\"{name}\" mb_per_s={mbps:.1} bytes={bytes} wire_bytes={wire}"
        );
    }
}
