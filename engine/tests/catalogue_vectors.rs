//! The replication message catalogue checked against the LiteCore 3.0 recordings in
//! `../shared/vectors/litecore-3.0`: every catalogue message LiteCore sent (and the replies to
//! `changes` / `proposeChanges`) parses with Ferry's catalogue types for `BLIP_3+CBMobile_3`
//! and re-encodes to the same properties (same order) and JSON-equal bodies.
//!
//! Deviations, asserted below rather than hidden:
//! - `subChanges`: LiteCore 3.0 sends `revocations: true` (it asks Sync Gateway to announce
//!   documents the user lost access to). Ferry has no access control to revoke, so its
//!   catalogue neither models nor writes it; every other property comes out in LiteCore's order.
//! - `setCheckpoint` / `getCheckpoint` bodies: re-encoded from [`CheckpointBody`], JSON-equal
//!   (the passive session stores and returns the peer's body verbatim anyway).

mod support;

use std::collections::BTreeMap;

use ferry_engine::blip::Message;
use ferry_engine::repl::Profile;
use ferry_engine::repl::catalogue::{
    self as cat, AnswerProperties, CheckpointBody, GetCheckpoint, NoRev, RevMessage, SetCheckpoint,
    SubChanges, names,
};
use serde_json::Value as Json;

const SCENARIOS: [&str; 7] = [
    "push-3",
    "pull-2",
    "pushpull-edits",
    "delta",
    "blob",
    "big",
    "continuous",
];
const P: Profile = Profile::CbMobile3;

/// One decoded message of a recording.
struct Recorded {
    conn: u64,
    dir: String,
    kind: String,
    number: u64,
    message: Message,
}

/// The recorded body as bytes: hex when the recording gives hex, else the JSON text.
fn body_bytes(body: &Json) -> Vec<u8> {
    match body.as_object() {
        Some(map) if map.len() == 1 && map.contains_key("hex") => {
            hex::decode(map["hex"].as_str().expect("hex is a string")).expect("valid hex")
        }
        _ => serde_json::to_vec(body).expect("JSON body"),
    }
}

fn load(name: &str) -> Vec<Recorded> {
    let text = std::fs::read_to_string(support::litecore_vector(&format!("{name}.messages.json")))
        .expect("read messages");
    let all: Vec<Json> = serde_json::from_str(&text).expect("messages JSON");
    all.iter()
        .map(|m| {
            let mut message = Message::new().with_body(body_bytes(&m["body"]));
            for (k, v) in m["properties"].as_object().expect("properties") {
                message = message.with_property(k.clone(), v.as_str().expect("string value"));
            }
            Recorded {
                conn: m["conn"].as_u64().expect("conn"),
                dir: m["dir"].as_str().expect("dir").to_owned(),
                kind: m["type"].as_str().expect("type").to_owned(),
                number: m["number"].as_u64().expect("number"),
                message,
            }
        })
        .collect()
}

