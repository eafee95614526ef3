//! The passive session refuses what it cannot do with a clear error reply — HTTP 400 malformed,
//! 403 read-only, 404 unknown, 409 conflict, 413 too large — never panics, never fails the
//! session on a bad request, and stores nothing for a refused request.

mod replay;
mod support;

use ferry_engine::blip::Message;
use ferry_engine::db::{Database, DatabaseConfig};
use ferry_engine::repl::catalogue::names;
use ferry_engine::repl::{PassiveConfig, PassiveEvent};
use ferry_store_memory::MemoryStore;
use replay::{Db, Replay, current, memory_db, seed};
use serde_json::json;

const REV_1: &str = "1-6b1ccd815504bdc118033214b67018360704b84f";
const REV_2: &str = "2-01c1a48abadac396fa3910b830e69691f25f1da8";
const OTHER_2: &str = "2-24c8ddd0cba0721c4f32f8e1f8dd06a51c91dd47";
const CLIENT: &str = "cp-test";

fn no_answers() -> replay::Answerer {
    Box::new(|msg: &Message| panic!("the session asked the client {msg:?}"))
}

fn session(db: Db, config: PassiveConfig) -> Replay {
    Replay::new(db, config, no_answers())
}

fn req(profile: &str, props: &[(&str, &str)], body: &[u8]) -> Message {
    let mut msg = Message::request(profile).with_body(body);
    for (k, v) in props {
        msg = msg.with_property(k, *v);
    }
    msg
}

/// Sends one request, lets the session store what it will, returns the reply.
fn exchange(r: &mut Replay, msg: &Message) -> Result<Message, (String, i64)> {
    let n = r.send(msg, 0);
    r.settle();
    assert!(
        r.session.error().is_none(),
        "the session failed: {:?}",
        r.session.error()
    );
    match r.reply(n) {
        Ok(m) => Ok(m.clone()),
        Err(e) => {
            assert!(!e.message.is_empty(), "an error reply says why");
            Err((e.domain.clone(), e.code))
        }
    }
}

fn assert_nothing_stored(r: &Replay, what: &str) {
    assert_eq!(r.db.last_sequence().unwrap(), 0, "{what}: nothing stored");
    assert_eq!(r.db.peer_checkpoint(CLIENT).unwrap(), None, "{what}");
}

/// A deterministic stream of garbage bytes (no RNG in these tests: a fixed LCG).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// A request: profile, properties, body.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>);

