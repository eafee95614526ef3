//! JSON ⇄ [`Value`] through serde_json, and serde support for [`Value`].
//!
//! Reading: a number with a fraction or an exponent is a float (`1.0`, `1e21`); one without is
//! an integer (`i64`, or `u64` above `i64::MAX`). Integers beyond the `u64` range, and `-0`,
//! become floats, as serde_json and JavaScript read them. A repeated key in an object keeps its
//! **last** value, as Couchbase Lite does. Nesting is bounded.
//!
//! Writing: compact, keys in byte order, floats always with a `.` or an exponent (`1.0`,
//! `-0.0`, `1e+21`), so reading the text back gives the same [`Value`].

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::number::N;
use super::{DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING, Map, Number, Value, ValueError};

impl Value {
    /// Parses JSON text, nesting limited to [`DEFAULT_MAX_DEPTH`].
    pub fn from_json(json: &[u8]) -> Result<Value, ValueError> {
        Value::from_json_with_max_depth(json, DEFAULT_MAX_DEPTH)
    }

    /// Parses JSON text, nesting limited to `max_depth` arrays and maps (clamped to
    /// [`MAX_DEPTH_CEILING`]).
    pub fn from_json_with_max_depth(json: &[u8], max_depth: usize) -> Result<Value, ValueError> {
        let failure = Cell::new(None);
        let limit = max_depth.min(MAX_DEPTH_CEILING);
        let seed = ValueSeed {
            remaining: limit,
            limit,
            failure: Some(&failure),
        };
        let mut de = serde_json::Deserializer::from_slice(json);
        let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        parsed.map_err(|e| {
            failure
                .take()
                .unwrap_or_else(|| ValueError::Json(e.to_string()))
        })
    }

    /// The value as compact JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    /// Appends the value as compact JSON text to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail, and every Value serializes: keys are strings and
        // floats are finite. An error here would be a bug in this module, never bad input.
        serde_json::to_writer(out, self).expect("a Value always serializes to JSON");
    }
}

/// Converts JSON text to Ferry's deterministic CBOR (what a store keeps for a body received
/// with the JSON profile).
pub fn json_to_cbor(json: &[u8]) -> Result<Vec<u8>, ValueError> {
    // CBOR is never much longer than the JSON it came from: reserve that once.
    let mut out = Vec::with_capacity(json.len() + 16);
    // Straight from the text when possible; on any error, through a `Value`, which reports it
    // precisely.
    let mut de = serde_json::Deserializer::from_slice(json);
    let seed = CborSeed {
        out: &mut out,
        remaining: DEFAULT_MAX_DEPTH.min(MAX_DEPTH_CEILING),
    };
    if seed.deserialize(&mut de).and_then(|()| de.end()).is_ok() {
        return Ok(out);
    }
    out.clear();
    Value::from_json(json)?.write_cbor(&mut out);
    Ok(out)
}

/// Writes one JSON value as the deterministic CBOR of the [`Value`] that [`ValueSeed`] would
/// build, without building it: scalars through `Value`, containers from their encoded items,
/// map keys in encoded-key order with a repeated key keeping its last value. Any error just
/// fails (the caller then takes the `Value` path for the precise one).
struct CborSeed<'o> {
    out: &'o mut Vec<u8>,
    /// Levels of nesting still allowed.
    remaining: usize,
}

impl CborSeed<'_> {
    fn scalar<E: de::Error>(self, value: Result<Value, ValueError>) -> Result<(), E> {
        value.map_err(E::custom)?.write_cbor(self.out);
        Ok(())
    }

    fn child<E: de::Error>(&self) -> Result<usize, E> {
        self.remaining
            .checked_sub(1)
            .ok_or_else(|| E::custom("nested too deeply"))
    }
}

