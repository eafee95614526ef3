//! Byte-exact tests of the CBOR codec: RFC 8949 Appendix A, errors, determinism.

use proptest::prelude::*;

use super::cbor::{f16_to_f64, f32_to_f16_exact};
use super::testing::{arb_key, arb_value};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn f(x: f64) -> Value {
    Value::float(x).unwrap()
}

fn s(x: &str) -> Value {
    Value::from(x)
}

/// RFC 8949 Appendix A examples that are in the data model, with their deterministic bytes.
fn appendix_a() -> Vec<(Value, &'static str)> {
    vec![
        (Value::from(0), "00"),
        (Value::from(1), "01"),
        (Value::from(10), "0a"),
        (Value::from(23), "17"),
        (Value::from(24), "1818"),
        (Value::from(25), "1819"),
        (Value::from(100), "1864"),
        (Value::from(1000), "1903e8"),
        (Value::from(1_000_000), "1a000f4240"),
        (Value::from(1_000_000_000_000i64), "1b000000e8d4a51000"),
        (Value::from(u64::MAX), "1bffffffffffffffff"),
        (Value::from(-1), "20"),
        (Value::from(-10), "29"),
        (Value::from(-100), "3863"),
        (Value::from(-1000), "3903e7"),
        (f(0.0), "f90000"),
        (f(-0.0), "f98000"),
        (f(1.0), "f93c00"),
        (f(1.1), "fb3ff199999999999a"),
        (f(1.5), "f93e00"),
        (f(65504.0), "f97bff"),
        (f(100000.0), "fa47c35000"),
        (f(3.4028234663852886e+38), "fa7f7fffff"),
        (f(1.0e+300), "fb7e37e43c8800759c"),
        (f(5.960464477539063e-8), "f90001"),
        (f(0.00006103515625), "f90400"),
        (f(-4.0), "f9c400"),
        (f(-4.1), "fbc010666666666666"),
        (Value::Bool(false), "f4"),
        (Value::Bool(true), "f5"),
        (Value::Null, "f6"),
        (s(""), "60"),
        (s("a"), "6161"),
        (s("IETF"), "6449455446"),
        (s("\"\\"), "62225c"),
        (s("\u{00fc}"), "62c3bc"),
        (s("\u{6c34}"), "63e6b0b4"),
        (s("\u{10151}"), "64f0908591"),
        (Value::array(Vec::<Value>::new()), "80"),
        (Value::array([1, 2, 3]), "83010203"),
        (
            Value::array([Value::from(1), Value::array([2, 3]), Value::array([4, 5])]),
            "8301820203820405",
        ),
        (
            Value::array(1..=25),
            "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        ),
        (Value::empty_object(), "a0"),
        (
            Value::object([("a", Value::from(1)), ("b", Value::array([2, 3]))]),
            "a26161016162820203",
        ),
        (
            Value::array([s("a"), Value::object([("b", "c")])]),
            "826161a161626163",
        ),
        (
            Value::object([("a", "A"), ("b", "B"), ("c", "C"), ("d", "D"), ("e", "E")]),
            "a56161614161626142616361436164614461656145",
        ),
    ]
}

#[test]
fn rfc8949_appendix_a_encodes_byte_exactly_and_decodes_back() {
    for (value, expected) in appendix_a() {
        let bytes = value.to_cbor();
        assert_eq!(hex::encode(&bytes), expected, "{value:?}");
        assert_eq!(Value::from_cbor(&bytes).as_ref(), Ok(&value), "{expected}");
        assert!(is_deterministic_cbor(&bytes), "{expected}");
    }
}

#[test]
fn the_briefs_float_examples() {
    assert_eq!(f(1.0).to_cbor(), hex("f93c00"));
    assert_eq!(f(1.5).to_cbor(), hex("f93e00"));
    assert_eq!(f(100000.0).to_cbor(), hex("fa47c35000"));
    assert_eq!(f(0.1).to_cbor(), hex("fb3fb999999999999a"));
    assert_eq!(f(-0.0).to_cbor(), hex("f98000"));
    assert_eq!(Value::from(1).to_cbor(), hex("01"));
    assert_eq!(Value::from(i64::MIN).to_cbor(), hex("3b7fffffffffffffff"));
    assert_eq!(
        Value::from_cbor(&hex("3b7fffffffffffffff")),
        Ok(Value::from(i64::MIN))
    );
    assert_eq!(Value::from(i64::MAX).to_cbor(), hex("1b7fffffffffffffff"));
}

#[test]
fn rfc8949_appendix_a_non_deterministic_forms_decode() {
    let cases: Vec<(&str, Value)> = vec![
        ("7f657374726561646d696e67ff", s("streaming")),
        ("9fff", Value::array(Vec::<Value>::new())),
        (
            "9f018202039f0405ffff",
            Value::array([Value::from(1), Value::array([2, 3]), Value::array([4, 5])]),
        ),
        (
            "9f01820203820405ff",
            Value::array([Value::from(1), Value::array([2, 3]), Value::array([4, 5])]),
        ),
        (
            "83018202039f0405ff",
            Value::array([Value::from(1), Value::array([2, 3]), Value::array([4, 5])]),
        ),
        (
            "bf61610161629f0203ffff",
            Value::object([("a", Value::from(1)), ("b", Value::array([2, 3]))]),
        ),
        (
            "826161bf61626163ff",
            Value::array([s("a"), Value::object([("b", "c")])]),
        ),
        (
            "bf6346756ef563416d7421ff",
            Value::object([("Fun", Value::from(true)), ("Amt", Value::from(-2))]),
        ),
        // Wider heads and floats than needed, and keys out of order, are still well-formed.
        ("1800", Value::from(0)),
        ("1b0000000000000001", Value::from(1)),
        ("fa3fc00000", f(1.5)),
        ("fb3ff8000000000000", f(1.5)),
        ("fb8000000000000000", f(-0.0)),
        ("a2616201616102", Value::object([("a", 2), ("b", 1)])),
    ];
    for (input, expected) in cases {
        let bytes = hex(input);
        assert_eq!(Value::from_cbor(&bytes).as_ref(), Ok(&expected), "{input}");
        assert!(
            !is_deterministic_cbor(&bytes),
            "{input} is not deterministic"
        );
        assert_eq!(canonicalize_cbor(&bytes), Ok(expected.to_cbor()), "{input}");
    }
}

#[test]
fn errors_name_the_reason() {
    use ValueError as E;
    let cases: Vec<(&str, ValueError)> = vec![
        ("", E::Truncated { offset: 0 }),
        ("1903", E::Truncated { offset: 2 }),
        ("fb3ff0", E::Truncated { offset: 3 }),
        ("9f01", E::Truncated { offset: 2 }),
        (
            "82 01",
            E::LengthExceedsInput {
                offset: 0,
                length: 2,
            },
        ),
        (
            "6261",
            E::LengthExceedsInput {
                offset: 0,
                length: 2,
            },
        ),
        (
            "7bffffffffffffffff",
            E::LengthExceedsInput {
                offset: 0,
                length: u64::MAX,
            },
        ),
        (
            "9bffffffffffffffff00",
            E::LengthExceedsInput {
                offset: 0,
                length: u64::MAX,
            },
        ),
        (
            "bbffffffffffffffff0000",
            E::LengthExceedsInput {
                offset: 0,
                length: u64::MAX,
            },
        ),
        ("0000", E::TrailingBytes { offset: 1 }),
        ("a0ff", E::TrailingBytes { offset: 1 }),
        (
            "1c",
            E::Malformed {
                offset: 0,
                reason: "reserved additional information (28-30)",
            },
        ),
        (
            "ff",
            E::Malformed {
                offset: 0,
                reason: "unexpected break",
            },
        ),
        (
            "1f",
            E::Malformed {
                offset: 0,
                reason: "indefinite length on an integer or tag",
            },
        ),
        (
            "f818",
            E::Malformed {
                offset: 0,
                reason: "two-byte simple value below 32",
            },
        ),
        ("40", E::ByteString { offset: 0 }),
        ("8140", E::ByteString { offset: 1 }),
        ("5f42010243030405ff", E::ByteString { offset: 0 }),
        ("c11a514b67b0", E::Tag { offset: 0, tag: 1 }),
        ("c249010000000000000000", E::Tag { offset: 0, tag: 2 }),
        (
            "f7",
            E::SimpleValue {
                offset: 0,
                value: 23,
            },
        ),
        (
            "f0",
            E::SimpleValue {
                offset: 0,
                value: 16,
            },
        ),
        (
            "f8ff",
            E::SimpleValue {
                offset: 0,
                value: 255,
            },
        ),
        ("a10102", E::NonTextKey { offset: 1 }),
        ("a1f602", E::NonTextKey { offset: 1 }),
        ("a2616101616102", E::DuplicateKey { key: "a".into() }),
        (
            "bf6161016161ff",
            E::Malformed {
                offset: 6,
                reason: "unexpected break",
            },
        ),
        ("bf616101", E::Truncated { offset: 4 }),
        ("bf616101616102ff", E::DuplicateKey { key: "a".into() }),
        ("3bffffffffffffffff", E::IntegerOutOfRange { offset: 0 }),
        ("3b8000000000000000", E::IntegerOutOfRange { offset: 0 }),
        ("62c328", E::InvalidUtf8 { offset: 0 }),
        ("f97c00", E::NonFiniteFloat),
        ("f9fc00", E::NonFiniteFloat),
        ("f97e00", E::NonFiniteFloat),
        ("fa7f800000", E::NonFiniteFloat),
        ("fa7fc00000", E::NonFiniteFloat),
        ("fb7ff0000000000000", E::NonFiniteFloat),
        ("fbfff0000000000000", E::NonFiniteFloat),
    ];
    for (input, expected) in cases {
        let bytes = hex(input);
        assert_eq!(Value::from_cbor(&bytes), Err(expected.clone()), "{input}");
        assert!(!is_deterministic_cbor(&bytes), "{input}");
        assert!(canonicalize_cbor(&bytes).is_err(), "{input}");
    }
    assert!(matches!(
        Value::from_cbor(&hex("7f6161 4161 ff")),
        Err(E::Malformed { offset: 3, .. })
    ));
    assert!(matches!(
        cbor_to_json(&hex("40")),
        Err(E::ByteString { offset: 0 })
    ));
}

#[test]
fn hostile_nesting_is_a_depth_error() {
    for opener in [0x81u8, 0x9f, 0xa1] {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.push(opener);
            if opener == 0xa1 {
                deep.extend_from_slice(b"\x61a");
            }
        }
        let expected = Err(ValueError::DepthLimitExceeded {
            limit: DEFAULT_MAX_DEPTH,
        });
        assert_eq!(Value::from_cbor(&deep), expected, "{opener:x}");
        if opener != 0x9f {
            assert_eq!(
                check_deterministic_cbor(&deep),
                Err(ValueError::DepthLimitExceeded {
                    limit: MAX_DEPTH_CEILING
                }),
                "{opener:x}"
            );
        }
    }
    // Exactly at the limit is fine, one more level is not.
    let at = [vec![0x81; 3], vec![0x80]].concat();
    assert_eq!(
        Value::from_cbor_with_max_depth(&at, 4).map(|v| v.to_cbor()),
        Ok(at.clone())
    );
    assert_eq!(
        Value::from_cbor_with_max_depth(&at, 3),
        Err(ValueError::DepthLimitExceeded { limit: 3 })
    );
    assert_eq!(
        Value::from_cbor_with_max_depth(&vec![0x81; 1_000], usize::MAX),
        Err(ValueError::DepthLimitExceeded {
            limit: MAX_DEPTH_CEILING
        })
    );
}

