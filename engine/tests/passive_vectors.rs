//! Ferry's passive session replayed against the LiteCore 3.0 recordings in
//! `../shared/vectors/litecore-3.0`.
//!
//! For each recorded connection, a Ferry BLIP client re-sends the recorded client→server
//! requests (same numbers, flags, properties and bodies, in recorded order) into a Ferry
//! [`PassiveSession`] over a memory store, answers the session's own requests the way LiteCore's
//! client answered the recorded ones, and drives the session's insert timer on a virtual clock.
//! Then the replies Ferry gave are compared with LiteCore's, and the listener's database with
//! what the recording implies.
//!
//! Where Ferry legitimately differs from LiteCore, the test asserts Ferry's behaviour:
//! - replies to `changes` / `proposeChanges` carry only `maxHistory`: Ferry does not advertise
//!   `blobs` (no blob transfer yet) nor, with its listener's default configuration, `deltas`
//!   (`PassiveConfig::enable_delta_sync` is off by default);
//! - error replies carry a UTF-8 message as body (LiteCore's are empty);
//! - a `rev` with `deltaSrc` is refused with HTTP 400 when Ferry did not offer `deltas`, so a
//!   real LiteCore peer would not send one to Ferry (the recording's listener did offer it);
//! - `getAttachment` is refused with HTTP 404 and Ferry never asks for blobs;
//! - in `changes` rows the body size (a hint) is the stored CBOR size, not LiteCore's, and
//!   Ferry sends the empty "caught up" `changes` after the peer answered the last batch, so its
//!   message numbers differ; rows, sequences and `rev` messages are the same.

mod replay;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use ferry_engine::blip::{FrameFlags, Message};
use ferry_engine::blob::{blob_refs, digest_to_string, parse_digest};
use ferry_engine::repl::catalogue::{self as cat, names};
use ferry_engine::repl::{PassiveConfig, PassiveEvent, Profile};
use replay::{Db, Replay, current, json_of, memory_db, rev, seed, tree_revs};
use serde_json::{Value as Json, json};

/// One decoded message of a recording.
#[derive(Debug, Clone)]
struct Recorded {
    conn: u64,
    dir: String,
    kind: String,
    number: u64,
    flags: u8,
    message: Message,
}

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
                flags: u8::try_from(m["flags"].as_u64().expect("flags")).expect("flags"),
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

/// `(docID, revID)` of each row of a `changes` body.
fn change_keys(message: &Message) -> Vec<(String, String)> {
    cat::decode_changes(Profile::CbMobile3, &message.body)
        .expect("changes body")
        .into_iter()
        .map(|r| (r.doc_id, r.rev.as_str().to_owned()))
        .collect()
}

/// Whether a recorded `rev` body references blobs.
fn references_blobs(message: &Message) -> bool {
    !blob_refs(&replay::value(&json_of(&message.body)))
        .expect("recorded blob references are valid")
        .is_empty()
}

/// What one replayed connection showed.
struct ConnReport {
    /// Requests the client sent (recorded client→server MSGs).
    sent: usize,
    /// Replies compared with LiteCore's.
    compared: usize,
}

/// A pushed `rev` not answered yet: its request number, document and revision ID.
type UnansweredRev = (u64, String, String);

/// Asserts that every `rev` of `revs` answered so far is stored: a `rev` is answered only
/// once durably stored. Returns how many are answered.
fn answered_only_once_stored(replay: &Replay, revs: &[UnansweredRev]) -> usize {
    let mut answered = 0;
    for (n, doc_id, rev_id) in revs {
        if replay.replies.contains_key(n) {
            let have = replay
                .db
                .known_ancestors(doc_id, &rev(rev_id), 1)
                .expect("read")
                .is_none();
            assert!(
                have,
                "rev {n} ({doc_id} {rev_id}) answered before it was stored"
            );
            answered += 1;
        }
    }
    answered
}

/// Lets the revisions `revs` be stored and answered. They are stored (and answered) as soon
/// as every revision the session asked for has arrived; otherwise the insert timer must be
/// armed, and they are stored when it fires.
fn settle_revs(replay: &mut Replay, revs: &mut Vec<UnansweredRev>) {
    if answered_only_once_stored(replay, revs) < revs.len() {
        assert!(
            replay.session.poll_timeout().is_some(),
            "insert timer armed"
        );
    }
    replay.settle();
    assert_eq!(
        answered_only_once_stored(replay, revs),
        revs.len(),
        "every rev answered once settled"
    );
    revs.clear();
}