#[test]
fn malformed_requests_are_refused_with_400_and_store_nothing() {
    let long_id = "x".repeat(300);
    let cases: Vec<Case<'_>> = vec![
        (names::GET_CHECKPOINT, vec![], vec![]),
        (names::SET_CHECKPOINT, vec![("rev", "")], b"{}".to_vec()),
        (
            names::SET_CHECKPOINT,
            vec![("client", CLIENT)],
            b"{not json".to_vec(),
        ),
        (
            names::SET_CHECKPOINT,
            vec![("client", CLIENT)],
            b"[1,2]".to_vec(),
        ),
        (names::SET_CHECKPOINT, vec![("client", CLIENT)], vec![]),
        (
            names::SET_CHECKPOINT,
            vec![("client", CLIENT)],
            br#"{"local":-1}"#.to_vec(),
        ),
        (
            names::SET_CHECKPOINT,
            vec![("client", CLIENT), ("rev", "cc")],
            b"{}".to_vec(),
        ),
        (names::SUB_CHANGES, vec![("since", "abc")], vec![]),
        (names::SUB_CHANGES, vec![("batch", "many")], vec![]),
        (
            names::SUB_CHANGES,
            vec![("versioning", "version-vectors")],
            vec![],
        ),
        (names::SUB_CHANGES, vec![], b"{".to_vec()),
        (names::SUB_CHANGES, vec![], br#"{"docIDs":"a"}"#.to_vec()),
        (names::SUB_CHANGES, vec![], br#"{"docIDs":[1]}"#.to_vec()),
        (names::CHANGES, vec![], b"{".to_vec()),
        (names::CHANGES, vec![], br#"{"a":1}"#.to_vec()),
        (names::CHANGES, vec![], br#"[[1,"d"]]"#.to_vec()),
        (names::CHANGES, vec![], br#"[[1,"d","not-a-rev"]]"#.to_vec()),
        (names::CHANGES, vec![], br#"[[-1,"d","1-aa"]]"#.to_vec()),
        (names::CHANGES, vec![], br#"[[1,"","1-aa"]]"#.to_vec()),
        (names::PROPOSE_CHANGES, vec![], b"[".to_vec()),
        (names::PROPOSE_CHANGES, vec![], br#"[["d"]]"#.to_vec()),
        (
            names::PROPOSE_CHANGES,
            vec![],
            br#"[["d","1-aa",5]]"#.to_vec(),
        ),
        (names::PROPOSE_CHANGES, vec![], br#"["d"]"#.to_vec()),
        (names::REV, vec![("rev", REV_1)], b"{}".to_vec()),
        (names::REV, vec![("id", ""), ("rev", REV_1)], b"{}".to_vec()),
        (names::REV, vec![("id", "d")], b"{}".to_vec()),
        (
            names::REV,
            vec![("id", "d"), ("rev", "1-xyz")],
            b"{}".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_1)],
            b"{oops".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_1)],
            b"[1]".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_1)],
            b"\"text\"".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_2), ("history", "x,y")],
            b"{}".to_vec(),
        ),
        // A history that does not descend generation by generation.
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_2), ("history", "5-aa")],
            b"{}".to_vec(),
        ),
        (
            names::REV,
            vec![("id", &long_id), ("rev", REV_1)],
            b"{}".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "a\u{1}b"), ("rev", REV_1)],
            b"{}".to_vec(),
        ),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_2), ("deltaSrc", REV_1)],
            b"{}".to_vec(),
        ),
        (names::NO_REV, vec![("id", "d")], vec![]),
        (names::NO_REV, vec![("id", "d"), ("rev", "garbage")], vec![]),
    ];
    let count = cases.len();
    for (i, (profile, props, body)) in cases.into_iter().enumerate() {
        let what = format!(
            "case {i}: {profile} {props:?} {:?}",
            String::from_utf8_lossy(&body)
        );
        let mut r = session(memory_db(), PassiveConfig::default());
        let reply = exchange(&mut r, &req(profile, &props, &body));
        assert_eq!(reply, Err(("HTTP".into(), 400)), "{what}");
        assert_nothing_stored(&r, &what);
        assert!(
            !r.events
                .iter()
                .any(|e| matches!(e, PassiveEvent::DocumentReceived { .. })),
            "{what}"
        );
    }
    assert_eq!(count, 37);
}

#[test]
fn garbage_bodies_of_every_type_never_panic() {
    let valid_props: [(&str, Vec<(&str, &str)>); 7] = [
        (names::GET_CHECKPOINT, vec![("client", CLIENT)]),
        (names::SET_CHECKPOINT, vec![("client", CLIENT), ("rev", "")]),
        (names::SUB_CHANGES, vec![]),
        (names::CHANGES, vec![]),
        (names::PROPOSE_CHANGES, vec![]),
        (names::REV, vec![("id", "d"), ("rev", REV_1)]),
        (names::NO_REV, vec![("id", "d"), ("rev", REV_1)]),
    ];
    let mut refused = 0;
    for seed in 0..40u64 {
        for (profile, props) in &valid_props {
            // Garbage bytes; a leading `{`/`[` now and then gets the JSON parser further.
            let mut body = garbage(seed, (seed as usize * 7) % 300 + 1);
            match seed % 3 {
                1 => body.insert(0, b'{'),
                2 => body.insert(0, b'['),
                _ => {}
            }
            let mut r = session(memory_db(), PassiveConfig::default());
            let reply = exchange(&mut r, &req(profile, props, &body));
            let expected = match *profile {
                // The body of these is not read.
                names::GET_CHECKPOINT => Err(("HTTP".into(), 404)),
                names::NO_REV => Ok(Message::new()),
                _ => Err(("HTTP".into(), 400)),
            };
            assert_eq!(reply, expected, "{profile} seed {seed}");
            refused += usize::from(reply.is_err());
            assert_nothing_stored(&r, profile);
        }
    }
    assert_eq!(refused, 40 * 6);
}

