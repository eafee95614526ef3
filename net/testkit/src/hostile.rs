//! Hostile input over real sockets: a peer Ferry does not control sends malformed upgrades,
//! WebSocket and BLIP framing errors, invalid replication requests, floods and bad TLS.
//!
//! Every case asserts a clear answer (an HTTP status, a WebSocket close code or a BLIP error
//! reply), that nothing from the hostile request was stored, and that a well-behaved continuous
//! replicator on another connection to the same listener keeps replicating (a new document it
//! writes reaches the listener's database after every case).

use std::time::{Duration, Instant};

use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    DEADLINE, TestCa, TestDb, memory, password, plain_listener, raw_connect, until_counts,
    wait_stopped,
};
use crate::within;
use ferry_engine::blip::{
    BlipError, Config as BlipConfig, Connection, Event, FrameFlags, FrameHeader, FrameWriter,
    Message, MessageType, SendOptions,
};
use ferry_net::api::{
    ConnectionError, ListenerConfig, ListenerLimits, ReplicatorAuthenticator, ReplicatorConfig,
};
use ferry_net::driver::{BoxStream, Listener, Replicator, Runtime};

/// `user:secret` in a Basic authorization header.
const GOOD_AUTH: &str = "Basic dXNlcjpzZWNyZXQ=";

/// A listener under attack, with a bystander: a continuous replicator on another connection.
struct Target<R: Runtime> {
    listener: Listener<R>,
    served: TestDb,
    bystander_db: TestDb,
    bystander: Replicator<R>,
    /// Documents the bystander has written (the listener must hold exactly these).
    written: u64,
}

impl<R: Runtime> Target<R> {
    /// A plain listener with password authentication and short handshake limits, and a
    /// bystander that has already replicated one document.
    async fn start(seed: u64, limits: impl FnOnce(&mut ListenerLimits)) -> Self {
        let served = memory("db", seed);
        let bystander_db = memory("bystander", seed + 1);
        let mut config = plain_listener(&served)
            .authenticator(password())
            .enable_delta_sync(true);
        config.limits.handshake_timeout = Duration::from_millis(500);
        limits(&mut config.limits);
        let listener = Listener::<R>::start(config).await.unwrap();
        let bystander = Replicator::<R>::new(
            ReplicatorConfig::new(bystander_db.handle.clone(), listener.urls()[0].clone())
                .continuous(true)
                .authenticator(ReplicatorAuthenticator::basic("user", "secret")),
        )
        .unwrap();
        bystander.start(false).unwrap();
        let mut target = Target {
            listener,
            served,
            bystander_db,
            bystander,
            written: 0,
        };
        target.unaffected("start").await;
        target
    }

    fn port(&self) -> u16 {
        self.listener.port()
    }

    /// After case `case`: nothing hostile was stored and the bystander still replicates.
    async fn unaffected(&mut self, case: &str) {
        let i = self.written;
        self.bystander_db.write(i..i + 1).await;
        self.written += 1;
        let what = format!("after {case}, the bystander's new document");
        until_counts::<R>(&[&self.served, &self.bystander_db], self.written, &what).await;
        let snapshot = self.served.snapshot().await;
        assert!(
            snapshot.keys().all(|id| id.starts_with("doc-")),
            "after {case}: the listener stored something hostile: {:?}",
            snapshot.keys().collect::<Vec<_>>()
        );
    }

    async fn stop(self) {
        self.bystander.stop().await.unwrap();
        self.listener.stop().await;
    }
}

/// How a raw connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// A WebSocket close frame with this code.
    Close(u16),
    /// The TCP connection ended without a close frame.
    Eof,
}

/// A hand-driven client: raw HTTP, raw WebSocket frames, and a BLIP connection for well-formed
/// messages.
struct RawPeer {
    stream: BoxStream,
    blip: Connection,
}

impl RawPeer {
    /// Sends `request` on a new connection; returns the stream and the answer's head.
    async fn http<R: Runtime>(port: u16, request: &[u8]) -> (BoxStream, String) {
        let mut stream = raw_connect::<R>(port).await;
        stream.write_all(request).await.unwrap();
        let mut head = Vec::new();
        let read = within::<R, _>(DEADLINE, async {
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
        })
        .await;
        assert!(read.is_some(), "no answer to the request");
        (stream, String::from_utf8_lossy(&head).into_owned())
    }

