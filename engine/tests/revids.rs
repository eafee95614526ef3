//! Revision IDs against LiteCore 3.0's recorded cases (`vectors/litecore-3.0/revids.json`).
//!
//! For every case: LiteCore's ID parses, has the right generation and orders after its parent;
//! LiteCore's formula reproduces it byte for byte from the Fleece body it stored; and Ferry's
//! own digest (over deterministic CBOR) has the same properties, partitioning the cases exactly
//! as LiteCore's IDs do.

mod support;

use ferry_engine::rev::{RevId, new_rev_id, new_rev_id_from_cbor};
use ferry_engine::value::Value;
use sha1::{Digest, Sha1};

/// One case of `revids.json`.
#[derive(Debug)]
struct Case {
    doc_id: String,
    op: String,
    parent: Option<RevId>,
    deleted: bool,
    /// `body_json` parsed by Ferry (so `1.0` stays a float); the empty map for deletions.
    body: Value,
    /// The exact JSON text LiteCore was given.
    body_json: String,
    revid: RevId,
    fleece: Vec<u8>,
    /// Ferry's ID for the case, with LiteCore's parent ID as the parent.
    ferry: RevId,
}

impl Case {
    fn name(&self) -> String {
        format!("{} {} {}", self.doc_id, self.op, self.revid)
    }
}

fn load() -> Vec<Case> {
    let path = support::litecore_vector("revids.json");
    let text = std::fs::read(&path).expect("read revids.json");
    let file = Value::from_json(&text).expect("revids.json is JSON");
    let cases = file.as_array().expect("revids.json is an array");
    assert_eq!(cases.len(), 26, "the README announces 26 cases");
    cases
        .iter()
        .map(|c| {
            let field = |k: &str| c.get(k).unwrap_or_else(|| panic!("case lacks {k}: {c}"));
            let text = |k: &str| {
                field(k)
                    .as_str()
                    .unwrap_or_else(|| panic!("{k} not a string"))
            };
            let parent = match text("parent") {
                "" => None,
                p => Some(RevId::parse(p).expect("parent parses")),
            };
            let deleted = field("deleted").as_bool().expect("deleted is a bool");
            let body_json = field("body_json").as_str();
            let body = match body_json {
                Some(json) if !json.is_empty() => {
                    Value::from_json(json.as_bytes()).expect("body_json parses")
                }
                _ => {
                    assert!(deleted, "only deletions lack a body");
                    Value::empty_object()
                }
            };
            assert_eq!(field("sha1_formula_verified"), &Value::Bool(true));
            let revid = RevId::parse(text("revid")).expect("LiteCore's revid parses");
            let ferry = new_rev_id(parent.as_ref(), deleted, &body).expect("Ferry's digest");
            Case {
                doc_id: text("docID").to_owned(),
                op: text("op").to_owned(),
                parent,
                deleted,
                body,
                body_json: body_json.unwrap_or_default().to_owned(),
                revid,
                fleece: hex::decode(text("fleece_hex")).expect("fleece_hex is hex"),
                ferry,
            }
        })
        .collect()
}

#[test]
fn litecore_ids_parse_and_follow_their_parents() {
    for c in load() {
        let expected_gen = c.parent.as_ref().map_or(1, |p| p.generation() + 1);
        assert_eq!(c.revid.generation(), expected_gen, "{}", c.name());
        assert_eq!(c.revid.digest_hex().len(), 40, "{}: a SHA-1", c.name());
        if let Some(p) = &c.parent {
            assert!(c.revid > *p, "{} orders after its parent", c.name());
        }
        assert_eq!(c.op == "delete", c.deleted, "{}", c.name());
    }
}

#[test]
fn litecore_formula_reproduces_every_id_from_its_fleece_body() {
    for c in load() {
        let parent = c.parent.as_ref().map_or("", RevId::as_str);
        let mut sha = Sha1::new();
        sha.update([u8::try_from(parent.len()).expect("short parent")]);
        sha.update(parent.as_bytes());
        sha.update([u8::from(c.deleted)]);
        sha.update(&c.fleece);
        let id = RevId::from_digest(c.revid.generation(), &sha.finalize());
        assert_eq!(id, c.revid, "{}", c.name());
        if c.deleted {
            // LiteCore hashes the empty Fleece dict for a deletion.
            assert_eq!(c.fleece, [0x70, 0x00], "{}", c.name());
        }
    }
}

#[test]
fn ferry_ids_follow_their_parents() {
    for c in load() {
        assert_eq!(c.ferry.generation(), c.revid.generation(), "{}", c.name());
        assert_eq!(c.ferry.digest_hex().len(), 40, "{}", c.name());
        if let Some(p) = &c.parent {
            assert!(c.ferry > *p, "{} orders after its parent", c.name());
        }
        // The CBOR variant agrees with the Value variant.
        let cbor = c.body.to_cbor();
        let from_cbor = new_rev_id_from_cbor(c.parent.as_ref(), c.deleted, &cbor).unwrap();
        assert_eq!(from_cbor, c.ferry, "{}", c.name());
        // Ferry's IDs are not LiteCore's (different body encoding) ...
        assert_ne!(c.ferry, c.revid, "{}", c.name());
    }
}