#[test]
fn unknown_requests_are_404() {
    let mut r = session(memory_db(), PassiveConfig::default());
    let unknown = exchange(&mut r, &req("frobnicate", &[], b""));
    assert_eq!(unknown, Err(("BLIP".into(), 404)));
    let unnamed = exchange(&mut r, &Message::new().with_property("id", "d"));
    assert_eq!(unnamed, Err(("BLIP".into(), 404)));
    // A blob this peer does not have (for a document it does not have) is not found; a
    // digest that is not one is a bad request.
    let attachment = exchange(
        &mut r,
        &req(
            names::GET_ATTACHMENT,
            &[
                ("digest", "sha1-hqjN9QypF19sYikSwKaKZmSklwA="),
                ("docID", "d"),
            ],
            b"",
        ),
    );
    assert_eq!(attachment, Err(("HTTP".into(), 404)));
    let malformed = exchange(
        &mut r,
        &req(
            names::GET_ATTACHMENT,
            &[("digest", "sha1-xx"), ("docID", "d")],
            b"",
        ),
    );
    assert_eq!(malformed, Err(("HTTP".into(), 400)));
    let missing = exchange(
        &mut r,
        &req(names::GET_CHECKPOINT, &[("client", CLIENT)], b""),
    );
    assert_eq!(missing, Err(("HTTP".into(), 404)));
}

#[test]
fn read_only_listener_refuses_pushes_with_403() {
    let mut config = PassiveConfig::default();
    config.read_only = true;
    let mut r = session(memory_db(), config);
    let proposal = format!(r#"[["d","{REV_1}","",8]]"#);
    let changes = format!(r#"[[1,"d","{REV_1}",0,8]]"#);
    for (profile, props, body) in [
        (names::PROPOSE_CHANGES, vec![], proposal.as_bytes()),
        (names::CHANGES, vec![], changes.as_bytes()),
        (
            names::REV,
            vec![("id", "d"), ("rev", REV_1)],
            b"{\"v\":1}".as_slice(),
        ),
    ] {
        let reply = exchange(&mut r, &req(profile, &props, body));
        assert_eq!(reply, Err(("HTTP".into(), 403)), "{profile}");
    }
    assert_eq!(r.db.last_sequence().unwrap(), 0);
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, PassiveEvent::DocumentRejected { .. }))
    );
    // Pullers still save their checkpoints on a read-only listener.
    let saved = exchange(
        &mut r,
        &req(
            names::SET_CHECKPOINT,
            &[("client", CLIENT), ("rev", "")],
            b"{\"remote\":3}",
        ),
    );
    assert_eq!(saved.unwrap().property("rev"), Some("1-cc"));
}

