//! Two BLIP `Connection`s wired back to back through a lossless, reordering-free link that
//! delivers frames in random batches: ≥ 1,000 requests of random sizes (up to 1 MiB), compressed
//! or not, urgent or not, with and without replies (some as errors), all seeded and
//! deterministic.

use std::collections::{BTreeMap, VecDeque};

use ferry_engine::blip::{Config, Connection, Event, Message, SendError, SendOptions};

/// xorshift64*: the test's only source of randomness, seeded.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A body that can be regenerated from (id, size): text-like and compressible for even ids,
/// noise for odd ones.
fn body(id: u64, size: usize) -> Vec<u8> {
    if id % 2 == 0 {
        let unit = format!("ferry message {id} says hello; ");
        unit.bytes().cycle().take(size).collect()
    } else {
        let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        (0..size).map(|_| rng.next() as u8).collect()
    }
}

fn random_size(rng: &mut Rng, big_left: &mut u32) -> usize {
    match rng.below(100) {
        0..=69 => rng.below(2_000) as usize,
        70..=96 => 2_000 + rng.below(60_000) as usize,
        _ if *big_left > 0 => {
            *big_left -= 1;
            // Every fourth big one is exactly 1 MiB.
            if *big_left % 4 == 0 {
                1 << 20
            } else {
                100_000 + rng.below(924_576) as usize
            }
        }
        _ => rng.below(5_000) as usize,
    }
}

enum Outgoing {
    Request {
        id: u64,
        size: usize,
        options: SendOptions,
    },
    Reply {
        to: u64,
        request_id: u64,
        id: u64,
        size: usize,
    },
    Error {
        to: u64,
        request_id: u64,
        id: u64,
    },
}

struct Side {
    conn: Connection,
    backlog: VecDeque<Outgoing>,
    /// Next per-lane sequence number to stamp: [normal, urgent].
    next_seq: [u64; 2],
    /// Last per-lane sequence number received from the peer.
    last_seq_received: [u64; 2],
    /// Our requests awaiting replies: number -> (request id, urgent).
    outstanding: BTreeMap<u64, (u64, bool)>,
    /// Lane of each peer request we have to answer: number -> urgent.
    peer_lane: BTreeMap<u64, bool>,
    requests_sent: u64,
    requests_received: u64,
    replies_received: u64,
    errors_received: u64,
    outbox_full: u64,
}

const CONFIG_MAX_MESSAGE: usize = (1 << 20) + 1024;

fn config() -> Config {
    let mut c = Config::default();
    c.max_message_size = CONFIG_MAX_MESSAGE;
    c.max_incoming_buffered = 3 << 20;
    // Room for one 1 MiB message and some small ones: big bursts hit `OutboxFull`.
    c.max_outbox_bytes = CONFIG_MAX_MESSAGE + (256 << 10);
    c
}

struct Report {
    frames_hash: u32,
    ack_pauses: u64,
    ack_resumes: u64,
    saw_waiting: bool,
    requests: u64,
    replies: u64,
    errors: u64,
    outbox_full: u64,
    peak_outgoing: usize,
    peak_incoming: usize,
}