/// Replays connection `conn` of `recording` into `replay`. `refused` lists request numbers that
/// Ferry refuses where LiteCore accepted, with the expected (domain, code).
fn replay_conn(
    recording: &[Recorded],
    conn: u64,
    replay: &mut Replay,
    refused: &BTreeMap<u64, (&str, i64)>,
) -> ConnReport {
    let msgs: Vec<&Recorded> = recording.iter().filter(|m| m.conn == conn).collect();
    let mut unanswered_revs: Vec<UnansweredRev> = Vec::new();
    let mut sent = 0;
    // Requests in the order LiteCore started them (numbers); the file lists them in completion
    // order, which differs when a big message is interleaved with small ones.
    let mut requests: Vec<&&Recorded> = msgs
        .iter()
        .filter(|m| m.dir == "c2s" && m.kind == "MSG")
        .collect();
    requests.sort_by_key(|m| m.number);
    for m in requests {
        if m.message.profile() != Some(names::REV) {
            // Keep order: the revisions sent before this request are stored (the insert timer
            // fires) first.
            settle_revs(replay, &mut unanswered_revs);
        }
        let number = replay.send(&m.message, m.flags);
        assert_eq!(number, m.number, "conn {conn}: same request numbers");
        sent += 1;
        replay.pump();
        answered_only_once_stored(replay, &unanswered_revs);
        // A revision with blobs is answered as soon as its blobs arrive (the client answers
        // the session's getAttachment at once), not when the insert timer fires.
        if m.message.profile() == Some(names::REV)
            && !refused.contains_key(&number)
            && !references_blobs(&m.message)
        {
            let property = |name| m.message.property(name).expect("rev properties").to_owned();
            unanswered_revs.push((number, property("id"), property("rev")));
        }
    }
    settle_revs(replay, &mut unanswered_revs);

    // Ferry's replies against LiteCore's.
    let mut compared = 0;
    for m in msgs.iter().filter(|m| m.dir == "c2s" && m.kind == "MSG") {
        if m.flags & FrameFlags::NO_REPLY != 0 {
            assert!(!replay.replies.contains_key(&m.number));
            continue;
        }
        let what = format!("conn {conn} request {} {:?}", m.number, m.message.profile());
        let recorded = msgs
            .iter()
            .find(|r| {
                r.dir == "s2c" && (r.kind == "RPY" || r.kind == "ERR") && r.number == m.number
            })
            .unwrap_or_else(|| panic!("{what}: LiteCore's reply"));
        let ours = replay.reply(m.number);
        compared += 1;
        if let Some((domain, code)) = refused.get(&m.number) {
            assert_eq!(recorded.kind, "RPY", "{what}: LiteCore accepted it");
            assert_eq!(
                replay.error_code(m.number),
                ((*domain).to_owned(), *code),
                "{what}"
            );
            continue;
        }
        match ours {
            Err(e) => {
                assert_eq!(recorded.kind, "ERR", "{what}: Ferry refused: {e}");
                assert_eq!(
                    Some(e.domain.as_str()),
                    recorded.message.property("Error-Domain")
                );
                assert_eq!(
                    Some(e.code.to_string().as_str()),
                    recorded.message.property("Error-Code"),
                    "{what}"
                );
                // Same flags: ERR, not urgent, not compressed.
                assert_eq!(replay.reply_flags[&m.number], recorded.flags, "{what}");
            }
            Ok(reply) => {
                assert_eq!(recorded.kind, "RPY", "{what}: Ferry accepted");
                let mut expected = props(&recorded.message);
                if matches!(
                    m.message.profile(),
                    Some(names::CHANGES | names::PROPOSE_CHANGES)
                ) {
                    // Ferry advertises deltas only when enabled (see the module docs); when it
                    // does, it must write them as LiteCore did.
                    let ours_deltas = reply.property("deltas").is_some();
                    expected.retain(|(k, _)| ours_deltas || k != "deltas");
                }
                assert_eq!(props(reply), expected, "{what}: properties");
                if m.message.profile() == Some(names::GET_ATTACHMENT) {
                    assert!(
                        reply.body == recorded.message.body,
                        "{what}: the blob's bytes"
                    );
                } else {
                    assert_eq!(
                        json_of(&reply.body),
                        json_of(&recorded.message.body),
                        "{what}: body"
                    );
                }
                assert_eq!(
                    replay.reply_flags[&m.number], recorded.flags,
                    "{what}: flags"
                );
            }
        }
    }
    ConnReport { sent, compared }
}

