//! Tests of `apply` with hand-written deltas in Couchbase Lite's format: known bases, known
//! results, and every malformed shape refused with its named error.

use super::*;

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).expect("test JSON")
}

/// Applies the JSON `delta` to the JSON `old` and checks the result is the JSON `expected`.
fn assert_applies(old: &str, delta: &str, expected: &str) {
    assert_eq!(
        apply_json(&json(old), delta.as_bytes()),
        Ok(json(expected)),
        "apply({old}, {delta})"
    );
}

fn apply_err(old: &str, delta: &str) -> DeltaError {
    match apply_json(&json(old), delta.as_bytes()) {
        Ok(v) => panic!("apply({old}, {delta}) gave {v}, expected an error"),
        Err(e) => e,
    }
}

const DOC: &str =
    r#"{"age":8,"grade":3,"name":{"first":"Bobby","last":"Briggs"},"tags":["a","b","c"]}"#;

#[test]
fn key_deletion_insertion_and_change() {
    assert_applies(
        DOC,
        r#"{"age":18,"grade":[],"nick":"Bob"}"#,
        r#"{"age":18,"name":{"first":"Bobby","last":"Briggs"},"tags":["a","b","c"],"nick":"Bob"}"#,
    );
    // JsonDiffPatch's deletion [old, 0, 0] and replacement [old, new].
    assert_applies(
        DOC,
        r#"{"grade":[3,0,0],"age":[8,9]}"#,
        r#"{"age":9,"name":{"first":"Bobby","last":"Briggs"},"tags":["a","b","c"]}"#,
    );
}

#[test]
fn nested_object_change() {
    assert_applies(
        DOC,
        r#"{"name":{"first":"Robert","title":"Maj.","last":[]}}"#,
        r#"{"age":8,"grade":3,"name":{"first":"Robert","title":"Maj."},"tags":["a","b","c"]}"#,
    );
}

