//! Tests of `diff`: the shapes it writes, its compactness, and `apply(a, diff(a, b)) == b`.

use proptest::prelude::*;

use super::*;
use crate::value::Map;
use crate::value::testing::{arb_scalar, arb_value};

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).expect("test JSON")
}

/// Asserts that `diff(old, new)` is exactly `expected` and that it applies back to `new`.
fn assert_diff(old: &str, new: &str, expected: &str) {
    let (old, new) = (json(old), json(new));
    let delta = diff(&old, &new);
    assert_eq!(delta.to_string(), expected, "diff({old}, {new})");
    assert_eq!(apply(&old, &delta), Ok(new), "apply(old, {delta})");
}

#[test]
fn object_changes_use_fleece_shapes() {
    // Fleece's Deltas.md examples.
    assert_diff(
        r#"{"age":8,"grade":3,"name":{"first":"Bobby","last":"Briggs"}}"#,
        r#"{"age":18,"name":{"first":"Robert","last":"Briggs"}}"#,
        r#"{"age":18,"grade":[],"name":{"first":"Robert"}}"#,
    );
    assert_diff(
        r#"{"age":18,"name":{"first":"Robert","last":"Briggs"}}"#,
        r#"{"age":38,"name":{"first":"Robert","last":"Briggs","title":"Maj."}}"#,
        r#"{"age":38,"name":{"title":"Maj."}}"#,
    );
    // Inserted objects and arrays are wrapped; scalars are not; a type change replaces.
    assert_diff(
        r#"{"a":1,"b":{"x":1},"c":"s"}"#,
        r#"{"a":1,"b":[1,2],"c":{"y":2},"d":null,"e":[]}"#,
        r#"{"b":[[1,2]],"c":[{"y":2}],"d":null,"e":[[]]}"#,
    );
}

#[test]
fn equal_values_give_the_no_op_delta() {
    for text in [r#"{"a":[1,{"b":2}]}"#, "[]", "{}", "1", r#""s""#, "null"] {
        assert_diff(text, text, "{}");
    }
}