/// The client's answers to the session's requests, from the recording of connection `conn`:
/// a `changes` gets the reply LiteCore's client gave to the recorded `changes` announcing the
/// same revisions; a `rev` gets an empty reply.
fn answerer(recording: &[Recorded], conn: u64) -> replay::Answerer {
    let blobs = recording.to_vec();
    let mut by_rows: BTreeMap<Vec<(String, String)>, Message> = BTreeMap::new();
    for m in recording
        .iter()
        .filter(|m| m.conn == conn && m.dir == "s2c")
    {
        if m.kind == "MSG" && m.message.profile() == Some(names::CHANGES) {
            let keys = change_keys(&m.message);
            if let Some(reply) = recording.iter().find(|r| {
                r.conn == conn && r.dir == "c2s" && r.kind == "RPY" && r.number == m.number
            }) {
                by_rows.insert(keys, reply.message.clone());
            }
        }
    }
    Box::new(move |msg: &Message| match msg.profile() {
        Some(names::CHANGES) => Some(
            by_rows
                .get(&change_keys(msg))
                .cloned()
                .unwrap_or_else(|| panic!("Ferry announced unrecorded changes: {msg:?}")),
        ),
        Some(names::REV) => Some(Message::new()),
        // A blob the client pushed: the bytes LiteCore's client sent for that digest.
        Some(names::GET_ATTACHMENT) => Some(
            Message::new().with_body(
                recorded_blob(&blobs, msg.property("digest").expect("digest"))
                    .unwrap_or_else(|| panic!("Ferry asked for an unrecorded blob: {msg:?}")),
            ),
        ),
        other => panic!("unexpected request from the passive session: {other:?}"),
    })
}

/// The bytes of the blob `digest` as one side of a recording sent them (the reply to a
/// `getAttachment` for it).
fn recorded_blob(recording: &[Recorded], digest: &str) -> Option<Vec<u8>> {
    let request = recording.iter().find(|m| {
        m.kind == "MSG"
            && m.message.profile() == Some(names::GET_ATTACHMENT)
            && m.message.property("digest") == Some(digest)
    })?;
    let reply = recording.iter().find(|r| {
        r.conn == request.conn
            && r.dir != request.dir
            && r.kind == "RPY"
            && r.number == request.number
    })?;
    Some(reply.message.body.clone())
}

/// The session's `changes`, `rev` and `getAttachment` requests match LiteCore's (rows with the same sequences,
/// `rev` messages with the same properties and bodies), in order.
fn assert_same_feed(recording: &[Recorded], conn: u64, replay: &Replay) -> usize {
    let recorded: Vec<&Recorded> = recording
        .iter()
        .filter(|m| m.conn == conn && m.dir == "s2c" && m.kind == "MSG")
        .collect();
    let rows = |m: &Message| -> Vec<Json> {
        let mut rows: Vec<Json> = serde_json::from_slice(&m.body).expect("rows");
        for row in &mut rows {
            // The body size is a hint, computed on each side's own encoding.
            row.as_array_mut().expect("a row").truncate(4);
        }
        rows
    };
    let pick = |m: &Recorded, profile: &str, empty: bool| {
        m.message.profile() == Some(profile)
            && (profile != names::CHANGES || (m.message.body == b"[]") == empty)
    };
    let ours: Vec<Recorded> = replay
        .server_requests
        .iter()
        .map(|r| Recorded {
            conn,
            dir: "s2c".into(),
            kind: "MSG".into(),
            number: r.number,
            flags: r.flags,
            message: r.message.clone(),
        })
        .collect();
    let ours: Vec<&Recorded> = ours.iter().collect();
    let mut checked = 0;
    for (profile, empty) in [
        (names::CHANGES, false),
        (names::CHANGES, true),
        (names::REV, false),
        (names::GET_ATTACHMENT, false),
    ] {
        let theirs: Vec<&&Recorded> = recorded
            .iter()
            .filter(|m| pick(m, profile, empty))
            .collect();
        let mine: Vec<&&Recorded> = ours.iter().filter(|m| pick(m, profile, empty)).collect();
        assert_eq!(mine.len(), theirs.len(), "conn {conn}: {profile} messages");
        for (a, b) in mine.iter().zip(&theirs) {
            assert_eq!(a.flags, b.flags, "conn {conn}: flags of {profile}");
            assert_eq!(
                props(&a.message),
                props(&b.message),
                "conn {conn}: {profile}"
            );
            if profile == names::CHANGES {
                assert_eq!(rows(&a.message), rows(&b.message), "conn {conn}: rows");
            } else {
                assert_eq!(json_of(&a.message.body), json_of(&b.message.body));
            }
            checked += 1;
        }
    }
    checked
}