impl<'de> DeserializeSeed<'de> for CborSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CborSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Ok(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Ok(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.scalar(Ok(Value::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.scalar(Ok(Value::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.scalar(Ok(Value::from(n)))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<(), E> {
        self.scalar(Value::float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        super::cbor::write_text(s, self.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let remaining = self.child()?;
        let mut items = Vec::new();
        let mut count = 0u64;
        while let Some(()) = seq.next_element_seed(CborSeed {
            out: &mut items,
            remaining,
        })? {
            count += 1;
        }
        super::cbor::write_head(super::cbor::MAJOR_ARRAY, count, self.out);
        self.out.extend_from_slice(&items);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let remaining = self.child()?;
        let mut values = Vec::new();
        let mut entries: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let from = values.len();
            map.next_value_seed(CborSeed {
                out: &mut values,
                remaining,
            })?;
            entries.push((key, from..values.len()));
        }
        // Stable: among equal keys the last one read ends up last, and is the one kept.
        entries.sort_by(|a, b| super::cbor::key_order(&a.0, &b.0));
        let mut kept: Vec<&(String, std::ops::Range<usize>)> = Vec::with_capacity(entries.len());
        for entry in &entries {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        super::cbor::write_head(super::cbor::MAJOR_MAP, kept.len() as u64, self.out);
        for (key, range) in kept {
            super::cbor::write_text(key, self.out);
            self.out.extend_from_slice(&values[range.clone()]);
        }
        Ok(())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for item in a {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            N::Int(n) => serializer.serialize_i64(n),
            N::UInt(n) => serializer.serialize_u64(n),
            N::Float(f) => serializer.serialize_f64(f),
        }
    }
}

/// Deserializes from any self-describing format, nesting limited to [`DEFAULT_MAX_DEPTH`];
/// non-finite floats and byte strings are errors.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ValueSeed {
            remaining: DEFAULT_MAX_DEPTH,
            limit: DEFAULT_MAX_DEPTH,
            failure: None,
        }
        .deserialize(deserializer)
    }
}

/// Deserializes one value with `remaining` more levels of nesting allowed. `failure` receives
/// the precise [`ValueError`] behind a custom serde error, so callers can report it as such.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    remaining: usize,
    limit: usize,
    failure: Option<&'a Cell<Option<ValueError>>>,
}

impl ValueSeed<'_> {
    fn fail<E: de::Error>(&self, error: ValueError) -> E {
        let e = E::custom(&error);
        if let Some(cell) = self.failure {
            cell.set(Some(error));
        }
        e
    }

    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(ValueSeed { remaining, ..*self }),
            None => Err(self.fail(ValueError::DepthLimitExceeded { limit: self.limit })),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Value, E> {
        if let Ok(n) = i64::try_from(n) {
            Ok(Value::from(n))
        } else if let Ok(n) = u64::try_from(n) {
            Ok(Value::from(n))
        } else {
            Err(E::custom("integer outside the i64/u64 range"))
        }
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Value, E> {
        u64::try_from(n)
            .map(Value::from)
            .map_err(|_| E::custom("integer above u64::MAX"))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Value::float(f).map_err(|e| self.fail(e))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        // The size hint comes from the input: cap it.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        let mut entries = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(child)?;
            // A repeated key keeps its last value (Couchbase Lite's behaviour).
            entries.insert(key, value);
        }
        Ok(Value::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::testing::arb_value;
    use proptest::prelude::*;

    fn j(text: &str) -> Value {
        Value::from_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(j("1"), Value::from(1));
        assert_eq!(j("1.0"), Value::float(1.0).unwrap());
        assert_eq!(j("1e21"), Value::float(1e21).unwrap());
        assert_eq!(j("1E2"), Value::float(100.0).unwrap());
        assert_eq!(
            j("-0.0").as_f64().map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(
            j("-0").as_f64().map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(j("0"), Value::from(0));
        assert_eq!(j("9223372036854775807"), Value::from(i64::MAX));
        assert_eq!(j("-9223372036854775808"), Value::from(i64::MIN));
        assert_eq!(j("9223372036854775808"), Value::from(i64::MAX as u64 + 1));
        assert_eq!(j("18446744073709551615"), Value::from(u64::MAX));
        assert_eq!(j("9007199254740993"), Value::from(9_007_199_254_740_993u64));
        assert_eq!(j("0.1"), Value::float(0.1).unwrap());
        // Beyond u64: a float (documented), below i64::MIN likewise.
        assert_eq!(
            j("18446744073709551616"),
            Value::float(18446744073709551616.0).unwrap()
        );
        assert_eq!(
            j("-9223372036854775809"),
            Value::float(-9223372036854775809.0).unwrap()
        );
    }

    #[test]
    fn floats_and_zero_are_written_distinguishably() {
        let v = Value::array([
            Value::float(1.0).unwrap(),
            Value::float(-0.0).unwrap(),
            Value::from(1),
            Value::float(1e21).unwrap(),
            Value::float(0.1).unwrap(),
            Value::from(u64::MAX),
        ]);
        assert_eq!(v.to_json(), b"[1.0,-0.0,1,1e+21,0.1,18446744073709551615]");
        assert_eq!(Value::from_json(&v.to_json()), Ok(v));
    }

    #[test]
    fn text_is_compact_with_sorted_keys_and_escapes() {
        let v = j(r#" { "b" : [ true , null ] , "a" : "q\"\\\n\u0001é" } "#);
        assert_eq!(
            v.to_json(),
            r#"{"a":"q\"\\\n\u0001é","b":[true,null]}"#.as_bytes()
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(j(r#"{"k":1,"k":2}"#), Value::object([("k", 2)]));
    }

    #[test]
    fn out_of_range_numbers_and_garbage_are_json_errors() {
        for bad in [
            "1e400", "-1e400", "NaN", "Infinity", "[1,]", "{\"a\"}", "", "01", "1 2",
        ] {
            assert!(
                matches!(Value::from_json(bad.as_bytes()), Err(ValueError::Json(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Value::from_json(b"\"\xff\""),
            Err(ValueError::Json(_))
        ));
        assert!(matches!(
            Value::from_json(b"{} x"),
            Err(ValueError::Json(_))
        ));
    }

    #[test]
    fn hostile_nesting_is_a_depth_error() {
        let deep = vec![b'['; 100_000];
        assert_eq!(
            Value::from_json(&deep),
            Err(ValueError::DepthLimitExceeded {
                limit: DEFAULT_MAX_DEPTH
            })
        );
        let objects = "{\"a\":".repeat(100_000);
        assert_eq!(
            Value::from_json(objects.as_bytes()),
            Err(ValueError::DepthLimitExceeded {
                limit: DEFAULT_MAX_DEPTH
            })
        );
        // Exactly at the limit is fine, one more is not.
        let at = format!("{}{}", "[".repeat(3), "]".repeat(3));
        assert!(Value::from_json_with_max_depth(at.as_bytes(), 3).is_ok());
        let over = format!("{}{}", "[".repeat(4), "]".repeat(4));
        assert_eq!(
            Value::from_json_with_max_depth(over.as_bytes(), 3),
            Err(ValueError::DepthLimitExceeded { limit: 3 })
        );
        // Limits above the ceiling are clamped (serde_json's own limit never fires first).
        let max = format!("{}{}", "[".repeat(126), "]".repeat(126));
        assert!(Value::from_json_with_max_depth(max.as_bytes(), 10_000).is_ok());
        let beyond = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(
            Value::from_json_with_max_depth(beyond.as_bytes(), 10_000),
            Err(ValueError::DepthLimitExceeded {
                limit: MAX_DEPTH_CEILING
            })
        );
    }

    #[test]
    fn generic_deserialize_rejects_non_finite_floats() {
        let r: Result<Value, _> =
            serde::de::IntoDeserializer::<serde::de::value::Error>::into_deserializer(f64::NAN)
                .deserialize_any(ValueSeed {
                    remaining: 1,
                    limit: 1,
                    failure: None,
                });
        assert!(r.is_err());
        let v: Value = serde_json::from_str(r#"{"x":[1,2.5]}"#).unwrap();
        assert_eq!(v, Value::object([("x", Value::array([j("1"), j("2.5")]))]));
    }

    #[test]
    fn json_to_cbor_writes_deterministic_cbor() {
        assert_eq!(
            json_to_cbor(br#"{"b":1.0,"a":1}"#).unwrap(),
            [0xa2, 0x61, b'a', 0x01, 0x61, b'b', 0xf9, 0x3c, 0x00]
        );
        assert!(matches!(
            json_to_cbor(b"[").unwrap_err(),
            ValueError::Json(_)
        ));
    }

    #[test]
    fn json_to_cbor_matches_the_value_path_on_odd_text() {
        let via_value = |t: &str| Value::from_json(t.as_bytes()).map(|v| v.to_cbor());
        for text in [
            r#"{"b":1,"a":2,"b":3,"aa":{"x":[1,{"y":null,"y":true}]}}"#,
            r#"[1, -0, -0.0, 1e400, 18446744073709551616, "\u00e9", {}]"#,
            r#"{"a":1,}"#,
            "[[[[[[1]]]]]]",
            "1 2",
            "",
            r#""unterminated"#,
        ] {
            assert_eq!(json_to_cbor(text.as_bytes()), via_value(text), "{text}");
        }
        let deep = "[".repeat(DEFAULT_MAX_DEPTH + 1) + &"]".repeat(DEFAULT_MAX_DEPTH + 1);
        assert_eq!(json_to_cbor(deep.as_bytes()), via_value(&deep));
        assert!(json_to_cbor(deep.as_bytes()).is_err());
        let ok = "[".repeat(DEFAULT_MAX_DEPTH) + &"]".repeat(DEFAULT_MAX_DEPTH);
        assert_eq!(json_to_cbor(ok.as_bytes()), via_value(&ok));
        assert!(json_to_cbor(ok.as_bytes()).is_ok());
    }

    proptest! {
        #[test]
        fn json_to_cbor_matches_the_value_path(v in arb_value(), seed in any::<u64>()) {
            let text = v.to_json();
            prop_assert_eq!(json_to_cbor(&text), Ok(v.to_cbor()));
            // Corrupted text: the same bytes or the same error.
            let mut bad = text;
            if !bad.is_empty() {
                let at = (seed as usize) % bad.len();
                bad[at] = (seed >> 32) as u8;
            }
            prop_assert_eq!(json_to_cbor(&bad), Value::from_json(&bad).map(|v| v.to_cbor()));
        }

        #[test]
        fn json_round_trips(v in arb_value()) {
            let text = v.to_json();
            prop_assert_eq!(Value::from_json(&text), Ok(v.clone()));
            // serde_json itself agrees the text is JSON.
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&text).is_ok());
        }

        #[test]
        fn json_to_cbor_then_back_round_trips(v in arb_value()) {
            let cbor = json_to_cbor(&v.to_json()).unwrap();
            prop_assert_eq!(&cbor, &v.to_cbor());
            prop_assert_eq!(crate::value::cbor_to_json(&cbor).unwrap(), v.to_json());
        }
    }
}
