//! Delta sync against LiteCore 3.0: the `delta` scenario of `../shared/vectors/litecore-3.0`.
//!
//! conn 0 pushes `big-1` rev 1 in full; conn 1 pushes rev 2 as a delta against rev 1
//! (`deltaSrc`); conn 2 pulls rev 3 (made on the listener) as a delta against rev 2. The bodies
//! are taken from the recorded frames, decoded by Ferry's BLIP reader, byte for byte as LiteCore
//! sent them, and checked against the decoded `delta.messages.json`.

mod support;

use std::collections::BTreeMap;

use ferry_engine::blip::{Config, FrameReader, Message, Received};
use ferry_engine::delta::{self, DeltaPolicy};
use ferry_engine::value::Value;

/// Every `rev` request of the scenario, in order: (conn, message).
fn recorded_revs() -> Vec<(u64, Message)> {
    let text = std::fs::read_to_string(support::litecore_vector("delta.frames.jsonl"))
        .expect("read delta.frames.jsonl");
    let mut readers: BTreeMap<(u64, String), FrameReader> = BTreeMap::new();
    let mut revs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("frame line");
        let conn = v["conn"].as_u64().expect("conn");
        let dir = v["dir"].as_str().expect("dir").to_owned();
        let frame = hex::decode(v["hex"].as_str().expect("hex")).expect("hex frame");
        let reader = readers
            .entry((conn, dir))
            .or_insert_with(|| FrameReader::new(&Config::default()));
        if let Received::Message(m) = reader.handle_frame(&frame).expect("recorded frame") {
            if m.message.profile() == Some("rev") {
                revs.push((conn, m.message));
            }
        }
    }
    revs
}

/// The `rev` bodies as `delta.messages.json` records them (parsed JSON), in order.
fn decoded_rev_bodies() -> Vec<Value> {
    let text = std::fs::read(support::litecore_vector("delta.messages.json")).expect("read");
    let messages = Value::from_json(&text).expect("messages JSON");
    messages
        .as_array()
        .expect("an array of messages")
        .iter()
        .filter(|m| {
            m.get("properties")
                .and_then(|p| p.get("Profile"))
                .and_then(Value::as_str)
                == Some("rev")
        })
        .map(|m| m.get("body").cloned().expect("body"))
        .collect()
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    v.as_object_mut().expect("object").remove(key);
    v
}

#[test]
fn litecore_deltas_reproduce_revisions_2_and_3() {
    let revs = recorded_revs();
    assert_eq!(revs.len(), 3, "three rev messages");
    let (c0, full) = &revs[0];
    let (c1, push_delta) = &revs[1];
    let (c2, pull_delta) = &revs[2];
    assert_eq!((*c0, *c1, *c2), (0, 1, 2));

    let rev1_id = "1-4e861cfa5c45608227effb4f884aba9ee137ac40";
    let rev2_id = "2-2bdad3e1731fb1c082f8736821c12def89c8ab28";
    assert_eq!(full.property("rev"), Some(rev1_id));
    assert_eq!(full.property("deltaSrc"), None);
    assert_eq!(push_delta.property("rev"), Some(rev2_id));
    assert_eq!(push_delta.property("deltaSrc"), Some(rev1_id));
    assert_eq!(
        pull_delta.property("rev"),
        Some("3-f1ce123ee6e3b22f144619a50c8399a4990808d5")
    );
    assert_eq!(pull_delta.property("deltaSrc"), Some(rev2_id));

    // The exact bytes LiteCore sent.
    assert_eq!(
        push_delta.body,
        br#"{"title":"Document number 7 (edited)"}"#
    );
    assert_eq!(pull_delta.body, br#"{"score":8.5}"#);

    // They agree with the decoded messages file.
    let decoded = decoded_rev_bodies();
    let rev1 = Value::from_json(&full.body).expect("rev 1 body");
    assert_eq!(decoded[0], rev1);
    assert_eq!(
        Value::from_json(&push_delta.body).ok().as_ref(),
        Some(&decoded[1])
    );
    assert_eq!(
        Value::from_json(&pull_delta.body).ok().as_ref(),
        Some(&decoded[2])
    );

    // Rev 1 → rev 2: only the title changes.
    let rev2 = delta::apply_json(&rev1, &push_delta.body).expect("apply the pushed delta");
    assert_eq!(
        rev2.get("title").and_then(Value::as_str),
        Some("Document number 7 (edited)")
    );
    assert_eq!(
        rev1.get("title").and_then(Value::as_str),
        Some("Document number 7")
    );
    assert_eq!(without(&rev2, "title"), without(&rev1, "title"));
    assert_eq!(
        rev2.as_object().map(|m| m.len()),
        rev1.as_object().map(|m| m.len())
    );

    // Rev 2 → rev 3: only the score changes, 0.95 → 8.5 (a float).
    let rev3 = delta::apply_json(&rev2, &pull_delta.body).expect("apply the pulled delta");
    assert_eq!(rev2.get("score").and_then(Value::as_f64), Some(0.95));
    assert_eq!(rev3.get("score").and_then(Value::as_f64), Some(8.5));
    assert_eq!(without(&rev3, "score"), without(&rev2, "score"));

    // Ferry's own diff writes LiteCore's deltas byte for byte.
    assert_eq!(delta::diff(&rev1, &rev2).to_json(), push_delta.body);
    assert_eq!(delta::diff(&rev2, &rev3).to_json(), pull_delta.body);

    // Sizes: the full body is ~1.7 KB on the wire; each delta is under 3% of it.
    let body = full.body.len();
    assert!((1600..1800).contains(&body), "rev 1 body is {body} bytes");
    assert_eq!(push_delta.body.len(), 38);
    assert_eq!(pull_delta.body.len(), 13);
    for d in [&push_delta.body, &pull_delta.body] {
        assert!(d.len() * 100 < body * 3, "{} vs {body} bytes", d.len());
    }
    // Ferry's policy would send the same deltas.
    assert_eq!(
        delta::encode_if_worthwhile_json(&rev1, &rev2, DeltaPolicy::default()).as_deref(),
        Some(push_delta.body.as_slice())
    );
    assert_eq!(
        delta::encode_if_worthwhile_json(&rev2, &rev3, DeltaPolicy::default()).as_deref(),
        Some(pull_delta.body.as_slice())
    );
}