fn received(replay: &Replay) -> BTreeSet<(String, String)> {
    replay
        .events
        .iter()
        .filter_map(|e| match e {
            PassiveEvent::DocumentReceived { doc_id, rev } => {
                Some((doc_id.clone(), rev.as_str().to_owned()))
            }
            _ => None,
        })
        .collect()
}

fn doc(db: &Db, id: &str) -> (String, bool, Json) {
    current(db, id).unwrap_or_else(|| panic!("{id} is stored"))
}

const LISTENER_1: &str = "1-69ffd470bfdfe79d06dbdd9a27b65ba7cec90e2e";
const ACTIVE_1: &str = "1-6b1ccd815504bdc118033214b67018360704b84f";

#[test]
fn push_3_into_an_empty_listener() {
    let recording = load("push-3");
    let mut replay = Replay::new(
        memory_db(),
        PassiveConfig::default(),
        answerer(&recording, 0),
    );
    let report = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((report.sent, report.compared), (6, 6));
    for (i, r) in [
        "1-5d4c882107efaf256dd1ee1f2ea4d1368ef7e08c",
        "1-88c3407c4ac6ce7dadd8ffa66002990118ee2e2b",
        "1-73ad809a692f18df86f9dc0d03edab93b63a7c48",
    ]
    .iter()
    .enumerate()
    {
        let n = i + 1;
        let body = json!({"n": n, "title": format!("hello {n}"), "tags": ["a", "b"]});
        assert_eq!(
            doc(&replay.db, &format!("doc-{n}")),
            ((*r).into(), false, body)
        );
    }
    assert_eq!(replay.db.document_count().unwrap(), 3);
    assert_eq!(received(&replay).len(), 3);
    assert!(replay.events.contains(&PassiveEvent::CheckpointSaved {
        client: "cp-nOPUHLbiP8ilcMZKGcJvyrzKxos=".into()
    }));
    assert_eq!(
        replay.server_requests.len(),
        0,
        "a push asks nothing of the pusher"
    );
}