#[test]
fn map_keys_sort_by_encoded_form_shorter_first() {
    let v = Value::object([("b", 1), ("aa", 2), ("", 3), ("c", 4)]);
    assert_eq!(v.to_cbor(), hex("a4 60 03 6162 01 6163 04 626161 02"));
    // A key of 24+ bytes has a two-byte head, so it sorts after all shorter ones.
    let long = "a".repeat(24);
    let v = Value::object([(long.as_str(), 1), ("z", 2)]);
    let mut expected = hex("a2 617a 02 7818");
    expected.extend_from_slice(long.as_bytes());
    expected.push(0x01);
    assert_eq!(v.to_cbor(), expected);
    assert!(is_deterministic_cbor(&expected));
    // Equal lengths compare bytewise: "ab" (61 62) before "é" (c3 a9).
    let v = Value::object([("é", 1), ("ab", 2), ("a", 3)]);
    assert_eq!(v.to_cbor(), hex("a3 6161 03 626162 02 62c3a9 01"));
}

#[test]
fn non_deterministic_forms_are_named() {
    for (input, reason) in [
        ("1800", "argument not in its shortest form"),
        ("9fff", "indefinite length"),
        ("fa3f800000", "float not in its shortest form"),
        ("fb3ff0000000000000", "float not in its shortest form"),
        ("fb47efffffe0000000", "float not in its shortest form"),
        ("a2616201616102", "map keys not in bytewise order"),
        ("a262616101616202", "map keys not in bytewise order"),
    ] {
        assert!(
            matches!(
                check_deterministic_cbor(&hex(input)),
                Err(ValueError::NotDeterministic { reason: r, .. }) if r == reason
            ),
            "{input}: {:?}",
            check_deterministic_cbor(&hex(input))
        );
    }
}

