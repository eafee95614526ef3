//! Delta sync over the pair harness (both profiles, both directions) and against a raw BLIP
//! peer: what goes on the wire, negotiation, and the full resend when a delta cannot be applied.

use ferry_engine::blip::{self, Connection, Event, Message, MessageType};
use ferry_engine::repl::catalogue::{self as cat, ChangeAnswer, SubChanges, names};
use ferry_engine::repl::{
    ActiveConfig, Direction, PassiveConfig, PassiveSession, Profile, RemoteIdentity,
};
use ferry_engine::rev::RevId;
use ferry_engine::value::Value;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::clock::Clock;
use ferry_tests::link::{Direction as Wire, messages};
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

const PROFILES: [Profile; 2] = [Profile::CbMobile3, Profile::Ferry1];
const DOC: &str = "big-1";

/// A document of about 100 KB (JSON) with a short `title`; its payloads are pseudo-random
/// hex so that compression does not hide what a delta saves.
fn big_doc(title: &str) -> Value {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut payload = || {
        (0..5)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                format!("{state:016x}")
            })
            .collect::<String>()
    };
    let rows: Vec<Value> = (0..910)
        .map(|i| {
            Value::object([
                ("i", Value::from(i as i64)),
                ("name", Value::from(format!("row-{i:05}"))),
                ("payload", Value::from(payload())),
            ])
        })
        .collect();
    Value::object([
        ("title", Value::from(title)),
        ("score", Value::from(7i64)),
        ("rows", Value::Array(rows)),
    ])
}

fn edited(title: &str) -> Value {
    let mut doc = big_doc("Draft");
    doc.as_object_mut()
        .expect("an object")
        .insert("title".into(), Value::from(title));
    doc
}

fn wire_len(profile: Profile, value: &Value) -> usize {
    profile.encode_value(value).len()
}

fn config(pair: &Pair, direction: Direction, deltas: bool) -> ActiveConfig {
    let mut cfg = ActiveConfig::new(direction, RemoteIdentity::Uuid(pair.passive_db.uuid()));
    cfg.enable_delta_sync = deltas;
    cfg
}

fn passive(deltas: bool) -> PassiveConfig {
    let mut cfg = PassiveConfig::default();
    cfg.enable_delta_sync = deltas;
    cfg
}

fn assert_converged(pair: &Pair) {
    let diff = differences(&snapshot(&pair.active_db), &snapshot(&pair.passive_db), 10);
    assert!(diff.is_empty(), "databases differ:\n{}", diff.join("\n"));
}

fn revs(frames: &[(Wire, Vec<u8>)], dir: Wire) -> Vec<Message> {
    messages(frames, dir)
        .into_iter()
        .filter(|(k, m)| *k == MessageType::Request && m.profile() == Some(names::REV))
        .map(|(_, m)| m)
        .collect()
}

/// Runs one session with the tap on; returns its frames and the bytes it carried.
fn session(
    pair: &mut Pair,
    active: ActiveConfig,
    passive: PassiveConfig,
) -> (Vec<(Wire, Vec<u8>)>, u64) {
    let before = pair.link.bytes.0 + pair.link.bytes.1;
    pair.link.tap = Some(Vec::new());
    pair.connect(active, passive);
    pair.run(100_000);
    assert_eq!(pair.active_error(), None, "{}", pair.describe());
    let frames = pair.link.tap.take().unwrap_or_default();
    (frames, pair.link.bytes.0 + pair.link.bytes.1 - before)
}

fn current(db: &MemDb) -> (RevId, Value) {
    let doc = db.get(DOC).unwrap().expect("the document");
    (doc.rev, doc.body)
}

/// Push the big document, edit one field, push again: the second `rev` is a delta.
fn push_edit(profile: Profile, active_deltas: bool, passive_deltas: bool) -> (Pair, Message, u64) {
    let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
    let rev1 = pair.active_db.put(DOC, &big_doc("Draft"), None).unwrap();
    let cfg = config(&pair, Direction::Push, active_deltas);
    let (frames, _) = session(&mut pair, cfg, passive(passive_deltas));
    let first = revs(&frames, Wire::ToPassive);
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].property("deltaSrc"),
        None,
        "nothing to diff against"
    );
    pair.active_db
        .put(DOC, &edited("Final"), Some(&rev1))
        .unwrap();
    let cfg = config(&pair, Direction::Push, active_deltas);
    let (frames, bytes) = session(&mut pair, cfg, passive(passive_deltas));
    let sent = revs(&frames, Wire::ToPassive);
    assert_eq!(sent.len(), 1, "{profile:?}");
    assert_eq!(current(&pair.passive_db).1, edited("Final"));
    assert_converged(&pair);
    (pair, sent.into_iter().next().unwrap_or_default(), bytes)
}