    /// An upgraded connection speaking `protocol`, authenticated as `user`.
    async fn connect<R: Runtime>(port: u16, protocol: &str) -> Self {
        let (stream, head) =
            Self::http::<R>(port, upgrade_request(protocol, GOOD_AUTH).as_bytes()).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        RawPeer {
            stream,
            blip: Connection::new(BlipConfig::default()),
        }
    }

    /// Sends one masked WebSocket frame.
    async fn send_ws(&mut self, opcode: u8, payload: &[u8]) {
        self.stream
            .write_all(&ws_frame(opcode, payload))
            .await
            .unwrap();
    }

    /// Sends one BLIP frame as a binary WebSocket message.
    async fn send_frame(&mut self, frame: &[u8]) {
        self.send_ws(0x2, frame).await;
    }

    /// Reads one WebSocket frame from the listener: `None` at the end of the stream.
    async fn read_ws(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).await.ok()?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).await.ok()?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        assert_eq!(head[1] & 0x80, 0, "a server never masks its frames");
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x0f, payload))
    }

    /// Reads (and discards) until the listener closes: the close code, or `Eof`.
    async fn ending<R: Runtime>(&mut self) -> Ending {
        let ending = within::<R, _>(DEADLINE, async {
            loop {
                match self.read_ws().await {
                    None => return Ending::Eof,
                    Some((0x8, payload)) if payload.len() >= 2 => {
                        return Ending::Close(u16::from_be_bytes([payload[0], payload[1]]));
                    }
                    Some((0x8, _)) => return Ending::Close(1005),
                    Some(_) => {}
                }
            }
        })
        .await;
        ending.expect("the listener neither closed nor ended the connection")
    }

    /// Sends a well-formed BLIP request and waits for its reply (or error reply).
    async fn request<R: Runtime>(&mut self, message: &Message) -> Result<Message, BlipError> {
        let number = self
            .blip
            .send_request(message, SendOptions::default())
            .unwrap();
        let reply = within::<R, _>(DEADLINE, async {
            loop {
                while let Some(frame) = self.blip.poll_frame() {
                    self.send_frame(&frame).await;
                }
                while let Some(event) = self.blip.poll_event() {
                    if let Event::ReplyReceived {
                        request_number,
                        reply,
                    } = event
                    {
                        if request_number == number {
                            return reply;
                        }
                    }
                }
                let (opcode, payload) = self.read_ws().await.expect("connection ended");
                assert_eq!(
                    opcode,
                    0x2,
                    "the listener sent a non-binary frame: {}",
                    String::from_utf8_lossy(&payload)
                );
                self.blip.handle_frame(&payload).unwrap();
            }
        })
        .await;
        reply.expect("no reply to the request")
    }

    /// Sends a request that must be refused with an error reply of `code`; the connection
    /// stays usable (the next request is answered).
    async fn refused<R: Runtime>(&mut self, message: &Message, code: i64, case: &str) {
        match self.request::<R>(message).await {
            Err(e) => assert_eq!(e.code, code, "{case}: {e:?}"),
            Ok(reply) => panic!("{case}: accepted: {reply:?}"),
        }
    }
}

/// An upgrade request for `/db/_blipsync` with the given subprotocol and authorization.
fn upgrade_request(protocol: &str, authorization: &str) -> String {
    format!(
        "GET /db/_blipsync HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocol}\r\n\
         Authorization: {authorization}\r\n\r\n"
    )
}