#[test]
fn every_finite_binary16_value_is_written_as_binary16() {
    for h in 0..=u16::MAX {
        let x = f16_to_f64(h);
        if !x.is_finite() {
            continue;
        }
        let mut expected = vec![0xf9];
        expected.extend_from_slice(&h.to_be_bytes());
        assert_eq!(f(x).to_cbor(), expected, "{h:04x}");
        assert_eq!(Value::from_cbor(&expected), Ok(f(x)), "{h:04x}");
    }
}

#[test]
fn values_just_outside_binary16_widen() {
    // 65520 rounds to infinity in binary16; 2^-25 is below its smallest subnormal;
    // 1 + 2^-11 needs 11 mantissa bits; 2^-24 * 1.5 needs a bit below 2^-24.
    for x in [
        65520.0,
        2f64.powi(-25),
        1.0 + 2f64.powi(-11),
        1.5 * 2f64.powi(-24),
    ] {
        assert_eq!(f(x).to_cbor()[0], 0xfa, "{x}");
        assert_eq!(f32_to_f16_exact(x as f32), None, "{x}");
    }
    assert_eq!(f(f64::from(f32::MIN_POSITIVE) / 2.0).to_cbor()[0], 0xfa);
    assert_eq!(f(5e-324).to_cbor(), hex("fb0000000000000001"));
    assert_eq!(f(f64::MAX).to_cbor(), hex("fb7fefffffffffffff"));
}