#[test]
fn pushpull_edits_three_connections() {
    let recording = load("pushpull-edits");
    let listener_v1 = json!({"v": 1, "by": "listener"});
    let mut db = memory_db();
    seed(
        &mut db,
        &[
            ("shared-1", &[LISTENER_1], false, listener_v1.clone()),
            ("l-2", &[LISTENER_1], false, listener_v1.clone()),
        ],
    );
    let config = PassiveConfig::default;

    // conn 0: 3 docs each way.
    let mut replay = Replay::new(db, config(), answerer(&recording, 0));
    let r0 = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((r0.sent, r0.compared), (8, 8));
    assert_eq!(assert_same_feed(&recording, 0, &replay), 4);
    for id in ["a-1", "a-2", "a-3"] {
        assert_eq!(
            doc(&replay.db, id),
            (ACTIVE_1.into(), false, json!({"v": 1}))
        );
    }
    assert_eq!(
        replay.db.last_sequence().unwrap(),
        5,
        "LiteCore's sequences"
    );

    // Offline, the listener edits shared-1, deletes l-2 and adds l-3.
    seed(
        &mut replay.db,
        &[
            (
                "shared-1",
                &["2-24c8ddd0cba0721c4f32f8e1f8dd06a51c91dd47", LISTENER_1],
                false,
                json!({"v": 2, "by": "listener"}),
            ),
            (
                "l-2",
                &["2-b0339987649c6266fba0000199f2e30eaf9b8a1e", LISTENER_1],
                true,
                json!({}),
            ),
            ("l-3", &[LISTENER_1], false, listener_v1.clone()),
        ],
    );

    // conn 1: the push of shared-1 conflicts (409 with our current revision); the rest lands.
    let mut replay = replay.reconnect(config(), answerer(&recording, 1));
    let r1 = replay_conn(&recording, 1, &mut replay, &BTreeMap::new());
    assert_eq!((r1.sent, r1.compared), (8, 8));
    assert_eq!(assert_same_feed(&recording, 1, &replay), 5);
    assert_eq!(
        doc(&replay.db, "a-1"),
        (
            "2-01c1a48abadac396fa3910b830e69691f25f1da8".into(),
            false,
            json!({"v": 2})
        )
    );
    assert_eq!(
        doc(&replay.db, "a-2"),
        (
            "3-30b16fec190ce5b400a06d07d2e1976f41725a5d".into(),
            false,
            json!({"v": 3})
        )
    );
    assert_eq!(
        tree_revs(&replay.db, "a-2"),
        [
            ACTIVE_1,
            "2-01c1a48abadac396fa3910b830e69691f25f1da8",
            "3-30b16fec190ce5b400a06d07d2e1976f41725a5d"
        ]
    );
    assert_eq!(
        doc(&replay.db, "a-3"),
        (
            "2-8dad8e411db4297ff03b0d3178ffd3640b16118a".into(),
            true,
            json!({})
        )
    );
    assert!(
        !tree_revs(&replay.db, "shared-1")
            .contains(&"2-c7b145943d521e2b35dba9cdbb3725e06ea85e77".to_owned()),
        "the conflicting push was not stored"
    );
    assert_eq!(replay.db.last_sequence().unwrap(), 11);

    // conn 2: the active side resolved the conflict and pushes the merge.
    let mut replay = replay.reconnect(config(), answerer(&recording, 2));
    let r2 = replay_conn(&recording, 2, &mut replay, &BTreeMap::new());
    assert_eq!((r2.sent, r2.compared), (6, 6));
    assert_eq!(assert_same_feed(&recording, 2, &replay), 2);
    assert_eq!(
        doc(&replay.db, "shared-1"),
        (
            "3-d6621ae88c830558572d58b3b828c98357748cbc".into(),
            false,
            json!({"v": 3, "by": "merged"})
        )
    );
    assert_eq!(
        tree_revs(&replay.db, "shared-1"),
        [
            LISTENER_1,
            "2-24c8ddd0cba0721c4f32f8e1f8dd06a51c91dd47",
            "3-d6621ae88c830558572d58b3b828c98357748cbc"
        ]
    );
    assert_eq!(replay.db.conflicts("shared-1").unwrap(), []);
    assert_eq!(
        doc(&replay.db, "l-2"),
        (
            "2-b0339987649c6266fba0000199f2e30eaf9b8a1e".into(),
            true,
            json!({})
        )
    );
    assert_eq!(
        doc(&replay.db, "l-3"),
        (LISTENER_1.into(), false, listener_v1)
    );
    assert_eq!(replay.db.document_count().unwrap(), 6);
}

#[test]
fn continuous_push_with_live_changes() {
    let recording = load("continuous");
    let mut replay = Replay::new(
        memory_db(),
        PassiveConfig::default(),
        answerer(&recording, 0),
    );
    let report = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    // 18 requests, two of them the no-reply empty `proposeChanges` ("caught up").
    assert_eq!((report.sent, report.compared), (18, 16));
    assert_eq!(
        doc(&replay.db, "c-1"),
        (
            "2-01c1a48abadac396fa3910b830e69691f25f1da8".into(),
            false,
            json!({"v": 2})
        )
    );
    assert_eq!(
        doc(&replay.db, "c-2"),
        (
            "2-8dad8e411db4297ff03b0d3178ffd3640b16118a".into(),
            true,
            json!({})
        )
    );
    assert_eq!(
        doc(&replay.db, "c-3"),
        (ACTIVE_1.into(), false, json!({"v": 1}))
    );
    assert_eq!(received(&replay).len(), 5);
}