/// A masked client WebSocket frame (FIN set).
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend((n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend((n as u64).to_be_bytes());
        }
    }
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    frame.extend(mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// A BLIP data frame of message `number` of type `kind` with extra `flags`, carrying `data`.
fn blip_frame(
    writer: &mut FrameWriter,
    number: u64,
    kind: MessageType,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    writer
        .encode_frame(&FrameHeader::new(number, kind, flags), data)
        .unwrap()
}

/// The whole of request #1 carrying `data` (properties and body as encoded), one frame.
fn request_frame(data: &[u8]) -> Vec<u8> {
    blip_frame(&mut FrameWriter::new(), 1, MessageType::Request, 0, data)
}

/// Request #1 as `message` followed by 40 MiB more of its body, as WebSocket frames of one
/// never-finished BLIP message: more than a listener accepts.
fn oversized(message: &Message) -> Vec<Vec<u8>> {
    let mut writer = FrameWriter::new();
    let chunk = vec![b'x'; 16 << 10];
    let mut first = message.encode().unwrap();
    first.extend(&chunk);
    let mut frame = |data: &[u8]| {
        let blip = blip_frame(
            &mut writer,
            1,
            MessageType::Request,
            FrameFlags::MORE_COMING,
            data,
        );
        ws_frame(0x2, &blip)
    };
    let mut frames = vec![frame(&first)];
    frames.extend((0..(40 << 20) / chunk.len()).map(|_| frame(&chunk)));
    frames
}

/// A `rev` request (CBMobile_3: JSON body).
fn rev(id: &str, rev: &str, history: &str, body: impl Into<Vec<u8>>) -> Message {
    let mut message = Message::request("rev")
        .with_property("id", id)
        .with_property("rev", rev);
    if !history.is_empty() {
        message = message.with_property("history", history);
    }
    message.with_body(body)
}

/// A shared test body (see the module docs): malformed, unauthenticated, slow and excess
/// upgrade requests get HTTP answers (or a closed socket) and change nothing.
pub async fn hostile_upgrades_are_refused<R: Runtime>() {
    let mut target = Target::<R>::start(900, |limits| limits.max_connections = 3).await;
    let port = target.port();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "garbage bytes",
            "\x16\x03\x01\x00\x05hello\r\n\r\n".into(),
            "400",
        ),
        (
            "no Upgrade header",
            "GET /db/_blipsync HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            "426",
        ),
        (
            "wrong WebSocket version",
            upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH).replace("Version: 13", "Version: 8"),
            "426",
        ),
        (
            "no WebSocket key",
            upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH)
                .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            "400",
        ),
        (
            "wrong subprotocol",
            upgrade_request("BLIP_3+Chat_1", GOOD_AUTH),
            "400",
        ),
        (
            "unknown database",
            upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH).replace("/db/", "/nope/"),
            "404",
        ),
        (
            "no credentials",
            upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH)
                .replace(&format!("Authorization: {GOOD_AUTH}\r\n"), ""),
            "401",
        ),
        (
            "wrong password",
            upgrade_request("BLIP_3+CBMobile_3", "Basic dXNlcjp3cm9uZw=="),
            "401",
        ),
        (
            "malformed Authorization",
            upgrade_request("BLIP_3+CBMobile_3", "Basic !!!not-base64"),
            "401",
        ),
        (
            "oversized request head",
            upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH).replace(
                "Host: 127.0.0.1\r\n",
                &format!("Host: 127.0.0.1\r\nX-Padding: {}\r\n", "a".repeat(64 << 10)),
            ),
            "431",
        ),
    ];
    for (case, request, status) in cases {
        let (_, head) = RawPeer::http::<R>(port, request.as_bytes()).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{case}: expected {status}, got {head:?}"
        );
        target.unaffected(case).await;
    }

    // A slow upgrade: half a request, then nothing. The listener gives up after its handshake
    // timeout and closes the socket.
    let mut slow = raw_connect::<R>(port).await;
    slow.write_all(b"GET /db/_blipsync HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let answer = within::<R, _>(DEADLINE, slow.read(&mut buf)).await;
    let n = answer.expect("a slow upgrade is cut off").unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    target.unaffected("slow upgrade").await;

    // More connections than allowed: the bystander holds one, two raw peers take the rest
    // (a request answered on each proves the listener counts it), the next one is told to come
    // back later.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut peer = RawPeer::connect::<R>(port, "BLIP_3+CBMobile_3").await;
        let probe = Message::request("getCheckpoint").with_property("client", "probe");
        assert!(
            peer.request::<R>(&probe).await.is_err(),
            "no checkpoint yet"
        );
        held.push(peer);
    }
    let (_, head) = RawPeer::http::<R>(
        port,
        upgrade_request("BLIP_3+CBMobile_3", GOOD_AUTH).as_bytes(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 503"), "over the limit: {head}");
    drop(held);
    target.unaffected("too many connections").await;
    target.stop().await;
}

/// A shared test body (see the module docs): WebSocket and BLIP framing errors close the
/// connection with the matching close code.
pub async fn hostile_framing_is_closed_with_a_code<R: Runtime>() {
    let mut target = Target::<R>::start(910, |_| {}).await;
    let port = target.port();
    let props = |body: &[u8]| {
        Message::request("getCheckpoint")
            .with_property("client", "x")
            .with_body(body.to_vec())
            .encode()
            .unwrap()
    };

    let mut cases: Vec<(&str, Vec<Vec<u8>>, u16)> = Vec::new();
    cases.push(("text message", vec![ws_frame(0x1, b"hello")], 1002));
    // An unmasked client frame violates RFC 6455.
    cases.push(("unmasked frame", vec![vec![0x82, 0x02, 0x01, 0x02]], 1002));
    // A frame announcing 2^40 bytes.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend((1u64 << 40).to_be_bytes());
    huge.extend([1, 2, 3, 4]);
    cases.push(("oversized WebSocket frame", vec![huge], 1009));
    // A message number varint that never ends (ten continuation bytes).
    cases.push(("bad varint", vec![ws_frame(0x2, &[0xff; 11])], 1002));
    {
        let mut frame = request_frame(&props(b"{}"));
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        cases.push(("CRC mismatch", vec![ws_frame(0x2, &frame)], 1002));
    }
    {
        // Compressed flag over bytes that are not deflate.
        let mut frame = vec![0x01, FrameFlags::COMPRESSED];
        frame.extend([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00]);
        cases.push(("corrupt deflate", vec![ws_frame(0x2, &frame)], 1002));
    }
    {
        // A property block announcing 1 GiB.
        let mut data = vec![0x80, 0x80, 0x80, 0x80, 0x04];
        data.extend(b"profile\0rev\0");
        let frame = request_frame(&data);
        cases.push(("oversized properties", vec![ws_frame(0x2, &frame)], 1009));
    }
    cases.push((
        "oversized message",
        oversized(&Message::request("getCheckpoint").with_property("client", "x")),
        1009,
    ));
    {
        // A reply to request #7, which the listener never sent.
        let frame = blip_frame(
            &mut FrameWriter::new(),
            7,
            MessageType::Reply,
            0,
            &props(b""),
        );
        cases.push((
            "reply to an unknown request",
            vec![ws_frame(0x2, &frame)],
            1002,
        ));
    }
    {
        let frame = blip_frame(
            &mut FrameWriter::new(),
            5,
            MessageType::Request,
            0,
            &props(b""),
        );
        cases.push((
            "request number out of sequence",
            vec![ws_frame(0x2, &frame)],
            1002,
        ));
    }
    for (case, frames, code) in cases {
        let mut peer = RawPeer::connect::<R>(port, "BLIP_3+CBMobile_3").await;
        for frame in &frames {
            // The listener may close before the whole message is sent.
            if peer.stream.write_all(frame).await.is_err() {
                break;
            }
        }
        assert_eq!(peer.ending::<R>().await, Ending::Close(code), "{case}");
        target.unaffected(case).await;
    }

    // A truncated WebSocket frame, then the socket closes: the half frame is dropped.
    let mut peer = RawPeer::connect::<R>(port, "BLIP_3+CBMobile_3").await;
    let frame = ws_frame(0x2, &request_frame(&props(b"{}")));
    peer.stream
        .write_all(&frame[..frame.len() / 2])
        .await
        .unwrap();
    peer.stream.close().await.unwrap();
    drop(peer);
    target.unaffected("truncated frame").await;
    target.stop().await;
}

/// A shared test body (see the module docs): invalid replication requests get BLIP error
/// replies, store nothing, and leave the connection usable.
pub async fn hostile_replication_requests_are_refused<R: Runtime>() {
    let mut target = Target::<R>::start(920, |_| {}).await;
    let port = target.port();
    let mut peer = RawPeer::connect::<R>(port, "BLIP_3+CBMobile_3").await;
    let nested = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, Message, i64)> = vec![
        ("unknown profile", Message::request("launchMissiles"), 404),
        (
            "rev: malformed revision ID",
            rev("hostile-1", "banana", "", "{}"),
            400,
        ),
        ("rev: empty document ID", rev("", "1-abc", "", "{}"), 400),
        (
            "rev: history that is not a chain",
            rev("hostile-2", "3-cc", "1-aa,2-bb", "{}"),
            400,
        ),
        (
            "rev: generation gap",
            rev("hostile-3", "5-cc", "2-bb,1-aa", "{}"),
            400,
        ),
        (
            "rev: generation overflow",
            rev("hostile-4", "99999999999999999999999-cc", "", "{}"),
            400,
        ),
        (
            "rev: body that is not JSON",
            rev("hostile-5", "1-aa", "", "{not json"),
            400,
        ),
        (
            "rev: body that is not an object",
            rev("hostile-6", "1-aa", "", "[1,2]"),
            400,
        ),
        (
            "rev: deeply nested body",
            rev("hostile-7", "1-aa", "", nested),
            400,
        ),
        (
            "rev: oversized document ID",
            rev(&"h".repeat(1_000), "1-aa", "", "{}"),
            400,
        ),
        (
            "rev: delta against an unknown base",
            rev("hostile-8", "2-bb", "1-aa", r#"{"a":1}"#).with_property("deltaSrc", "1-aa"),
            422,
        ),
        (
            "setCheckpoint with a wrong rev",
            Message::request("setCheckpoint")
                .with_property("client", "hostile")
                .with_property("rev", "7-cp")
                .with_body(br#"{"local":1}"#.to_vec()),
            409,
        ),
        (
            "changes with a body that is not an array",
            Message::request("changes").with_body(br#"{"x":1}"#.to_vec()),
            400,
        ),
        (
            "getCheckpoint without a client",
            Message::request("getCheckpoint"),
            400,
        ),
    ];
    for (case, message, code) in cases {
        peer.refused::<R>(&message, code, case).await;
        target.unaffected(case).await;
    }
    // An oversized body: larger than the listener's message limit, closed with 1009.
    let mut big = RawPeer::connect::<R>(port, "BLIP_3+CBMobile_3").await;
    for frame in oversized(&rev("hostile-9", "1-aa", "", r#"{"x":""#)) {
        if big.stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    assert_eq!(
        big.ending::<R>().await,
        Ending::Close(1009),
        "oversized body"
    );
    target.unaffected("oversized body").await;

    // The Ferry profile: a body that is not CBOR.
    let mut ferry = RawPeer::connect::<R>(port, "BLIP_3+Ferry_1").await;
    ferry
        .refused::<R>(
            &rev("hostile-10", "1-aa", "", b"\xff\xfe".to_vec()),
            400,
            "not CBOR",
        )
        .await;
    target.unaffected("rev: body that is not CBOR").await;
    // And after all that, the hostile connection is still served for a good request.
    let reply = peer
        .request::<R>(&Message::request("getCheckpoint").with_property("client", "fine"))
        .await;
    assert!(
        matches!(reply, Err(BlipError { code: 404, .. })),
        "{reply:?}"
    );
    target.stop().await;
}

/// A shared test body (see the module docs): a peer that floods requests and never reads the
/// replies is closed once its unread replies pass the listener's bound.
pub async fn a_flood_of_unread_requests_is_bounded_and_closed<R: Runtime>() {
    let mut target = Target::<R>::start(930, |limits| {
        limits.max_backlog = 1 << 20;
        limits.stall_timeout = Duration::from_secs(1);
    })
    .await;
    let mut peer = RawPeer::connect::<R>(target.port(), "BLIP_3+CBMobile_3").await;
    let request = Message::request("getCheckpoint").with_property("client", "flood");
    let deadline = Instant::now() + DEADLINE;
    let mut sent = 0u64;
    // Write requests without reading until the listener stops reading them (our writes block
    // for 2 s: TCP back-pressure) or closes the connection.
    loop {
        assert!(
            Instant::now() < deadline,
            "{sent} requests were all accepted without back-pressure or a close"
        );
        peer.blip
            .send_request(&request, SendOptions::default())
            .unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = peer.blip.poll_frame() {
            frames.extend(ws_frame(0x2, &frame));
        }
        match within::<R, _>(Duration::from_secs(2), peer.stream.write_all(&frames)).await {
            Some(Ok(())) => sent += 1,
            None | Some(Err(_)) => break,
        }
    }
    // A 1 MiB backlog of ~60-byte replies, plus what the sockets buffer: far below the
    // millions a listener without the bound accepts in the same time.
    assert!(sent < 1_000_000, "{sent} requests before back-pressure");
    // The peer left the backlog full past the stall timeout: the listener closed it (1008), or
    // gave up on sending the close to a peer that reads nothing.
    let ending = peer.ending::<R>().await;
    assert!(
        matches!(ending, Ending::Close(1008) | Ending::Eof),
        "{ending:?}"
    );
    target.unaffected("flood").await;
    target.stop().await;
}

/// A TLS ClientHello record offering `version` (no supported_versions extension, so
/// `version` is the only one offered) with ECDHE suites, groups and signature schemes.
fn client_hello(version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend([7u8; 32]); // random
    body.push(0); // no session ID
    let suites: [u16; 6] = [0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8];
    body.extend(((suites.len() * 2) as u16).to_be_bytes());
    suites.iter().for_each(|s| body.extend(s.to_be_bytes()));
    body.extend([1, 0]); // null compression only
    let mut extensions = Vec::new();
    let mut extension = |kind: u16, data: &[u8]| {
        extensions.extend(kind.to_be_bytes());
        extensions.extend((data.len() as u16).to_be_bytes());
        extensions.extend(data);
    };
    extension(0x000a, &[0, 4, 0, 0x1d, 0, 0x17]); // groups: x25519, secp256r1
    extension(0x000b, &[1, 0]); // uncompressed points
    extension(
        0x000d,
        &[0, 12, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1], // ECDSA, PSS and PKCS#1 schemes
    );
    extension(0x0017, &[]); // extended master secret
    extension(0xff01, &[0]); // secure renegotiation
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![1, 0];
    handshake.extend((body.len() as u16).to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 3, 1];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// A shared test body (see the module docs): TLS clients offering only versions below 1.2 are
/// refused with a `protocol_version` alert; certificates that fail verification (expired, or
/// for another host) stop a verifying replicator with a TLS error, never retried.
pub async fn hostile_tls_is_refused<R: Runtime>() {
    let served = memory("db", 940);
    let dir = tempfile::tempdir().unwrap();
    let listener = Listener::<R>::start(
        ListenerConfig::new(served.handle.clone())
            .network_interface("127.0.0.1")
            .identity_dir(dir.path()),
    )
    .await
    .unwrap();
    // The same ClientHello offered as TLS 1.2 is answered with a ServerHello; offered as
    // TLS 1.0 (client_version 3.1, no supported_versions extension), with a fatal
    // protocol_version alert.
    for (version, answer_type) in [(0x0303u16, 0x16u8), (0x0301, 0x15)] {
        let mut stream = raw_connect::<R>(listener.port()).await;
        stream.write_all(&client_hello(version)).await.unwrap();
        let mut answer = [0u8; 7];
        within::<R, _>(DEADLINE, stream.read_exact(&mut answer))
            .await
            .expect("an answer to the ClientHello")
            .unwrap();
        assert_eq!(answer[0], answer_type, "{version:#x}: {answer:?}");
        if answer_type == 0x15 {
            assert_eq!(
                answer[5..],
                [2, 70],
                "a fatal protocol_version alert: {answer:?}"
            );
        }
    }
    listener.stop().await;

    let ca = TestCa::new("Hostile CA");
    for (case, identity) in [
        ("expired certificate", ca.expired_server()),
        (
            "certificate for another host",
            ca.server_for(&["ferry.example"]),
        ),
    ] {
        let served = memory("db", 941);
        let listener = Listener::<R>::start(
            ListenerConfig::new(served.handle.clone())
                .network_interface("127.0.0.1")
                .tls_identity(identity),
        )
        .await
        .unwrap();
        let client = memory("client", 942);
        client.write(0..3).await;
        let replicator = Replicator::<R>::new(
            ReplicatorConfig::new(client.handle.clone(), listener.urls()[0].clone())
                .trusted_root_certificates(vec![ca.der.clone()]),
        )
        .unwrap();
        replicator.start(false).unwrap();
        let status = wait_stopped(&replicator).await;
        match &status.error {
            Some(ConnectionError::Tls(reason)) => assert!(!reason.is_empty(), "{case}"),
            other => panic!("{case}: expected a TLS error, got {other:?}"),
        }
        assert_eq!(status.attempts, 1, "{case}: not retried");
        assert_eq!(served.count().await, 0, "{case}: nothing stored");
        listener.stop().await;
    }
}