proptest! {
    #[test]
    fn cbor_round_trips_and_is_deterministic(v in arb_value()) {
        let bytes = v.to_cbor();
        prop_assert_eq!(Value::from_cbor(&bytes), Ok(v.clone()));
        prop_assert_eq!(check_deterministic_cbor(&bytes), Ok(()));
        prop_assert_eq!(canonicalize_cbor(&bytes), Ok(bytes.clone()));
        // Appending to a reused buffer writes the same bytes.
        let mut out = vec![0xaa];
        v.write_cbor(&mut out);
        prop_assert_eq!(&out[1..], &bytes[..]);
    }

    #[test]
    fn the_check_finds_a_key_in_maps_at_any_depth_and_nowhere_else(
        v in arb_value(),
        key in arb_key(),
    ) {
        fn has_key(v: &Value, key: &str) -> bool {
            match v {
                Value::Object(m) => m.contains_key(key) || m.values().any(|v| has_key(v, key)),
                Value::Array(items) => items.iter().any(|v| has_key(v, key)),
                _ => false,
            }
        }
        let bytes = v.to_cbor();
        prop_assert_eq!(check_deterministic_cbor_for_key(&bytes, &key), Ok(has_key(&v, &key)));
        // As a text value (not a key), it is not found.
        let wrapped = Value::Array(vec![Value::from(key.as_str()), v.clone()]).to_cbor();
        prop_assert_eq!(check_deterministic_cbor_for_key(&wrapped, &key), Ok(has_key(&v, &key)));
    }

    #[test]
    fn encoding_ignores_insertion_order(
        (entries, shuffled) in proptest::collection::btree_map(arb_key(), arb_value(), 0..10)
            .prop_flat_map(|m| {
                let entries: Vec<(String, Value)> = m.into_iter().collect();
                (Just(entries.clone()), Just(entries).prop_shuffle())
            })
    ) {
        // As JSON text, the same entries in two key orders (like LiteCore's r-3 and r-4).
        let text = |entries: &[(String, Value)]| {
            let fields: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
                .collect();
            format!("{{{}}}", fields.join(","))
        };
        let expected = Value::object(entries.clone()).to_cbor();
        prop_assert_eq!(json_to_cbor(text(&entries).as_bytes()), Ok(expected.clone()));
        prop_assert_eq!(json_to_cbor(text(&shuffled).as_bytes()), Ok(expected.clone()));
        prop_assert_eq!(Value::object(shuffled).to_cbor(), expected);
    }

    #[test]
    fn sloppy_encodings_decode_to_the_same_value(v in arb_value(), seed in any::<u64>()) {
        let mut out = Vec::new();
        let mut rng = seed;
        sloppy::write(&v, &mut rng, &mut out);
        prop_assert_eq!(Value::from_cbor(&out), Ok(v.clone()));
        prop_assert_eq!(canonicalize_cbor(&out), Ok(v.to_cbor()));
    }

    #[test]
    fn cbor_to_json_matches_the_value_path(v in arb_value(), seed in any::<u64>(), flips in 0usize..3) {
        // Deterministic, sloppy (indefinite lengths, unsorted keys) and corrupted encodings
        // all give what decoding to a `Value` and writing its JSON gives, errors included.
        let via_value = |b: &[u8]| Value::from_cbor(b).map(|v| v.to_json());
        let det = v.to_cbor();
        prop_assert_eq!(cbor_to_json(&det), Ok(v.to_json()));
        let mut rng = seed;
        let mut sloppy_bytes = Vec::new();
        sloppy::write(&v, &mut rng, &mut sloppy_bytes);
        prop_assert_eq!(cbor_to_json(&sloppy_bytes), via_value(&sloppy_bytes));
        let mut bad = det;
        for i in 0..flips {
            if bad.is_empty() {
                break;
            }
            let at = (seed.rotate_left(i as u32 * 17) as usize) % bad.len();
            bad[at] ^= 1 << ((seed >> (i * 3)) & 7);
        }
        prop_assert_eq!(cbor_to_json(&bad), via_value(&bad));
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(cbor_to_json(&bytes), Value::from_cbor(&bytes).map(|v| v.to_json()));
        let decoded = Value::from_cbor(&bytes);
        let checked = check_deterministic_cbor(&bytes);
        prop_assert_eq!(check_deterministic_cbor_for_key(&bytes, "a").map(drop), checked.clone());
        if checked.is_ok() {
            // Deterministic bytes are exactly what the encoder writes for their value.
            prop_assert_eq!(decoded.map(|v| v.to_cbor()), Ok(bytes));
        }
    }
}