fn run(seed: u64, total_requests: u64, max_big: u32) -> Report {
    let cfg = config();
    let mut rng = Rng(seed);
    let mut sides: Vec<Side> = (0..2)
        .map(|_| Side {
            conn: Connection::new(cfg.clone()),
            backlog: VecDeque::new(),
            next_seq: [1, 1],
            last_seq_received: [0, 0],
            outstanding: BTreeMap::new(),
            peer_lane: BTreeMap::new(),
            requests_sent: 0,
            requests_received: 0,
            replies_received: 0,
            errors_received: 0,
            outbox_full: 0,
        })
        .collect();
    // links[i]: frames in flight from side i to side 1 - i.
    let mut links: [VecDeque<Vec<u8>>; 2] = [VecDeque::new(), VecDeque::new()];
    let mut next_id = 1u64;
    let mut created = 0u64;
    let mut big_left = max_big;
    let mut hasher = crc32fast::Hasher::new();
    let (mut peak_outgoing, mut peak_incoming, mut saw_waiting) = (0, 0, false);

    for step in 0..3_000_000u64 {
        let ctx = format!("seed {seed:#x} step {step}");
        // 1. Maybe create a request on a random side.
        if created < total_requests && rng.chance(40) {
            let s = rng.below(2) as usize;
            let options = SendOptions {
                urgent: rng.chance(30),
                compressed: rng.chance(50),
                no_reply: rng.chance(30),
            };
            let size = random_size(&mut rng, &mut big_left);
            sides[s].backlog.push_back(Outgoing::Request {
                id: next_id,
                size,
                options,
            });
            next_id += 1;
            created += 1;
            // Big messages come in pairs, so the bounded outbox has to refuse some.
            if size >= 100_000 && big_left > 0 && created < total_requests {
                big_left -= 1;
                let size = 900_000 + rng.below(100_000) as usize;
                sides[s].backlog.push_back(Outgoing::Request {
                    id: next_id,
                    size,
                    options,
                });
                next_id += 1;
                created += 1;
            }
        }
        // 2. Each side queues what it can from its backlog, in order.
        for side in sides.iter_mut() {
            while let Some(item) = side.backlog.front() {
                let (result, lane) = match item {
                    Outgoing::Request { id, size, options } => {
                        let lane = usize::from(options.urgent);
                        let msg = Message::request("test")
                            .with_property("id", id.to_string())
                            .with_property("size", size.to_string())
                            .with_property("seq", side.next_seq[lane].to_string())
                            .with_property("urgent", if options.urgent { "1" } else { "0" })
                            .with_body(body(*id, *size));
                        let r = side.conn.send_request(&msg, *options).map(|n| {
                            if !options.no_reply {
                                side.outstanding.insert(n, (*id, options.urgent));
                            }
                        });
                        (r, lane)
                    }
                    Outgoing::Reply {
                        to,
                        request_id,
                        id,
                        size,
                    } => {
                        let lane = usize::from(side.peer_lane[to]);
                        let msg = Message::new()
                            .with_property("id", id.to_string())
                            .with_property("re", request_id.to_string())
                            .with_property("size", size.to_string())
                            .with_property("seq", side.next_seq[lane].to_string())
                            .with_body(body(*id, *size));
                        (side.conn.send_reply(*to, &msg), lane)
                    }
                    Outgoing::Error { to, request_id, id } => {
                        let lane = usize::from(side.peer_lane[to]);
                        let text = format!("seq={} re={request_id} id={id}", side.next_seq[lane]);
                        (
                            side.conn
                                .send_error(*to, "HTTP", 400 + (*id % 100) as i64, &text),
                            lane,
                        )
                    }
                };
                match result {
                    Ok(()) => {
                        side.next_seq[lane] += 1;
                        if let Some(Outgoing::Request { .. }) = side.backlog.pop_front() {
                            side.requests_sent += 1;
                        }
                    }
                    Err(SendError::OutboxFull { .. }) => {
                        side.outbox_full += 1;
                        break;
                    }
                    Err(e) => panic!("{ctx}: send failed: {e}"),
                }
            }
        }
        // 3. Each side emits a random number of frames into its link.
        for (s, side) in sides.iter_mut().enumerate() {
            for _ in 0..rng.below(24) {
                let Some(frame) = side.conn.poll_frame() else {
                    break;
                };
                hasher.update(&frame);
                links[s].push_back(frame);
            }
            saw_waiting |= side.conn.is_waiting_for_ack();
        }
        // 4. A random number of frames arrives on each side; events are handled.
        for (s, link) in links.iter_mut().enumerate() {
            let r = 1 - s;
            for _ in 0..rng.below(24) {
                let Some(frame) = link.pop_front() else {
                    break;
                };
                sides[r]
                    .conn
                    .handle_frame(&frame)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            }
            while let Some(event) = sides[r].conn.poll_event() {
                handle_event(&ctx, &mut sides[r], event, &mut rng, &mut next_id);
            }
        }
        // 5. Bounds hold at every step.
        for side in &sides {
            let (out, inc) = (side.conn.buffered_outgoing(), side.conn.buffered_incoming());
            assert!(
                out <= cfg.max_outbox_bytes,
                "{ctx}: outbox {out} over bound"
            );
            assert!(
                inc <= cfg.max_incoming_buffered,
                "{ctx}: incoming {inc} over bound"
            );
            peak_outgoing = peak_outgoing.max(out);
            peak_incoming = peak_incoming.max(inc);
        }
        let done = created == total_requests
            && sides
                .iter()
                .all(|s| s.backlog.is_empty() && s.outstanding.is_empty())
            && links.iter().all(VecDeque::is_empty)
            && sides.iter().all(|s| s.conn.buffered_outgoing() == 0);
        if done {
            let mut report = Report {
                frames_hash: hasher.finalize(),
                ack_pauses: 0,
                ack_resumes: 0,
                saw_waiting,
                requests: 0,
                replies: 0,
                errors: 0,
                outbox_full: 0,
                peak_outgoing,
                peak_incoming,
            };
            for (s, side) in sides.iter().enumerate() {
                let peer = &sides[1 - s];
                assert_eq!(
                    side.requests_received, peer.requests_sent,
                    "seed {seed:#x}: requests lost"
                );
                assert_eq!(side.conn.pending_requests(), 0);
                report.ack_pauses += side.conn.stats().ack_pauses;
                report.ack_resumes += side.conn.stats().ack_resumes;
                report.requests += side.requests_received;
                report.replies += side.replies_received;
                report.errors += side.errors_received;
                report.outbox_full += side.outbox_full;
            }
            return report;
        }
    }
    panic!("seed {seed:#x}: the exchange did not finish within the step bound");
}