/// The listener has the big document; pull it, edit one field there, pull again.
fn pull_edit(
    profile: Profile,
    active_deltas: bool,
    passive_cfg: PassiveConfig,
) -> (Pair, Message, u64) {
    let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
    let rev1 = pair.passive_db.put(DOC, &big_doc("Draft"), None).unwrap();
    let cfg = config(&pair, Direction::Pull, active_deltas);
    let (frames, _) = session(&mut pair, cfg, passive_cfg.clone());
    assert_eq!(revs(&frames, Wire::ToActive).len(), 1);
    pair.passive_db
        .put(DOC, &edited("Pulled"), Some(&rev1))
        .unwrap();
    let cfg = config(&pair, Direction::Pull, active_deltas);
    let (frames, bytes) = session(&mut pair, cfg, passive_cfg);
    let sent = revs(&frames, Wire::ToActive);
    assert_eq!(sent.len(), 1, "{profile:?}");
    assert_eq!(current(&pair.active_db).1, edited("Pulled"));
    assert_converged(&pair);
    (pair, sent.into_iter().next().unwrap_or_default(), bytes)
}

#[test]
fn a_one_field_edit_is_pushed_as_a_tiny_delta() {
    for profile in PROFILES {
        let full = wire_len(profile, &edited("Final"));
        assert!(full > 95_000, "{profile:?}: the document is {full} bytes");
        let (pair, rev, delta_bytes) = push_edit(profile, true, true);
        let rev1 = pair
            .active_db
            .revision_tree(DOC)
            .unwrap()
            .and_then(|(_, t)| t.current_node().and_then(|n| n.parent_id().cloned()))
            .expect("rev 1");
        assert_eq!(rev.property("deltaSrc"), Some(rev1.as_str()), "{profile:?}");
        assert!(
            rev.body.len() * 100 < full,
            "{profile:?}: delta of {} bytes for a {full}-byte body",
            rev.body.len()
        );
        let delta = profile.decode_value(&rev.body).unwrap();
        assert_eq!(delta, Value::object([("title", Value::from("Final"))]));
        let (_, _, full_bytes) = push_edit(profile, true, false);
        // Measured: CBMobile_3 474 vs 48,582 session bytes (compressed JSON), Ferry_1 591 vs
        // 101,313.
        assert!(
            delta_bytes * 20 < full_bytes,
            "{profile:?}: session bytes {delta_bytes} with a delta, {full_bytes} without"
        );
    }
}

#[test]
fn a_one_field_edit_is_pulled_as_a_tiny_delta() {
    for profile in PROFILES {
        // Without a remote ID the listener keeps the last exchanged revision under a shared
        // one; with one it keeps that peer's.
        for remote_id in [None, Some(7)] {
            let mut cfg = passive(true);
            cfg.remote_id = remote_id;
            let full = wire_len(profile, &edited("Pulled"));
            let (_, rev, delta_bytes) = pull_edit(profile, true, cfg);
            assert!(
                rev.property("deltaSrc").is_some(),
                "{profile:?} {remote_id:?}"
            );
            assert!(rev.body.len() * 100 < full, "{} of {full}", rev.body.len());
            let delta = profile.decode_value(&rev.body).unwrap();
            assert_eq!(delta, Value::object([("title", Value::from("Pulled"))]));
            let (_, _, full_bytes) = pull_edit(profile, false, passive(true));
            assert!(
                delta_bytes * 20 < full_bytes,
                "{profile:?}: session bytes {delta_bytes} with a delta, {full_bytes} without"
            );
        }
    }
}

#[test]
fn deltas_disabled_on_either_side_send_full_bodies() {
    for profile in PROFILES {
        let full = wire_len(profile, &edited("Final"));
        for (active, passive_on) in [(true, false), (false, true), (false, false)] {
            let (_, rev, _) = push_edit(profile, active, passive_on);
            assert_eq!(
                rev.property("deltaSrc"),
                None,
                "{profile:?} {active} {passive_on}"
            );
            assert_eq!(rev.body.len(), full);
            let (_, rev, _) = pull_edit(profile, active, passive(passive_on));
            assert_eq!(
                rev.property("deltaSrc"),
                None,
                "{profile:?} {active} {passive_on}"
            );
            assert_eq!(rev.body.len(), wire_len(profile, &edited("Pulled")));
        }
    }
}