#[test]
fn wholesale_replacement() {
    // A wrapped object replaces rather than patches.
    assert_applies(
        DOC,
        r#"{"name":[{"full":"Bob"}],"tags":[{"0":"x"}]}"#,
        r#"{"age":8,"grade":3,"name":{"full":"Bob"},"tags":{"0":"x"}}"#,
    );
    assert_applies(DOC, "[[1,2]]", "[1,2]");
    assert_applies(DOC, "7", "7");
    assert_applies(DOC, r#""text""#, r#""text""#);
    assert_applies(DOC, "null", "null");
    assert_applies(DOC, "{}", DOC);
    assert_applies("5", "{}", "5");
    assert_applies(r#"{"a":1}"#, r#"{"b":[[]]}"#, r#"{"a":1,"b":[]}"#);
}

#[test]
fn array_edits() {
    assert_applies(r#"[1,2,3]"#, r#"{"1":20}"#, r#"[1,20,3]"#);
    assert_applies(r#"[1,2,3]"#, r#"{"3-":[4,5]}"#, r#"[1,2,3,4,5]"#);
    assert_applies(r#"[1,2,3]"#, r#"{"1-":[]}"#, r#"[1]"#);
    assert_applies(r#"[1,2,3]"#, r#"{"0":0,"1-":["x"]}"#, r#"[0,"x"]"#);
    assert_applies(r#"[1,2,3]"#, r#"{"0-":[]}"#, r#"[]"#);
    assert_applies(
        r#"{"l":[{"a":1},{"a":2}]}"#,
        r#"{"l":{"1":{"a":3,"b":4}}}"#,
        r#"{"l":[{"a":1},{"a":3,"b":4}]}"#,
    );
    assert_applies(r#"[[1,2],[3]]"#, r#"{"0":{"2-":[9]}}"#, r#"[[1,2,9],[3]]"#);
}

#[test]
fn string_diffs() {
    // Deltas.md's first example says "31=", one too many for its 35-byte string (Fleece's own
    // apply would refuse it); the counts that cover the string are these.
    assert_applies(
        r#""The fog comes in on little cat feet""#,
        r#"["4=1-1+d|30=",0,2]"#,
        r#""The dog comes in on little cat feet""#,
    );
    assert_eq!(
        apply_err(
            r#""The fog comes in on little cat feet""#,
            r#"["4=1-1+d|31=",0,2]"#
        ),
        DeltaError::TextDiffOutOfRange { end: 36, len: 35 }
    );
    // Deltas.md's second example, verbatim.
    assert_applies(
        r#""to wound the autumnal city. So howled out for the world to give him a name.  The in-dark answered with the wind.""#,
        r#"["1-1+T|12=5-4+eter|13=3+he |37=1-3+its|6=1-27=4-5=",0,2]"#,
        r#""To wound the eternal city. So he howled out for the world to give him its name. The in-dark answered with wind.""#,
    );
    // Inside an object, multibyte insertions (byte counts), and an insertion holding '|'.
    assert_applies(
        r#"{"s":"café au lait"}"#,
        r#"{"s":["5=4+ ☕|8=",0,2]}"#,
        r#"{"s":"café ☕ au lait"}"#,
    );
    assert_applies(r#""ab""#, r#"["1=2+|||1=",0,2]"#, r#""a||b""#);
    assert_applies(r#""""#, r#"["2+hi|",0,2]"#, r#""hi""#);
}

#[test]
fn malformed_shapes_are_named() {
    assert_eq!(apply_err(DOC, "[]"), DeltaError::DeletionOutsideObject);
    assert_eq!(apply_err(DOC, "[1,0,0]"), DeltaError::DeletionOutsideObject);
    assert_eq!(
        apply_err(DOC, r#"{"missing":[]}"#),
        DeltaError::DeletionOfMissingKey {
            key: "missing".into()
        }
    );
    assert_eq!(
        apply_err(DOC, r#"{"missing":[1,2]}"#),
        DeltaError::ReplacementOfMissingKey {
            key: "missing".into()
        }
    );
    assert_eq!(
        apply_err(DOC, r#"{"age":{"x":1}}"#),
        DeltaError::ObjectDeltaOnScalar
    );
    assert_eq!(
        apply_err(DOC, r#"{"missing":{"x":1}}"#),
        DeltaError::ObjectDeltaOnScalar
    );
    assert_eq!(
        apply_err(DOC, r#"{"age":[1,2,3,4]}"#),
        DeltaError::BadArrayLength { len: 4 }
    );
    assert_eq!(apply_err(DOC, "not json"), {
        let Err(e) = Value::from_json(b"not json") else {
            unreachable!()
        };
        DeltaError::Decode(e)
    });
}

#[test]
fn unknown_format_codes_are_named() {
    for code in ["3", "1", "-1", "2.0", r#""2""#, "null"] {
        assert_eq!(
            apply_err(r#"{"s":"abc"}"#, &format!(r#"{{"s":["x",0,{code}]}}"#)),
            DeltaError::UnknownFormatCode { code: json(code) },
            "code {code}"
        );
    }
}

#[test]
fn bad_text_diffs_are_named() {
    let old = r#"{"s":"abcdef","n":5}"#;
    let err = |patch: &str| apply_err(old, &format!(r#"{{"s":["{patch}",0,2]}}"#));
    assert_eq!(
        apply_err(old, r#"{"n":["1=",0,2]}"#),
        DeltaError::TextDiffOnNonString
    );
    assert_eq!(
        apply_err(old, r#"{"new":["1=",0,2]}"#),
        DeltaError::TextDiffOnNonString
    );
    assert_eq!(
        apply_err(old, r#"{"s":[5,0,2]}"#),
        DeltaError::MalformedTextDiff {
            offset: 0,
            reason: "the patch is not a string"
        }
    );
    assert!(matches!(
        err(""),
        DeltaError::MalformedTextDiff { offset: 0, .. }
    ));
    assert_eq!(err("7="), DeltaError::TextDiffOutOfRange { end: 7, len: 6 });
    assert_eq!(
        err("2=5-"),
        DeltaError::TextDiffOutOfRange { end: 7, len: 6 }
    );
    assert_eq!(
        err("2=1+x|"),
        DeltaError::TextDiffLengthMismatch { covered: 2, len: 6 }
    );
    assert!(matches!(
        err("6=2+x|"),
        DeltaError::MalformedTextDiff { offset: 6, .. }
    ));
    assert!(matches!(
        err("6=1+xy"),
        DeltaError::MalformedTextDiff { offset: 5, .. }
    ));
    assert!(matches!(
        err("6=3+x|"),
        DeltaError::MalformedTextDiff { offset: 4, .. }
    ));
    assert!(matches!(
        err("6*"),
        DeltaError::MalformedTextDiff { offset: 1, .. }
    ));
    assert!(matches!(
        err("=6"),
        DeltaError::MalformedTextDiff { offset: 0, .. }
    ));
    assert!(matches!(
        err(" 6="),
        DeltaError::MalformedTextDiff { offset: 0, .. }
    ));
    assert!(matches!(
        err("6"),
        DeltaError::MalformedTextDiff { offset: 1, .. }
    ));
    assert!(matches!(
        err("99999999999999999999999="),
        DeltaError::MalformedTextDiff { offset: 0, .. }
    ));
    // Cutting "é" (2 bytes) in half.
    assert_eq!(
        apply_err(r#""é""#, r#"["1=1-",0,2]"#),
        DeltaError::TextDiffInvalidUtf8
    );
}

#[test]
fn array_index_issues_are_named() {
    let arr = r#"[1,2,3]"#;
    for key in ["x", "-1", "01", "1--", "", "1-1", "+1"] {
        assert_eq!(
            apply_err(arr, &format!(r#"{{"{key}":5}}"#)),
            DeltaError::InvalidArrayKey { key: key.into() },
            "key {key:?}"
        );
    }
    assert_eq!(
        apply_err(arr, r#"{"3":5}"#),
        DeltaError::ArrayIndexOutOfRange { index: 3, limit: 3 }
    );
    assert_eq!(
        apply_err(arr, r#"{"4-":[5]}"#),
        DeltaError::ArrayIndexOutOfRange { index: 4, limit: 4 }
    );
    assert_eq!(
        apply_err(arr, r#"{"2":5,"1-":[]}"#),
        DeltaError::ArrayIndexOutOfRange { index: 2, limit: 1 }
    );
    assert_eq!(
        apply_err(arr, r#"{"1-":[],"2-":[]}"#),
        DeltaError::InvalidArrayKey { key: "2-".into() }
    );
    assert_eq!(
        apply_err(arr, r#"{"1-":5}"#),
        DeltaError::RemainderNotArray { key: "1-".into() }
    );
    assert_eq!(
        apply_err(arr, r#"{"1":[]}"#),
        DeltaError::DeletionOutsideObject
    );
    assert_eq!(
        apply_err(arr, r#"{"99999999999999999999999":1}"#),
        DeltaError::InvalidArrayKey {
            key: "99999999999999999999999".into()
        }
    );
}

#[test]
fn patch_nesting_is_bounded() {
    let mut old = Value::from(1);
    let mut delta = Value::from(2);
    for _ in 0..MAX_DELTA_DEPTH + 1 {
        old = Value::object([("k", old)]);
        delta = Value::object([("k", delta)]);
    }
    assert_eq!(
        apply(&old, &delta),
        Err(DeltaError::DepthLimitExceeded {
            limit: MAX_DELTA_DEPTH
        })
    );
    // One level less is fine.
    if let (Value::Object(o), Value::Object(d)) = (&old, &delta) {
        assert!(apply(&o["k"], &d["k"]).is_ok());
    }
}