fn prop<'a>(msg: &'a Message, key: &str) -> &'a str {
    msg.property(key)
        .unwrap_or_else(|| panic!("missing property {key}"))
}

fn num(msg: &Message, key: &str) -> u64 {
    prop(msg, key).parse().unwrap()
}

fn check_seq(ctx: &str, side: &mut Side, lane: usize, seq: u64) {
    assert_eq!(
        seq,
        side.last_seq_received[lane] + 1,
        "{ctx}: lane {lane} out of order or lost"
    );
    side.last_seq_received[lane] = seq;
}

fn handle_event(ctx: &str, side: &mut Side, event: Event, rng: &mut Rng, next_id: &mut u64) {
    match event {
        Event::RequestReceived {
            number,
            message,
            no_reply,
        } => {
            let (id, size) = (num(&message, "id"), num(&message, "size") as usize);
            assert_eq!(message.profile(), Some("test"));
            assert!(
                message.body == body(id, size),
                "{ctx}: request {id} body corrupted"
            );
            side.requests_received += 1;
            // The sender stamps the lane it chose; the reply goes back in the same lane.
            let urgent = prop(&message, "urgent") == "1";
            check_seq(ctx, side, usize::from(urgent), num(&message, "seq"));
            if !no_reply {
                side.peer_lane.insert(number, urgent);
                let reply_id = *next_id;
                *next_id += 1;
                if rng.chance(10) {
                    side.backlog.push_back(Outgoing::Error {
                        to: number,
                        request_id: id,
                        id: reply_id,
                    });
                } else {
                    let size = if rng.chance(3) {
                        150_000
                    } else {
                        rng.below(3_000) as usize
                    };
                    side.backlog.push_back(Outgoing::Reply {
                        to: number,
                        request_id: id,
                        id: reply_id,
                        size,
                    });
                }
            }
        }
        Event::ReplyReceived {
            request_number,
            reply,
        } => {
            let (request_id, urgent) = side
                .outstanding
                .remove(&request_number)
                .unwrap_or_else(|| panic!("{ctx}: reply to #{request_number} unexpected"));
            let lane = usize::from(urgent);
            match reply {
                Ok(message) => {
                    let (id, size) = (num(&message, "id"), num(&message, "size") as usize);
                    assert_eq!(
                        num(&message, "re"),
                        request_id,
                        "{ctx}: reply correlated wrongly"
                    );
                    assert!(
                        message.body == body(id, size),
                        "{ctx}: reply {id} body corrupted"
                    );
                    check_seq(ctx, side, lane, num(&message, "seq"));
                    side.replies_received += 1;
                }
                Err(err) => {
                    let fields: BTreeMap<&str, u64> = err
                        .message
                        .split(' ')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k, v.parse().unwrap()))
                        .collect();
                    assert_eq!(fields["re"], request_id, "{ctx}: error correlated wrongly");
                    assert_eq!(err.domain, "HTTP");
                    assert_eq!(err.code, 400 + (fields["id"] % 100) as i64);
                    check_seq(ctx, side, lane, fields["seq"]);
                    side.errors_received += 1;
                }
            }
        }
        other => panic!("{ctx}: unexpected event {other:?}"),
    }
}

#[test]
fn a_thousand_messages_cross_intact_in_lane_order_within_bounds() {
    let seed = 0x00f3_7722_0b11_d5e5;
    let report = run(seed, 1_100, 24);
    assert!(
        report.requests >= 1_000,
        "only {} requests",
        report.requests
    );
    assert!(
        report.replies > 500 && report.errors > 30,
        "{} replies, {} errors",
        report.replies,
        report.errors
    );
    assert!(report.ack_pauses > 0, "no message ever waited for an ACK");
    assert!(
        report.ack_resumes > 0,
        "no ACK ever resumed a paused message"
    );
    assert!(report.saw_waiting, "is_waiting_for_ack never observed");
    assert!(report.outbox_full > 0, "the outbox never refused a message");
    assert!(
        report.peak_outgoing > 1 << 20,
        "outbox peak {} never held a big message",
        report.peak_outgoing
    );
    assert!(
        report.peak_incoming > 100_000,
        "incoming peak {}",
        report.peak_incoming
    );
}

#[test]
fn the_same_seed_gives_the_same_frames() {
    let a = run(42, 150, 3);
    let b = run(42, 150, 3);
    assert_eq!(a.frames_hash, b.frames_hash);
    assert_eq!(
        (a.requests, a.replies, a.errors),
        (b.requests, b.replies, b.errors)
    );
    let c = run(43, 150, 3);
    assert_ne!(a.frames_hash, c.frames_hash);
}