#[test]
fn replies_offer_deltas_once_per_connection() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    for i in 0..3 {
        pair.active_db
            .put(&format!("d{i}"), &big_doc("x"), None)
            .unwrap();
    }
    let mut cfg = config(&pair, Direction::Push, true);
    cfg.changes_batch = 1;
    let (frames, _) = session(&mut pair, cfg, passive(true));
    let replies: Vec<Option<String>> = messages(&frames, Wire::ToActive)
        .into_iter()
        .filter(|(k, m)| *k == MessageType::Reply && m.property("maxHistory").is_some())
        .map(|(_, m)| m.property("deltas").map(str::to_owned))
        .collect();
    assert_eq!(replies, vec![Some("true".into()), None, None]);
}

#[test]
fn an_unknown_base_is_refused_and_the_push_resent_in_full() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let rev1 = pair.active_db.put(DOC, &big_doc("Draft"), None).unwrap();
        let cfg = config(&pair, Direction::Push, true);
        session(&mut pair, cfg, passive(true));
        // The listener loses the base (purged); the pusher still believes it has it.
        assert!(pair.passive_db.purge(DOC).unwrap());
        pair.active_db
            .put(DOC, &edited("Final"), Some(&rev1))
            .unwrap();
        let cfg = config(&pair, Direction::Push, true);
        let (frames, _) = session(&mut pair, cfg, passive(true));
        let sent = revs(&frames, Wire::ToPassive);
        assert_eq!(sent.len(), 2, "{profile:?}: a delta, then the full body");
        assert_eq!(sent[0].property("deltaSrc"), Some(rev1.as_str()));
        assert_eq!(sent[1].property("deltaSrc"), None);
        assert_eq!(sent[1].body.len(), wire_len(profile, &edited("Final")));
        let errors: Vec<Message> = messages(&frames, Wire::ToActive)
            .into_iter()
            .filter(|(k, _)| *k == MessageType::Error)
            .map(|(_, m)| m)
            .collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].property("Error-Domain"), Some("HTTP"));
        assert_eq!(errors[0].property("Error-Code"), Some("422"));
        assert_eq!(current(&pair.passive_db).1, edited("Final"));
        let status = pair.active().expect("connected").status();
        assert_eq!(status.progress.completed, status.progress.total);
        assert_converged(&pair);
    }
}

#[test]
fn couchbase_profile_delta_has_litecore_shape() {
    // LiteCore's recorded push (scenario `delta`, conn 1): properties `id, rev, sequence,
    // noconflicts, history, deltaSrc`, body `{"title":"…(edited)"}`.
    let (_, rev, _) = push_edit(Profile::CbMobile3, true, true);
    let keys: Vec<&str> = rev.properties.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "Profile",
            "id",
            "rev",
            "sequence",
            "noconflicts",
            "history",
            "deltaSrc"
        ]
    );
    assert_eq!(rev.property("history"), rev.property("deltaSrc"));
    assert_eq!(rev.body, br#"{"title":"Final"}"#);
}

/// A raw BLIP peer talking to a passive session, on a virtual clock.
struct Raw {
    clock: Clock,
    client: Connection,
    passive: PassiveSession,
    db: MemDb,
    /// Requests the passive sent us, unanswered.
    requests: Vec<(u64, Message)>,
    replies: Vec<(u64, Result<Message, blip::BlipError>)>,
}

