//! The document data model: [`Value`], its JSON and deterministic CBOR encodings.
//!
//! A [`Value`] is JSON's data model with two precisions added: integers cover the whole `i64`
//! and `u64` range losslessly, and an integer is never equal to a float (`1` is not `1.0`).
//! Floats are finite (NaN and ±infinity are rejected on every path in) and `-0.0` is kept.
//! Maps are [`BTreeMap`]s, so iteration order is deterministic.
//!
//! - JSON ([`Value::from_json`], [`Value::to_json`]) is the `CBMobile_3` wire profile's body
//!   codec.
//! - CBOR ([`Value::from_cbor`], [`Value::to_cbor`]) is what stores keep, what the `Ferry_1`
//!   profile sends and what revision digests hash. Ferry always *writes* RFC 8949 core
//!   deterministic encoding, so equal values give equal bytes; it *reads* any well-formed CBOR
//!   within the data model.
//!
//! Decoders bound the nesting of arrays and maps ([`DEFAULT_MAX_DEPTH`]): hostile, deeply
//! nested input is an error ([`ValueError::DepthLimitExceeded`]), never a stack overflow.
//!
//! Property-test strategies for values live in `value::testing` (compiled for the crate's own
//! unit tests only): `crate::value::testing::arb_value()`.

pub(crate) mod cbor;
#[cfg(test)]
mod cbor_tests;
mod error;
mod json;
mod number;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::fmt;

pub(crate) use cbor::check_deterministic_cbor_for_key;
pub use cbor::{canonicalize_cbor, cbor_to_json, check_deterministic_cbor, is_deterministic_cbor};
pub use error::ValueError;
pub use json::json_to_cbor;
pub use number::Number;

/// A map of the data model: text keys in byte order, each once.
pub type Map = BTreeMap<String, Value>;

/// The default limit on nested arrays and maps accepted by the decoders.
///
/// `[]` is one level, `[[]]` two; scalars are not counted.
pub const DEFAULT_MAX_DEPTH: usize = 100;

/// The highest nesting limit the decoders accept; larger requested limits are clamped to it.
///
/// It stays below the JSON parser underneath (serde_json), which refuses a 128th level on its
/// own, so the depth error is always Ferry's [`ValueError::DepthLimitExceeded`]; it also keeps
/// the recursive decoders far from the bottom of any thread's stack.
pub const MAX_DEPTH_CEILING: usize = 126;

/// A document body, or any part of one: the JSON data model.
///
/// Build values with `From` (`Value::from(1)`, `Value::from("text")`), [`Value::float`],
/// [`Value::array`] and [`Value::object`]:
///
/// ```
/// use ferry_engine::value::Value;
/// let v = Value::object([("name", Value::from("Zoë")), ("tags", Value::array(["a", "b"]))]);
/// assert_eq!(v.get("name").and_then(Value::as_str), Some("Zoë"));
/// assert_eq!(v.to_string(), r#"{"name":"Zoë","tags":["a","b"]}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Value {
    /// JSON `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a finite float.
    Number(Number),
    /// A UTF-8 string.
    String(String),
    /// An ordered list.
    Array(Vec<Value>),
    /// A map with text keys (an object in JSON).
    Object(Map),
}

impl Value {
    /// A float value, or [`ValueError::NonFiniteFloat`] for NaN and ±infinity.
    pub fn float(f: f64) -> Result<Value, ValueError> {
        Number::from_f64(f).map(Value::Number)
    }

    /// An array of the given items.
    pub fn array<I>(items: I) -> Value
    where
        I: IntoIterator,
        I::Item: Into<Value>,
    {
        Value::Array(items.into_iter().map(Into::into).collect())
    }