/// The core property: for every pair of cases, LiteCore's IDs are equal exactly when Ferry's
/// are. So Ferry's digest hashes the same things LiteCore's does: not the doc ID, not key
/// order, the number's kind, and nothing of a deletion's body.
#[test]
fn ferry_partitions_the_cases_exactly_as_litecore() {
    let cases = load();
    let mut equal_pairs = Vec::new();
    for (i, a) in cases.iter().enumerate() {
        for b in &cases[i + 1..] {
            let lite_equal = a.revid == b.revid;
            let ferry_equal = a.ferry == b.ferry;
            assert_eq!(
                lite_equal,
                ferry_equal,
                "{} vs {}: LiteCore equal {lite_equal}, Ferry equal {ferry_equal}",
                a.name(),
                b.name()
            );
            // Equal inputs (parent, deleted, body as a Value) ⇔ equal IDs, in both systems.
            let same_input = a.parent == b.parent && a.deleted == b.deleted && a.body == b.body;
            assert_eq!(same_input, ferry_equal, "{} vs {}", a.name(), b.name());
            if lite_equal {
                equal_pairs.push((a.name(), b.name()));
            }
        }
    }
    // The file's twins: r-1/r-17 (doc ID not hashed), r-3/r-4 created and updated (key order).
    assert_eq!(equal_pairs.len(), 3, "{equal_pairs:?}");
}

fn find<'a>(cases: &'a [Case], doc_id: &str, op: &str, generation: u64) -> &'a Case {
    cases
        .iter()
        .find(|c| c.doc_id == doc_id && c.op == op && c.revid.generation() == generation)
        .unwrap_or_else(|| panic!("no case {doc_id} {op} gen {generation}"))
}

#[test]
fn the_named_properties_hold_for_the_named_cases() {
    let cases = load();
    // Doc ID not hashed.
    let (r1, r17) = (
        find(&cases, "r-1", "create", 1),
        find(&cases, "r-17", "create", 1),
    );
    assert_eq!(r1.revid, r17.revid);
    assert_eq!(r1.ferry, r17.ferry);
    // Input key order does not matter (r-3 is {"b":2,"a":1}, r-4 {"a":1,"b":2}).
    let (r3, r4) = (
        find(&cases, "r-3", "create", 1),
        find(&cases, "r-4", "create", 1),
    );
    assert_ne!(r3.body_json, r4.body_json);
    assert_eq!(r3.body, r4.body);
    assert_eq!(r3.revid, r4.revid);
    assert_eq!(r3.ferry, r4.ferry);
    let (u3, u4) = (
        find(&cases, "r-3", "update", 2),
        find(&cases, "r-4", "update", 2),
    );
    assert_eq!(u3.revid, u4.revid);
    assert_eq!(u3.ferry, u4.ferry);
    // 1.0 and 1 differ: r-13 is {"f":1.0}, r-18 {"f":1}.
    let (r13, r18) = (
        find(&cases, "r-13", "create", 1),
        find(&cases, "r-18", "create", 1),
    );
    assert!(r13.body.get("f").and_then(Value::as_f64) == Some(1.0));
    assert!(r18.body.get("f").and_then(Value::as_i64) == Some(1));
    assert_ne!(r13.revid, r18.revid);
    assert_ne!(r13.ferry, r18.ferry);
}

#[test]
fn a_deletion_hashes_an_empty_body_whatever_is_passed() {
    let cases = load();
    let deletions: Vec<&Case> = cases.iter().filter(|c| c.deleted).collect();
    assert_eq!(deletions.len(), 2, "r-1 at gen 4 and r-2 at gen 2");
    let any_bodies = [
        Value::Null,
        Value::empty_object(),
        Value::object([("a", 3)]),
        Value::from_json(br#"{"back":true}"#).unwrap(),
    ];
    for c in deletions {
        assert_eq!(c.body, Value::empty_object());
        for body in &any_bodies {
            assert_eq!(
                new_rev_id(c.parent.as_ref(), true, body).as_ref(),
                Ok(&c.ferry),
                "{}",
                c.name()
            );
        }
        // A live revision with the empty body is a different revision.
        assert_ne!(
            new_rev_id(c.parent.as_ref(), false, &Value::empty_object()).unwrap(),
            c.ferry
        );
    }
}

/// Chaining Ferry's own IDs (each update's parent is the Ferry ID of the case that made
/// LiteCore's parent) gives the same partition.
#[test]
fn ferry_chains_partition_like_litecore_chains() {
    let cases = load();
    let mut chained: Vec<RevId> = Vec::new();
    for c in &cases {
        let parent = c.parent.as_ref().map(|p| {
            let i = cases
                .iter()
                .position(|x| x.revid == *p)
                .expect("parent is an earlier case");
            chained[i].clone()
        });
        chained.push(new_rev_id(parent.as_ref(), c.deleted, &c.body).unwrap());
    }
    for (i, a) in cases.iter().enumerate() {
        for (j, b) in cases.iter().enumerate().skip(i + 1) {
            assert_eq!(
                a.revid == b.revid,
                chained[i] == chained[j],
                "{} {}",
                a.name(),
                b.name()
            );
        }
        assert_eq!(chained[i].generation(), a.revid.generation());
    }
}