impl Raw {
    fn new(profile: Profile, db: MemDb, cfg: PassiveConfig) -> Self {
        Raw {
            clock: Clock::new(),
            client: Connection::new(blip::Config::default()),
            passive: PassiveSession::new(profile, cfg),
            db,
            requests: Vec::new(),
            replies: Vec::new(),
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.client.poll_frame() {
                self.passive
                    .handle_frame(self.clock.now(), &frame, &mut self.db)
                    .expect("the passive session accepts the frame");
                moved = true;
            }
            while let Some(frame) = self.passive.poll_frame() {
                self.client.handle_frame(&frame).expect("a valid frame");
                moved = true;
            }
            while let Some(event) = self.client.poll_event() {
                match event {
                    Event::RequestReceived {
                        number,
                        message,
                        no_reply: false,
                    } => self.requests.push((number, message)),
                    Event::ReplyReceived {
                        request_number,
                        reply,
                    } => {
                        self.replies.push((request_number, reply));
                    }
                    _ => {}
                }
            }
            // Fire the passive's short timers (batched inserts), not the request timeout that
            // a peer leaving requests unanswered would eventually reach.
            let horizon = self.clock.now() + std::time::Duration::from_secs(1);
            if let Some(at) = self.passive.poll_timeout().filter(|at| *at <= horizon) {
                self.clock.advance_to(at);
                self.passive
                    .handle_timeout(self.clock.now(), &mut self.db)
                    .unwrap();
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn take_request(&mut self, profile: &str) -> (u64, Message) {
        let at = self
            .requests
            .iter()
            .position(|(_, m)| m.profile() == Some(profile))
            .unwrap_or_else(|| panic!("no {profile} request in {:?}", self.requests));
        self.requests.remove(at)
    }

    fn request(&mut self, msg: &Message) -> Result<Message, blip::BlipError> {
        let number = self
            .client
            .send_request(msg, blip::SendOptions::default())
            .unwrap();
        self.pump();
        let at = self
            .replies
            .iter()
            .position(|(n, _)| *n == number)
            .expect("a reply");
        self.replies.remove(at).1
    }
}

#[test]
fn the_listener_resends_a_refused_pulled_delta_in_full() {
    for profile in PROFILES {
        let mut db = memory_db(2);
        let rev1 = db.put(DOC, &big_doc("Draft"), None).unwrap();
        // Some peer has rev 1: its body stays as a delta base.
        db.set_remote_ancestors(u32::MAX, &[(DOC.to_owned(), rev1.clone())])
            .unwrap();
        let rev2 = db.put(DOC, &edited("Served"), Some(&rev1)).unwrap();
        let mut raw = Raw::new(profile, db, passive(true));
        let sub = SubChanges::default().to_message(profile);
        assert!(raw.request(&sub).is_ok());
        let (number, _changes) = raw.take_request(names::CHANGES);
        let answers = [ChangeAnswer::Send {
            known: vec![rev1.clone()],
        }];
        let reply = Message::new()
            .with_property("maxHistory", "20")
            .with_property("deltas", "true")
            .with_body(cat::encode_change_answers(profile, &answers));
        raw.client.send_reply(number, &reply).unwrap();
        raw.pump();
        let (number, delta) = raw.take_request(names::REV);
        assert_eq!(
            delta.property("deltaSrc"),
            Some(rev1.as_str()),
            "{profile:?}"
        );
        assert_eq!(delta.property("rev"), Some(rev2.as_str()));
        // We "lost" the base: refuse the delta as LiteCore does.
        raw.client
            .send_error(number, "HTTP", 422, "no base")
            .unwrap();
        raw.pump();
        let (number, full) = raw.take_request(names::REV);
        assert_eq!(full.property("deltaSrc"), None, "{profile:?}");
        assert_eq!(full.property("rev"), Some(rev2.as_str()));
        assert_eq!(profile.decode_value(&full.body).unwrap(), edited("Served"));
        raw.client.send_reply(number, &Message::new()).unwrap();
        raw.pump();
        assert!(
            raw.requests
                .iter()
                .all(|(_, m)| m.profile() != Some(names::REV))
        );
    }
}

#[test]
fn the_listener_refuses_bad_deltas_with_422() {
    for profile in PROFILES {
        let mut db = memory_db(2);
        let rev1 = db.put(DOC, &big_doc("Draft"), None).unwrap();
        let rev2 = "2-0123456789abcdef";
        let delta_rev = |src: &str, delta: &Value| {
            Message::request(names::REV)
                .with_property("id", DOC)
                .with_property("rev", rev2)
                .with_property("history", rev1.as_str())
                .with_property("deltaSrc", src)
                .with_body(profile.encode_value(delta))
        };
        let mut raw = Raw::new(profile, db, passive(true));
        let good = Value::object([("title", Value::from("ok"))]);
        let corrupt = Value::object([("rows", Value::object([("x", Value::from(1i64))]))]);
        let not_object = Value::Array(vec![Value::from(1i64)]);
        for (src, delta) in [
            ("1-ffff", &good),
            (rev1.as_str(), &corrupt),
            (rev1.as_str(), &not_object),
        ] {
            let err = raw.request(&delta_rev(src, delta)).expect_err("refused");
            assert_eq!(
                (err.domain.as_str(), err.code),
                ("HTTP", 422),
                "{profile:?} {err}"
            );
        }
        assert_eq!(current(&raw.db).0, rev1, "nothing stored");
        assert!(raw.request(&delta_rev(rev1.as_str(), &good)).is_ok());
        let (rev, body) = current(&raw.db);
        assert_eq!(rev.as_str(), rev2);
        assert_eq!(body, {
            let mut d = big_doc("Draft");
            d.as_object_mut()
                .unwrap()
                .insert("title".into(), Value::from("ok"));
            d
        });
        // A listener that did not offer deltas refuses them as malformed (400).
        let mut raw = Raw::new(profile, memory_db(3), passive(false));
        let err = raw
            .request(&delta_rev("1-ffff", &good))
            .expect_err("refused");
        assert_eq!(err.code, 400);
    }
}

#[test]
fn continuous_push_and_pull_edit_rounds_converge_with_deltas() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let mut a = pair.active_db.put("a", &big_doc("a0"), None).unwrap();
        let mut b = pair.passive_db.put("b", &big_doc("b0"), None).unwrap();
        let mut cfg = config(&pair, Direction::PushAndPull, true);
        cfg.continuous = true;
        pair.link.tap = Some(Vec::new());
        pair.connect(cfg, passive(true));
        pair.run(100_000);
        for round in 1..=5 {
            let mut doc = big_doc("x");
            map_title(&mut doc, &format!("a{round}"));
            a = pair.active_db.put("a", &doc, Some(&a)).unwrap();
            pair.active_db_changed();
            map_title(&mut doc, &format!("b{round}"));
            b = pair.passive_db.put("b", &doc, Some(&b)).unwrap();
            pair.passive_db_changed();
            pair.run(100_000);
        }
        assert_eq!(pair.active_error(), None);
        assert_converged(&pair);
        assert_eq!(pair.passive_db.get("a").unwrap().map(|d| d.rev), Some(a));
        assert_eq!(pair.active_db.get("b").unwrap().map(|d| d.rev), Some(b));
        let frames = pair.link.tap.take().unwrap_or_default();
        let deltas = |dir| {
            revs(&frames, dir)
                .iter()
                .filter(|m| m.property("deltaSrc").is_some())
                .count()
        };
        assert_eq!(deltas(Wire::ToPassive), 5, "{profile:?}: every pushed edit");
        assert_eq!(deltas(Wire::ToActive), 5, "{profile:?}: every pulled edit");
    }
}

/// Found by the benchmark: a continuous replicator that starts caught up sends LiteCore's empty
/// no-reply `proposeChanges` first. The listener used to spend its one `deltas: "true"` of the
/// connection on that unsent reply, so no edit of the connection ever went as a delta.
#[test]
fn deltas_flow_when_a_continuous_push_starts_caught_up() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let mut cfg = config(&pair, Direction::Push, true);
        cfg.continuous = true;
        pair.link.tap = Some(Vec::new());
        pair.connect(cfg, passive(true));
        pair.run(100_000);
        let mut rev = pair.active_db.put("a", &big_doc("a0"), None).unwrap();
        pair.active_db_changed();
        pair.run(100_000);
        for round in 1..=3 {
            let mut doc = big_doc("x");
            map_title(&mut doc, &format!("a{round}"));
            rev = pair.active_db.put("a", &doc, Some(&rev)).unwrap();
            pair.active_db_changed();
            pair.run(100_000);
        }
        assert_eq!(pair.active_error(), None);
        assert_converged(&pair);
        assert_eq!(pair.passive_db.get("a").unwrap().map(|d| d.rev), Some(rev));
        let frames = pair.link.tap.take().unwrap_or_default();
        let sent = revs(&frames, Wire::ToPassive);
        assert_eq!(sent.len(), 4, "{profile:?}");
        let deltas = sent
            .iter()
            .filter(|m| m.property("deltaSrc").is_some())
            .count();
        assert_eq!(deltas, 3, "{profile:?}: every edit after the first upload");
    }
}

fn map_title(doc: &mut Value, title: &str) {
    if let Some(map) = doc.as_object_mut() {
        map.insert("title".into(), Value::from(title));
    }
}