#[test]
fn delta_push_then_a_refused_delta() {
    let recording = load("delta");
    let mut replay = Replay::new(
        memory_db(),
        PassiveConfig::default(),
        answerer(&recording, 0),
    );
    let r0 = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((r0.sent, r0.compared), (4, 4));
    let (rev0, deleted, body) = doc(&replay.db, "big-1");
    assert_eq!(
        (rev0.as_str(), deleted),
        ("1-4e861cfa5c45608227effb4f884aba9ee137ac40", false)
    );
    let pushed = recording
        .iter()
        .find(|m| m.conn == 0 && m.message.profile() == Some(names::REV))
        .expect("the pushed rev");
    assert_eq!(body, json_of(&pushed.message.body));

    // conn 1: LiteCore pushed a delta because its listener offered `deltas`; Ferry's default
    // listener does not offer it, refuses the delta with 400 and keeps the document as it was.
    let mut replay = replay.reconnect(PassiveConfig::default(), answerer(&recording, 1));
    let refused = BTreeMap::from([(3, ("HTTP", 400))]);
    let r1 = replay_conn(&recording, 1, &mut replay, &refused);
    assert_eq!((r1.sent, r1.compared), (4, 4));
    assert_eq!(doc(&replay.db, "big-1").0, rev0);
    assert!(received(&replay).is_empty(), "the delta was not stored");
}