#[test]
fn root_replacements_are_wrapped() {
    assert_diff("1", "2", "[2]");
    assert_diff(r#"{"a":1}"#, "[1]", "[[1]]");
    assert_diff("[1]", "[]", "[[]]");
    assert_diff("[]", "[1]", "[[1]]");
    assert_diff(r#""a""#, "null", "[null]");
    assert_diff("{}", r#"{"a":1}"#, r#"{"a":1}"#);
}

#[test]
fn ints_floats_and_signed_zeros_are_changes() {
    assert_diff(r#"{"n":1}"#, r#"{"n":1.0}"#, r#"{"n":1.0}"#);
    assert_diff(r#"{"n":1.0}"#, r#"{"n":1}"#, r#"{"n":1}"#);
    assert_diff(r#"{"n":0.0}"#, r#"{"n":-0.0}"#, r#"{"n":-0.0}"#);
    assert_diff(
        r#"{"n":18446744073709551615}"#,
        r#"{"n":-9223372036854775808}"#,
        r#"{"n":-9223372036854775808}"#,
    );
}

#[test]
fn arrays_are_patched_by_index_with_a_remainder() {
    let long: Vec<String> = (0..20).map(|i| format!("item number {i}")).collect();
    let old = Value::array(long.clone());
    // One item changed.
    let mut new_items = long.clone();
    new_items[3] = "changed".into();
    let delta = diff(&old, &Value::array(new_items.clone()));
    assert_eq!(delta.to_string(), r#"{"3":"changed"}"#);
    // Appended.
    let mut appended = long.clone();
    appended.push("new".into());
    let delta = diff(&old, &Value::array(appended.clone()));
    assert_eq!(delta.to_string(), r#"{"20-":["new"]}"#);
    assert_eq!(apply(&old, &delta), Ok(Value::array(appended)));
    // Truncated.
    let delta = diff(&old, &Value::array(long[..18].to_vec()));
    assert_eq!(delta.to_string(), r#"{"18-":[]}"#);
    assert_eq!(apply(&old, &delta), Ok(Value::array(long[..18].to_vec())));
    // Nested change inside an item.
    assert_diff(
        r#"{"list":[{"id":1,"v":"a"},{"id":2,"v":"b"},{"id":3,"v":"c"}]}"#,
        r#"{"list":[{"id":1,"v":"a"},{"id":2,"v":"B"},{"id":3,"v":"c"}]}"#,
        r#"{"list":{"1":{"v":"B"}}}"#,
    );
}

#[test]
fn a_patch_larger_than_the_value_becomes_a_replacement() {
    // Fleece would write {"0":2,"1":3,"2-":[4]}; [[2,3,4]] is smaller.
    assert_diff(
        r#"{"a":[1,2,3]}"#,
        r#"{"a":[2,3,4,5]}"#,
        r#"{"a":[[2,3,4,5]]}"#,
    );
    // Every key replaced: wholesale.
    assert_diff(
        r#"{"o":{"long key one":1,"long key two":2}}"#,
        r#"{"o":{"k":3}}"#,
        r#"{"o":[{"k":3}]}"#,
    );
}

#[test]
fn long_strings_get_text_diffs_short_ones_do_not() {
    let old = "The fog comes in on little cat feet. It sits looking over harbor and city.";
    let new = "The dog comes in on little cat feet. It sits looking over harbor and city.";
    let delta = diff(&Value::from(old), &Value::from(new));
    assert_eq!(delta.to_string(), r#"["4=1-1+d|69=",0,2]"#);
    let nested = diff(
        &Value::object([("poem", old)]),
        &Value::object([("poem", new)]),
    );
    assert_eq!(nested.to_string(), r#"{"poem":["4=1-1+d|69=",0,2]}"#);
    // Under 60 bytes: plain replacement, as Fleece.
    assert_diff(
        r#"{"title":"Document number 7"}"#,
        r#"{"title":"Document number 7 (edited)"}"#,
        r#"{"title":"Document number 7 (edited)"}"#,
    );
    // A rewrite: the diff would be longer than the string, so the string is sent.
    let a = "a".repeat(80);
    let b = "b".repeat(80);
    assert_eq!(
        diff(
            &Value::object([("s", a.as_str())]),
            &Value::object([("s", b.as_str())])
        )
        .to_string(),
        format!(r#"{{"s":"{b}"}}"#)
    );
}

#[test]
fn text_diffs_keep_utf8_characters_whole() {
    let old = "Zoë's café serves naïve crème brûlée to 東京 visitors every single day.";
    let new = "Zoë's cafè serves naive crème brûlée to 京都 visitors every single day!";
    let patch = text::diff(old, new);
    assert_eq!(text::apply(old, &patch), Ok(new.to_owned()), "{patch}");
    let delta = diff(&Value::from(old), &Value::from(new));
    assert_eq!(apply(&Value::from(old), &delta), Ok(Value::from(new)));
}

#[test]
fn text_diff_of_scattered_edits_uses_myers() {
    let old = "one two three four five six seven eight nine ten eleven twelve thirteen";
    let new = "one 2 three four five 6 seven eight nine 10 eleven twelve thirteen";
    let patch = text::diff(old, new);
    assert_eq!(patch, "4=3-1+2|17=3-1+6|18=3-2+10|23=");
    assert_eq!(text::apply(old, &patch), Ok(new.to_owned()));
}

#[test]
fn one_field_edit_of_a_100_kb_document_is_tiny() {
    let mut doc = Map::new();
    for i in 0..400 {
        doc.insert(
            format!("field-{i:03}"),
            Value::object([
                ("index", Value::from(i)),
                ("score", Value::float(f64::from(i) / 7.0).expect("finite")),
                ("text", Value::from(format!("{i:04} ").repeat(40))),
            ]),
        );
    }
    let old = Value::Object(doc);
    let mut new = old.clone();
    if let Some(Value::Object(item)) = new.as_object_mut().and_then(|m| m.get_mut("field-200")) {
        item.insert("score".into(), Value::from(99));
    }
    let body = new.to_json().len();
    let delta = encode_if_worthwhile_json(&old, &new, DeltaPolicy::default())
        .expect("a one-field edit is worth a delta");
    assert_eq!(delta, br#"{"field-200":{"score":99}}"#);
    assert!(body >= 100_000, "body is {body} bytes");
    assert!(
        delta.len() * 100 < body,
        "delta {} bytes for a {body}-byte body ({:.4}%)",
        delta.len(),
        delta.len() as f64 * 100.0 / body as f64
    );
    assert_eq!(apply_json(&old, &delta), Ok(new.clone()));
    // The figures (deterministic): a 104,165-byte body, a 26-byte delta (0.025%).
    assert_eq!(
        (body, delta.len()),
        (104_165, 26),
        "body {body} bytes, delta {} bytes",
        delta.len()
    );
    let cbor = encode_if_worthwhile_cbor(&old, &new, DeltaPolicy::default())
        .expect("the CBOR delta is worth it too");
    assert_eq!(apply_cbor(&old, &cbor), Ok(new));
}

#[test]
fn worthwhile_policy_thresholds() {
    let small_old = json(r#"{"a":1}"#);
    let small_new = json(r#"{"a":2}"#);
    assert_eq!(
        encode_if_worthwhile_json(&small_old, &small_new, DeltaPolicy::default()),
        None,
        "bodies under 200 bytes are sent whole"
    );
    let old = Value::object([("a", Value::from(1)), ("b", Value::from("x".repeat(300)))]);
    let rewritten = Value::object([("a", Value::from(2)), ("c", Value::from("y".repeat(300)))]);
    assert_eq!(
        encode_if_worthwhile_json(&old, &rewritten, DeltaPolicy::default()),
        None,
        "a delta as big as the body is not worth it"
    );
    let edited = Value::object([("a", Value::from(2)), ("b", Value::from("x".repeat(300)))]);
    assert_eq!(
        encode_if_worthwhile_json(&old, &edited, DeltaPolicy::default()),
        Some(br#"{"a":2}"#.to_vec())
    );
    let strict = DeltaPolicy {
        min_body: 0,
        max_percent: 0,
    };
    assert_eq!(encode_if_worthwhile_json(&old, &edited, strict), None);
    let lax = DeltaPolicy {
        min_body: 0,
        max_percent: 100,
    };
    assert_eq!(
        encode_if_worthwhile_json(&small_old, &small_new, lax),
        Some(br#"{"a":2}"#.to_vec())
    );
    let cbor =
        encode_if_worthwhile_cbor(&old, &edited, DeltaPolicy::default()).expect("CBOR delta");
    assert_eq!(Value::from_cbor(&cbor), Ok(json(r#"{"a":2}"#)));
}

#[test]
fn deep_values_are_replaced_below_the_depth_limit() {
    let mut old = Value::from(1);
    let mut new = Value::from(2);
    for _ in 0..MAX_DELTA_DEPTH + 10 {
        old = Value::object([("k", old)]);
        new = Value::object([("k", new)]);
    }
    let delta = diff(&old, &new);
    assert_eq!(apply(&old, &delta), Ok(new));
}

/// A value and an edited copy of it: most keys kept, some changed, added or removed.
fn arb_edit() -> impl Strategy<Value = (Value, Value)> {
    (arb_value(), arb_value(), any::<u64>()).prop_map(|(a, b, seed)| {
        let edited = mix(&a, &b, seed);
        (a, edited)
    })
}

/// Mixes `b` into `a` deterministically from `seed`: keeps, replaces, edits or drops parts.
fn mix(a: &Value, b: &Value, seed: u64) -> Value {
    let pick = seed % 5;
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let mut out = Map::new();
            for (i, (k, v)) in ma.iter().enumerate() {
                let s = seed.rotate_left(i as u32 * 7 + 1);
                match (s % 4, mb.get(k)) {
                    (0, _) => {}
                    (1, Some(w)) => {
                        out.insert(k.clone(), mix(v, w, s / 4));
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            for (k, w) in mb {
                if seed.count_ones() % 2 == 0 || !ma.contains_key(k) {
                    out.entry(k.clone()).or_insert_with(|| w.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(xa), Value::Array(xb)) => {
            let mut out = xa.clone();
            match pick {
                0 => out.extend(xb.iter().cloned()),
                1 => out.truncate(xa.len() / 2),
                _ => {
                    for (i, w) in xb.iter().enumerate() {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = mix(slot, w, seed / 3);
                        }
                    }
                }
            }
            Value::Array(out)
        }
        (Value::String(sa), Value::String(sb)) if pick < 3 => {
            let cut = sa
                .char_indices()
                .nth(sa.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            Value::String(format!("{}{sb}{}", &sa[..cut], &sa[cut..]).repeat(1 + pick as usize))
        }
        _ if pick == 0 => a.clone(),
        _ => b.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn apply_diff_gives_the_new_value(a in arb_value(), b in arb_value()) {
        let delta = diff(&a, &b);
        prop_assert_eq!(apply(&a, &delta), Ok(b.clone()));
        // Through the wire encodings too.
        prop_assert_eq!(apply_json(&a, &delta.to_json()), Ok(b.clone()));
        prop_assert_eq!(apply_cbor(&a, &delta.to_cbor()), Ok(b));
    }

    #[test]
    fn apply_diff_of_an_edit_gives_the_edit((a, b) in arb_edit()) {
        let delta = diff(&a, &b);
        prop_assert_eq!(apply(&a, &delta), Ok(b.clone()));
        // Never bigger than replacing the whole value.
        let whole = Value::Array(vec![b.clone()]);
        prop_assert!(delta.to_json().len() <= whole.to_json().len(), "{} vs {}", delta, whole);
    }

    #[test]
    fn a_value_diffed_with_itself_is_the_no_op(a in arb_value()) {
        let delta = diff(&a, &a);
        prop_assert_eq!(&delta, &Value::empty_object());
        prop_assert_eq!(apply(&a, &delta), Ok(a));
    }

    #[test]
    fn text_diffs_round_trip(a in any::<String>(), b in any::<String>(),
                             prefix in "\\PC{0,40}", suffix in "\\PC{0,40}") {
        let (old, new) = (format!("{prefix}{a}{suffix}"), format!("{prefix}{b}{suffix}"));
        let patch = text::diff(&old, &new);
        prop_assert_eq!(text::apply(&old, &patch), Ok(new));
    }

    #[test]
    fn scalars_under_keys_are_written_bare(a in arb_scalar(), b in arb_scalar()) {
        prop_assume!(a != b && !matches!((&a, &b), (Value::String(_), Value::String(_))));
        let old = Value::object([("k", a)]);
        let new = Value::object([("k", b.clone())]);
        prop_assert_eq!(diff(&old, &new), Value::object([("k", b)]));
    }
}