    /// A map of the given entries; a repeated key keeps its last value.
    pub fn object<I, K, V>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The empty map `{}`.
    pub fn empty_object() -> Value {
        Value::Object(Map::new())
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The integer, if this is an integer that fits in an `i64` (floats give `None`).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The integer, if this is a non-negative integer (floats give `None`).
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The float, if this is a float (integers give `None`).
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The items, mutably, if this is an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The entries, mutably, if this is a map.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key`, if this is a map holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// The item at `index`, if this is an array long enough.
    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.as_array().and_then(|a| a.get(index))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Number(n) => fmt::Debug::fmt(n, f),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::Array(a) => f.debug_list().entries(a).finish(),
            Value::Object(m) => f.debug_map().entries(m).finish(),
        }
    }
}

/// Writes the value as compact JSON (the same text as [`Value::to_json`]).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_json()))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl TryFrom<f64> for Value {
    type Error = ValueError;
    fn try_from(f: f64) -> Result<Self, ValueError> {
        Value::float(f)
    }
}

impl TryFrom<f32> for Value {
    type Error = ValueError;
    fn try_from(f: f32) -> Result<Self, ValueError> {
        Value::float(f64::from(f))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

/// `None` is `null`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// Collects items into an array.
impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

/// Collects entries into a map; a repeated key keeps its last value.
impl FromIterator<(String, Value)> for Value {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Value::Object(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_accessors() {
        let v = Value::object([
            ("n", Value::from(1)),
            ("f", Value::float(1.5).unwrap()),
            ("s", Value::from("x")),
            ("a", Value::array([1u8, 2])),
            ("z", Value::Null),
            ("b", Value::from(true)),
            ("big", Value::from(u64::MAX)),
        ]);
        assert_eq!(v.get("n").and_then(Value::as_i64), Some(1));
        assert_eq!(v.get("n").and_then(Value::as_f64), None);
        assert_eq!(v.get("f").and_then(Value::as_f64), Some(1.5));
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x"));
        assert_eq!(
            v.get("a").and_then(|a| a.get_index(1)),
            Some(&Value::from(2))
        );
        assert!(v.get("z").is_some_and(Value::is_null));
        assert_eq!(v.get("b").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("big").and_then(Value::as_u64), Some(u64::MAX));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::from(3).get("n"), None);
        assert_eq!(v.as_object().map(Map::len), Some(7));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::default(), Value::Null);
        let collected: Value = vec![Value::from(1), Value::from("a")].into_iter().collect();
        assert_eq!(collected, Value::array([Value::from(1), Value::from("a")]));
    }

    #[test]
    fn object_with_repeated_key_keeps_the_last() {
        let v = Value::object([("k", 1), ("k", 2)]);
        assert_eq!(v, Value::object([("k", 2)]));
    }

    #[test]
    fn non_finite_floats_are_rejected() {
        assert_eq!(Value::float(f64::NAN), Err(ValueError::NonFiniteFloat));
        assert_eq!(
            Value::try_from(f64::NEG_INFINITY),
            Err(ValueError::NonFiniteFloat)
        );
        assert_eq!(Value::try_from(f32::NAN), Err(ValueError::NonFiniteFloat));
    }

    #[test]
    fn one_and_one_point_zero_differ() {
        assert_ne!(Value::from(1), Value::float(1.0).unwrap());
        assert_ne!(Value::float(0.0).unwrap(), Value::float(-0.0).unwrap());
        assert_eq!(Value::from(1u64), Value::from(1i64));
    }

    #[test]
    fn display_is_compact_json() {
        let v = Value::object([("a", Value::float(1.0).unwrap()), ("b", Value::Null)]);
        assert_eq!(v.to_string(), r#"{"a":1.0,"b":null}"#);
    }

    #[test]
    fn mutation_through_accessors() {
        let mut v = Value::object([("a", Value::array([1]))]);
        if let Some(m) = v.as_object_mut() {
            m.insert("b".into(), Value::from(2));
        }
        if let Some(Value::Array(a)) = v.as_object_mut().and_then(|m| m.get_mut("a")) {
            a.push(Value::from(3));
        }
        assert_eq!(
            v,
            Value::object([("a", Value::array([1, 3])), ("b", Value::from(2))])
        );
        assert_eq!(Value::from(1).as_array_mut(), None);
    }
}