#[test]
fn checkpoints_follow_mvcc_revisions() {
    let mut r = session(memory_db(), PassiveConfig::default());
    let set = |rev: &str, body: &str| {
        req(
            names::SET_CHECKPOINT,
            &[("client", CLIENT), ("rev", rev)],
            body.as_bytes(),
        )
    };
    let get = req(names::GET_CHECKPOINT, &[("client", CLIENT)], b"");
    assert_eq!(exchange(&mut r, &get), Err(("HTTP".into(), 404)));
    assert_eq!(
        exchange(&mut r, &set("1-cc", "{}")),
        Err(("HTTP".into(), 409))
    );
    let first = exchange(&mut r, &set("", r#"{"local":3,"x":[1]}"#)).unwrap();
    assert_eq!(first.property("rev"), Some("1-cc"));
    // A stale or new-looking rev conflicts; the body is kept as the peer wrote it.
    assert_eq!(exchange(&mut r, &set("", "{}")), Err(("HTTP".into(), 409)));
    assert_eq!(
        exchange(&mut r, &set("7-cc", "{}")),
        Err(("HTTP".into(), 409))
    );
    let got = exchange(&mut r, &get).unwrap();
    assert_eq!(got.property("rev"), Some("1-cc"));
    assert_eq!(replay::json_of(&got.body), json!({"local": 3, "x": [1]}));
    let second = exchange(&mut r, &set("1-cc", r#"{"local":5}"#)).unwrap();
    assert_eq!(second.property("rev"), Some("2-cc"));
}

#[test]
fn pushes_that_would_branch_are_409_and_not_stored() {
    let mut db = memory_db();
    seed(&mut db, &[("d", &[REV_1], false, json!({"v": 1}))]);
    seed(&mut db, &[("d", &[OTHER_2, REV_1], false, json!({"v": 2}))]);
    let mut r = session(db, PassiveConfig::default());
    // The proposal is answered 409 with our current revision.
    let body = format!(r#"[["d","{REV_2}","{REV_1}",8],["e","{REV_1}","",8]]"#);
    let reply = exchange(&mut r, &req(names::PROPOSE_CHANGES, &[], body.as_bytes())).unwrap();
    assert_eq!(
        replay::json_of(&reply.body),
        json!([{"status": 409, "rev": OTHER_2}])
    );
    // A rev sent anyway is refused with 409.
    let rev = req(
        names::REV,
        &[("id", "d"), ("rev", REV_2), ("history", REV_1)],
        b"{\"v\":2}",
    );
    assert_eq!(exchange(&mut r, &rev), Err(("HTTP".into(), 409)));
    assert_eq!(current(&r.db, "d").unwrap().0, OTHER_2);
    assert_eq!(r.db.conflicts("d").unwrap(), []);
}

#[test]
fn oversized_bodies_are_413() {
    let mut config = DatabaseConfig::with_uuid_seed(1);
    config.max_body_size = 64;
    let db = Database::open(MemoryStore::new(), config).unwrap();
    let mut r = session(db, PassiveConfig::default());
    let body = format!(r#"{{"text":"{}"}}"#, "z".repeat(200));
    let rev = req(names::REV, &[("id", "d"), ("rev", REV_1)], body.as_bytes());
    assert_eq!(exchange(&mut r, &rev), Err(("HTTP".into(), 413)));
    assert_eq!(r.db.last_sequence().unwrap(), 0);
}

#[test]
fn no_reply_revs_are_stored_without_an_answer() {
    let mut r = session(memory_db(), PassiveConfig::default());
    let rev = req(names::REV, &[("id", "d"), ("rev", REV_1)], b"{\"v\":1}");
    let n = r.send(&rev, 0x20);
    r.settle();
    assert!(r.session.error().is_none());
    assert!(!r.replies.contains_key(&n));
    assert_eq!(current(&r.db, "d").unwrap().0, REV_1);
    // A norev that wants an answer gets an empty one.
    let norev = req(
        names::NO_REV,
        &[("id", "e"), ("rev", REV_1), ("error", "404")],
        b"",
    );
    assert_eq!(exchange(&mut r, &norev), Ok(Message::new()));
}

#[test]
fn sub_changes_beyond_our_sequence_serves_the_whole_feed_once() {
    let mut db = memory_db();
    seed(&mut db, &[("d", &[REV_1], false, json!({"v": 1}))]);
    let answers: replay::Answerer = Box::new(|msg: &Message| match msg.profile() {
        Some(names::CHANGES) => Some(Message::new().with_body("[0]")),
        _ => Some(Message::new()),
    });
    let mut r = Replay::new(db, PassiveConfig::default(), answers);
    let sub = req(names::SUB_CHANGES, &[("since", "99")], b"");
    assert_eq!(exchange(&mut r, &sub), Ok(Message::new()));
    let announced: Vec<_> = r
        .server_requests
        .iter()
        .map(|s| replay::json_of(&s.message.body))
        .collect();
    assert_eq!(announced, [json!([[1, "d", REV_1, 0, 4]]), json!([])]);
    // One subscription per connection.
    assert_eq!(exchange(&mut r, &sub), Err(("HTTP".into(), 409)));
}

#[test]
fn continuous_feeds_announce_live_changes_and_one_shot_feeds_do_not() {
    for continuous in [false, true] {
        let answers: replay::Answerer = Box::new(|msg: &Message| match msg.profile() {
            Some(names::CHANGES) => Some(Message::new().with_body("[]")),
            _ => Some(Message::new()),
        });
        let mut r = Replay::new(memory_db(), PassiveConfig::default(), answers);
        let props: &[(&str, &str)] = if continuous {
            &[("continuous", "true")]
        } else {
            &[]
        };
        assert_eq!(
            exchange(&mut r, &req(names::SUB_CHANGES, props, b"")),
            Ok(Message::new())
        );
        assert_eq!(r.server_requests.len(), 1, "caught up at once");
        seed(&mut r.db, &[("live", &[REV_1], false, json!({"v": 1}))]);
        let now = r.now;
        r.session.handle_database_changed(now, &mut r.db).unwrap();
        r.settle();
        let bodies: Vec<_> = r
            .server_requests
            .iter()
            .map(|s| replay::json_of(&s.message.body))
            .collect();
        if continuous {
            assert_eq!(
                bodies,
                [json!([]), json!([[1, "live", REV_1, 0, 4]]), json!([])]
            );
        } else {
            assert_eq!(bodies, [json!([])], "a one-shot feed ended at its end");
        }
    }
}

#[test]
fn served_history_respects_the_pullers_max_history() {
    const REV_3: &str = "3-30b16fec190ce5b400a06d07d2e1976f41725a5d";
    for (max, expected) in [
        ("1", Some(REV_2.to_owned())),
        ("20", Some(format!("{REV_2},{REV_1}"))),
    ] {
        let mut db = memory_db();
        seed(
            &mut db,
            &[("d", &[REV_3, REV_2, REV_1], false, json!({"v": 3}))],
        );
        let answers: replay::Answerer = Box::new(move |msg: &Message| match msg.profile() {
            Some(names::CHANGES) => Some(
                Message::new()
                    .with_property("maxHistory", max)
                    .with_body("[[]]"),
            ),
            _ => Some(Message::new()),
        });
        let mut r = Replay::new(db, PassiveConfig::default(), answers);
        assert_eq!(
            exchange(&mut r, &req(names::SUB_CHANGES, &[], b"")),
            Ok(Message::new())
        );
        let rev = r
            .server_requests
            .iter()
            .find(|s| s.message.profile() == Some(names::REV))
            .expect("the rev was sent");
        assert_eq!(
            rev.message.property("history").map(str::to_owned),
            expected,
            "{max}"
        );
    }
}

#[test]
fn a_new_document_may_be_pushed_over_our_tombstone() {
    const TOMB_2: &str = "2-8dad8e411db4297ff03b0d3178ffd3640b16118a";
    const NEW_1: &str = "1-73ad809a692f18df86f9dc0d03edab93b63a7c48";
    let mut db = memory_db();
    seed(&mut db, &[("d", &[REV_1], false, json!({"v": 1}))]);
    seed(&mut db, &[("d", &[TOMB_2, REV_1], true, json!({}))]);
    let mut r = session(db, PassiveConfig::default());
    let body = format!(r#"[["d","{NEW_1}","",8]]"#);
    let answer = exchange(&mut r, &req(names::PROPOSE_CHANGES, &[], body.as_bytes())).unwrap();
    assert_eq!(replay::json_of(&answer.body), json!([]), "accepted");
    let rev = req(
        names::REV,
        &[("id", "d"), ("rev", NEW_1)],
        b"{\"again\":true}",
    );
    assert_eq!(exchange(&mut r, &rev), Ok(Message::new()));
    let (current_rev, deleted, body) = current(&r.db, "d").unwrap();
    assert_eq!((current_rev.as_str(), deleted), (NEW_1, false));
    assert_eq!(body, json!({"again": true}));
}

#[test]
fn proposals_with_invalid_document_ids_are_refused_per_row() {
    let mut r = session(memory_db(), PassiveConfig::default());
    let long_id = "x".repeat(251);
    let body = format!(
        r#"[["ok","{REV_1}","",8],["{long_id}","{REV_1}","",8],["a\u0007","{REV_1}","",8]]"#
    );
    let answer = exchange(&mut r, &req(names::PROPOSE_CHANGES, &[], body.as_bytes())).unwrap();
    assert_eq!(replay::json_of(&answer.body), json!([0, 400, 400]));
    assert_nothing_stored(&r, "proposals");
}

mod arbitrary_requests {
    use super::*;
    use proptest::prelude::*;

    const PROFILES: [&str; 10] = [
        names::GET_CHECKPOINT,
        names::SET_CHECKPOINT,
        names::SUB_CHANGES,
        names::CHANGES,
        names::PROPOSE_CHANGES,
        names::REV,
        names::NO_REV,
        names::GET_ATTACHMENT,
        names::PROVE_ATTACHMENT,
        "other",
    ];
    const KEYS: [&str; 12] = [
        "client",
        "rev",
        "id",
        "history",
        "deleted",
        "since",
        "batch",
        "continuous",
        "deltaSrc",
        "sequence",
        "activeOnly",
        "versioning",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\u{0}]{0,12}",
            Just(REV_1.to_owned()),
            Just(format!("{REV_2},{REV_1}")),
            "[0-9]{1,3}-[0-9a-f]{2,6}",
            "[0-9]{1,20}",
        ]
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(b"{}".to_vec()),
            Just(br#"{"v":1}"#.to_vec()),
            Just(format!(r#"[["d","{REV_1}","",8]]"#).into_bytes()),
            Just(format!(r#"[[1,"d","{REV_1}",0,8]]"#).into_bytes()),
            "[\\[\\]{}\",:0-9a-z -]{0,40}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever a request holds, the session answers it (reply or error), keeps running,
        /// and stores only what a valid `rev` brings.
        #[test]
        fn every_request_is_answered(
            profile in 0..PROFILES.len(),
            props in proptest::collection::vec((0..KEYS.len(), value()), 0..6),
            body in body(),
            read_only in any::<bool>(),
        ) {
            let mut config = PassiveConfig::default();
            config.read_only = read_only;
            let mut r = session(memory_db(), config);
            let props: Vec<(&str, &str)> =
                props.iter().map(|(k, v)| (KEYS[*k], v.as_str())).collect();
            let profile = PROFILES[profile];
            let n = r.send(&req(profile, &props, &body), 0);
            r.settle();
            prop_assert!(r.session.error().is_none());
            prop_assert!(r.replies.contains_key(&n), "{} unanswered", profile);
            let stored = r.db.last_sequence().unwrap();
            if profile != names::REV || read_only || r.reply(n).is_err() {
                prop_assert_eq!(stored, 0);
            }
        }
    }
}

#[test]
fn blobs_are_served_only_for_documents_that_reference_them() {
    use ferry_engine::blob::{AttachmentProof, digest_to_string};
    use ferry_engine::value::Value;
    let mut db = memory_db();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
    let blob = db.save_blob(&bytes, Some("text/plain")).unwrap();
    let hidden = db.save_blob(b"referenced by nothing", None).unwrap();
    db.put("doc", &Value::object([("file", blob.to_value())]), None)
        .unwrap();
    db.put("other", &Value::object([("n", 1)]), None).unwrap();
    let digest = digest_to_string(&blob.digest);
    let mut r = session(db, PassiveConfig::default());
    let get = |doc: &str, digest: &str, extra: &[(&str, &str)]| {
        let mut props = vec![("digest", digest.to_owned()), ("docID", doc.to_owned())];
        props.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
        req(names::GET_ATTACHMENT, &props, b"")
    };
    // Whole, as Couchbase Lite asks.
    let whole = exchange(&mut r, &get("doc", &digest, &[("compress", "true")])).unwrap();
    assert_eq!(whole.body, bytes);
    // In ranges, as Ferry peers ask; a range past the end is empty.
    let range = exchange(
        &mut r,
        &get("doc", &digest, &[("offset", "4000"), ("maxLength", "600")]),
    )
    .unwrap();
    assert_eq!(range.body, &bytes[4000..4600]);
    let tail = exchange(
        &mut r,
        &get("doc", &digest, &[("offset", "4900"), ("maxLength", "600")]),
    )
    .unwrap();
    assert_eq!(tail.body, &bytes[4900..]);
    let bad_offset = exchange(&mut r, &get("doc", &digest, &[("offset", "x")]));
    assert_eq!(bad_offset, Err(("HTTP".into(), 400)));
    // A stored blob the named document does not reference, and a missing docID, are refused.
    assert_eq!(
        exchange(&mut r, &get("other", &digest, &[])),
        Err(("HTTP".into(), 404))
    );
    assert_eq!(
        exchange(&mut r, &get("doc", &digest_to_string(&hidden.digest), &[])),
        Err(("HTTP".into(), 404))
    );
    assert_eq!(
        exchange(
            &mut r,
            &req(names::GET_ATTACHMENT, &[("digest", digest.as_str())], b"")
        ),
        Err(("HTTP".into(), 400))
    );
    // proveAttachment: LiteCore's proof over the nonce and the bytes.
    let nonce = b"0123456789abcdef";
    let proof = exchange(
        &mut r,
        &req(
            names::PROVE_ATTACHMENT,
            &[("digest", digest.as_str()), ("docID", "doc")],
            nonce,
        ),
    )
    .unwrap();
    let mut expected = AttachmentProof::new(nonce).unwrap();
    expected.update(&bytes);
    assert_eq!(proof.body, expected.finish().into_bytes());
    let no_nonce = exchange(
        &mut r,
        &req(names::PROVE_ATTACHMENT, &[("digest", digest.as_str())], b""),
    );
    assert_eq!(no_nonce, Err(("BLIP".into(), 400)));
    assert!(r.events.is_empty(), "serving blobs changes nothing");
}