#[test]
fn delta_scenario_with_delta_sync_enabled_matches_litecore() {
    let recording = load("delta");
    let mut cfg = PassiveConfig::default();
    cfg.enable_delta_sync = true;
    // conn 0: the full push; Ferry offers `deltas` on its first reply, as LiteCore did.
    let mut replay = Replay::new(memory_db(), cfg.clone(), answerer(&recording, 0));
    let r0 = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((r0.sent, r0.compared), (4, 4));
    // conn 1: LiteCore's delta push is applied and answered as LiteCore answered it.
    let mut replay = replay.reconnect(cfg.clone(), answerer(&recording, 1));
    let r1 = replay_conn(&recording, 1, &mut replay, &BTreeMap::new());
    assert_eq!((r1.sent, r1.compared), (4, 4));
    let (rev2, _, body2) = doc(&replay.db, "big-1");
    assert_eq!(rev2, "2-2bdad3e1731fb1c082f8736821c12def89c8ab28");
    assert_eq!(body2["title"], json!("Document number 7 (edited)"));
    // The listener edits offline as LiteCore's did (rev 3: `score` 8.5)...
    let mut body3 = body2.clone();
    body3["score"] = json!(8.5);
    seed(
        &mut replay.db,
        &[(
            "big-1",
            &["3-f1ce123ee6e3b22f144619a50c8399a4990808d5", rev2.as_str()],
            false,
            body3.clone(),
        )],
    );
    // ... and conn 2 (a pull) gets LiteCore's exact `rev`: `deltaSrc` rev 2, body
    // `{"score":8.5}` — rev 2's body was kept as the base the peer has.
    let mut replay = replay.reconnect(cfg, answerer(&recording, 2));
    let r2 = replay_conn(&recording, 2, &mut replay, &BTreeMap::new());
    assert_eq!(r2.sent, r2.compared);
    assert_eq!(assert_same_feed(&recording, 2, &replay), 3);
    let rev = replay
        .server_requests
        .iter()
        .find(|r| r.message.profile() == Some(names::REV))
        .expect("the pulled rev");
    assert_eq!(rev.message.property("deltaSrc"), Some(rev2.as_str()));
    assert_eq!(rev.message.body, br#"{"score":8.5}"#);
}

#[test]
fn pull_2_served_like_litecore() {
    let recording = load("pull-2");
    let mut db = memory_db();
    seed(
        &mut db,
        &[
            (
                "srv-1",
                &["1-fda8ab02d44c06c5a06874523cde4e096c3bc76e"],
                false,
                json!({"from": "listener", "i": 1}),
            ),
            (
                "srv-2",
                &["1-8effb9e2c7cfbe7f9cca55732553c8a1a140b909"],
                false,
                json!({"from": "listener", "i": 2, "nested": {"a": [1, 2, 3]}}),
            ),
        ],
    );
    let mut replay = Replay::new(db, PassiveConfig::default(), answerer(&recording, 0));
    let report = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((report.sent, report.compared), (3, 3));
    assert_eq!(assert_same_feed(&recording, 0, &replay), 4);
    let sent: Vec<_> = replay
        .events
        .iter()
        .filter(|e| matches!(e, PassiveEvent::DocumentSent { .. }))
        .collect();
    assert_eq!(sent.len(), 2);
}

#[test]
fn blob_push_and_pull_with_blob_transfer_like_litecore() {
    let recording = load("blob");
    let mut db = memory_db();
    let blob_l = recording
        .iter()
        .find(|m| m.dir == "s2c" && m.message.profile() == Some(names::REV))
        .expect("the listener's rev");
    // The listener's blob, as LiteCore sent it to the client, saved in a Ferry store: same
    // digest and length as LiteCore's reference.
    let digest_l = "sha1-O43ycqCkIx/HZgBBslDlKkh0EYg=";
    let bytes_l = recorded_blob(&recording, digest_l).expect("the listener's blob");
    let saved = db
        .save_blob(&bytes_l, Some("application/octet-stream"))
        .expect("save");
    assert_eq!(digest_to_string(&saved.digest), digest_l);
    assert_eq!(saved.length, 2000);
    let body_l = json_of(&blob_l.message.body);
    assert_eq!(body_l["photo"]["digest"], digest_l);
    seed(
        &mut db,
        &[(
            "blob-l",
            &["1-2a7a92b4a53a1dd26768bd8a8289cd770cb35c2e"],
            false,
            body_l,
        )],
    );
    let mut replay = Replay::new(db, PassiveConfig::default(), answerer(&recording, 0));
    let report = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    // Every reply, the client's getAttachment for the listener's blob included (request 5:
    // the blob's bytes, compressed as asked), is LiteCore's.
    assert_eq!((report.sent, report.compared), (7, 7));
    // The changes / rev / getAttachment requests are LiteCore's: Ferry asked for the pushed
    // blob with the same properties.
    assert_eq!(assert_same_feed(&recording, 0, &replay), 4);
    assert!(
        replay.reply(4).is_ok(),
        "the pushed rev is answered once its blob is stored"
    );
    let (_, _, body) = doc(&replay.db, "blob-a");
    assert_eq!(body["photo"]["@type"], "blob");
    assert_eq!(body["photo"]["length"], 3000);
    let digest_a = body["photo"]["digest"].as_str().expect("digest");
    let stored = replay
        .db
        .get_blob(&parse_digest(digest_a).expect("a digest"))
        .expect("read")
        .expect("the pushed blob is stored");
    assert_eq!(stored.len(), 3000);
    assert_eq!(Some(stored), recorded_blob(&recording, digest_a));
}

#[test]
fn big_push_of_301_documents() {
    let recording = load("big");
    let mut replay = Replay::new(
        memory_db(),
        PassiveConfig::default(),
        answerer(&recording, 0),
    );
    let report = replay_conn(&recording, 0, &mut replay, &BTreeMap::new());
    assert_eq!((report.sent, report.compared), (305, 305));
    assert_eq!(replay.db.document_count().unwrap(), 301);
    let mut revs = 0;
    for m in recording
        .iter()
        .filter(|m| m.message.profile() == Some(names::REV))
    {
        let id = m.message.property("id").unwrap();
        let (r, deleted, body) = doc(&replay.db, id);
        assert_eq!(r, m.message.property("rev").unwrap());
        assert!(!deleted);
        assert_eq!(body, json_of(&m.message.body), "{id}");
        revs += 1;
    }
    assert_eq!(revs, 301);
    let (_, _, big) = doc(&replay.db, "big-1");
    assert!(serde_json::to_vec(&big).unwrap().len() > 190_000);
    let _ = rev(ACTIVE_1);
}