/// A deliberately non-deterministic encoder: random head widths, indefinite lengths, chunked
/// strings, wider floats, keys in byte (not encoded) order.
mod sloppy {
    use super::super::number::N;
    use super::Value;

    fn next(rng: &mut u64) -> u64 {
        // xorshift64*: deterministic from the proptest-chosen seed.
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1
    }

    fn head(major: u8, arg: u64, rng: &mut u64, out: &mut Vec<u8>) {
        let m = major << 5;
        let width = (next(rng) % 4) as u8;
        match width {
            0 if arg <= 0xff => out.extend_from_slice(&[m | 24, arg as u8]),
            1 if arg <= 0xffff => {
                out.push(m | 25);
                out.extend_from_slice(&(arg as u16).to_be_bytes());
            }
            2 if arg <= 0xffff_ffff => {
                out.push(m | 26);
                out.extend_from_slice(&(arg as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend_from_slice(&arg.to_be_bytes());
            }
        }
    }

    fn text(s: &str, rng: &mut u64, out: &mut Vec<u8>) {
        if next(rng) % 3 == 0 {
            out.push(0x7f);
            for (i, c) in s.char_indices() {
                let chunk = &s[i..i + c.len_utf8()];
                head(3, chunk.len() as u64, rng, out);
                out.extend_from_slice(chunk.as_bytes());
            }
            out.push(0xff);
        } else {
            head(3, s.len() as u64, rng, out);
            out.extend_from_slice(s.as_bytes());
        }
    }

    pub(super) fn write(v: &Value, rng: &mut u64, out: &mut Vec<u8>) {
        let indefinite = next(rng) % 2 == 0;
        match v {
            Value::Number(n) => match n.0 {
                N::Int(i) if i >= 0 => head(0, i as u64, rng, out),
                N::Int(i) => head(1, !i as u64, rng, out),
                N::UInt(u) => head(0, u, rng, out),
                N::Float(x) => {
                    if next(rng) % 2 == 0 && f64::from(x as f32).to_bits() == x.to_bits() {
                        out.push(0xfa);
                        out.extend_from_slice(&(x as f32).to_be_bytes());
                    } else {
                        out.push(0xfb);
                        out.extend_from_slice(&x.to_be_bytes());
                    }
                }
            },
            Value::String(s) => text(s, rng, out),
            Value::Array(items) => {
                if indefinite {
                    out.push(0x9f)
                } else {
                    head(4, items.len() as u64, rng, out)
                }
                for item in items {
                    write(item, rng, out);
                }
                if indefinite {
                    out.push(0xff)
                }
            }
            Value::Object(map) => {
                if indefinite {
                    out.push(0xbf)
                } else {
                    head(5, map.len() as u64, rng, out)
                }
                for (k, item) in map {
                    text(k, rng, out);
                    write(item, rng, out);
                }
                if indefinite {
                    out.push(0xff)
                }
            }
            other => other.write_cbor(out),
        }
    }
}

#[test]
fn cbor_to_json_writes_keys_in_map_order_and_defers_to_the_value_path() {
    let v = Value::object([
        ("b", Value::from(1u64)),
        ("aa", Value::Array(vec![Value::Null, Value::from("é\"\n")])),
    ]);
    // Deterministic CBOR puts "b" first (shorter); JSON follows the map's byte order.
    assert_eq!(
        cbor_to_json(&v.to_cbor()).unwrap(),
        "{\"aa\":[null,\"é\\\"\\n\"],\"b\":1}".as_bytes()
    );
    // A duplicate key is the Value path's error.
    let dup = [0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02];
    assert!(matches!(
        cbor_to_json(&dup),
        Err(ValueError::DuplicateKey { .. })
    ));
    // Nesting beyond the default limit is a depth error, as from `Value::from_cbor`.
    let deep: Vec<u8> = std::iter::repeat_n(0x81, DEFAULT_MAX_DEPTH + 1)
        .chain([0x01])
        .collect();
    assert_eq!(
        cbor_to_json(&deep),
        Value::from_cbor(&deep).map(|v| v.to_json())
    );
    assert!(cbor_to_json(&deep).is_err());
}