fn props(message: &Message) -> Vec<(String, String)> {
    message
        .properties
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn json(bytes: &[u8]) -> Json {
    if bytes.is_empty() {
        return Json::Null;
    }
    serde_json::from_slice(bytes).expect("a JSON body")
}

fn assert_same(what: &str, recorded: &Message, ours: &Message) {
    assert_eq!(props(ours), props(recorded), "{what}: properties");
    assert_eq!(json(&ours.body), json(&recorded.body), "{what}: body");
}

/// Checks one request; returns the number of rows it carries (for its reply).
fn check_request(what: &str, msg: &Message) -> usize {
    let profile = msg.profile().expect("requests have a Profile");
    match profile {
        names::GET_CHECKPOINT => {
            let parsed = GetCheckpoint::from_message(msg).expect(what);
            assert_same(what, msg, &parsed.to_message());
            0
        }
        names::SET_CHECKPOINT => {
            let parsed = SetCheckpoint::from_message(msg, P).expect(what);
            assert_same(what, msg, &parsed.to_message(P));
            0
        }
        names::SUB_CHANGES => {
            let parsed = SubChanges::from_message(msg, P).expect(what);
            let ours = parsed.to_message(P);
            let mut expected = props(msg);
            let before = expected.len();
            expected.retain(|(k, _)| k != "revocations");
            assert_eq!(
                before - expected.len(),
                1,
                "{what}: LiteCore sends revocations"
            );
            assert_eq!(props(&ours), expected, "{what}: properties but revocations");
            assert_eq!(json(&ours.body), json(&msg.body), "{what}: body");
            0
        }
        names::CHANGES => {
            let rows = cat::decode_changes(P, &msg.body).expect(what);
            assert_same(what, msg, &cat::changes_message(P, &rows));
            rows.len()
        }
        names::PROPOSE_CHANGES => {
            let rows = cat::decode_proposed(P, &msg.body).expect(what);
            assert_same(what, msg, &cat::propose_changes_message(P, &rows));
            rows.len()
        }
        names::REV => {
            let parsed = RevMessage::from_message(msg).expect(what);
            assert_same(what, msg, &parsed.to_message());
            0
        }
        names::NO_REV => {
            let parsed = NoRev::from_message(msg).expect(what);
            assert_same(what, msg, &parsed.to_message());
            0
        }
        other => panic!("{what}: {other} is not a catalogue request"),
    }
}

fn check_reply(what: &str, request_profile: &str, rows: usize, reply: &Message) {
    match request_profile {
        names::CHANGES => {
            let answers = cat::decode_change_answers(P, &reply.body, rows).expect(what);
            assert_eq!(answers.len(), rows);
            let props = AnswerProperties::from_message(reply).expect(what);
            let ours = props
                .apply(Message::new())
                .with_body(cat::encode_change_answers(P, &answers));
            assert_same(what, reply, &ours);
        }
        names::PROPOSE_CHANGES => {
            let answers = cat::decode_proposal_answers(P, &reply.body, rows).expect(what);
            assert_eq!(answers.len(), rows);
            let props = AnswerProperties::from_message(reply).expect(what);
            let ours = props
                .apply(Message::new())
                .with_body(cat::encode_proposal_answers(P, &answers));
            assert_same(what, reply, &ours);
        }
        names::GET_CHECKPOINT | names::SET_CHECKPOINT => {
            // `rev` is the checkpoint's MVCC revision, `N-cc`.
            let rev = reply.property("rev").expect("checkpoint replies carry rev");
            assert!(rev.ends_with("-cc") && rev[..rev.len() - 3].parse::<u64>().is_ok());
            assert_eq!(reply.properties.len(), 1, "{what}");
            if request_profile == names::GET_CHECKPOINT {
                let value = P.decode_value(&reply.body).expect(what);
                let body = CheckpointBody::from_value(&value).expect(what);
                assert_eq!(json(&P.encode_value(&body.to_value())), json(&reply.body));
            } else {
                assert!(reply.body.is_empty(), "{what}");
            }
        }
        _ => {}
    }
}

#[test]
fn every_recorded_catalogue_message_round_trips() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for scenario in SCENARIOS {
        let messages = load(scenario);
        // (conn, direction of the request, number) → (Profile, rows)
        let mut requests: BTreeMap<(u64, String, u64), (String, usize)> = BTreeMap::new();
        for (i, m) in messages.iter().enumerate() {
            let what = format!("{scenario} #{i} conn {} {} {}", m.conn, m.dir, m.kind);
            match m.kind.as_str() {
                "MSG" => {
                    let profile = m.message.profile().expect("Profile").to_owned();
                    if profile == names::GET_ATTACHMENT {
                        // Not in the catalogue checked here (blobs are not transferred yet).
                        continue;
                    }
                    let rows = check_request(&what, &m.message);
                    *counts.entry(profile.clone()).or_default() += 1;
                    requests.insert((m.conn, m.dir.clone(), m.number), (profile, rows));
                }
                "RPY" | "ERR" => {
                    let request_dir = if m.dir == "c2s" { "s2c" } else { "c2s" };
                    let Some((profile, rows)) =
                        requests.get(&(m.conn, request_dir.to_owned(), m.number))
                    else {
                        continue;
                    };
                    if m.kind == "RPY" {
                        check_reply(&what, profile, *rows, &m.message);
                    } else {
                        // LiteCore's only error replies: 404 for a missing checkpoint.
                        assert_eq!(profile, names::GET_CHECKPOINT, "{what}");
                        assert_eq!(m.message.property("Error-Domain"), Some("HTTP"));
                        assert_eq!(m.message.property("Error-Code"), Some("404"));
                    }
                    *counts.entry(format!("{} {profile}", m.kind)).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    let expected: BTreeMap<String, usize> = [
        ("rev", 328),
        ("RPY rev", 328),
        ("setCheckpoint", 19),
        ("RPY setCheckpoint", 19),
        ("proposeChanges", 16),
        ("RPY proposeChanges", 14),
        ("changes", 12),
        ("RPY changes", 6),
        ("getCheckpoint", 11),
        ("RPY getCheckpoint", 4),
        ("ERR getCheckpoint", 7),
        ("subChanges", 6),
        ("RPY subChanges", 6),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected, "every catalogue message was checked");
}

#[test]
fn answer_properties_keep_litecore_order() {
    let props = AnswerProperties {
        max_history: Some(20),
        blobs: true,
        deltas: true,
    };
    let msg = props.apply(Message::new());
    assert_eq!(
        props_of(&msg),
        [("maxHistory", "20"), ("blobs", "true"), ("deltas", "true")]
    );
    assert_eq!(AnswerProperties::from_message(&msg), Ok(props));
    let bad = Message::new().with_property("maxHistory", "lots");
    assert!(AnswerProperties::from_message(&bad).is_err());
    assert_eq!(
        AnswerProperties::from_message(&Message::new()),
        Ok(AnswerProperties::default())
    );
}

fn props_of(msg: &Message) -> Vec<(&str, &str)> {
    msg.properties.iter().collect()
}
