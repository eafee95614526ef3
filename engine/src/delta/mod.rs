//! Delta sync: Couchbase Lite's JSON-delta format (Fleece's `JSONDelta`) over [`Value`].
//!
//! A *delta* turns a base revision's body into a new one. It is itself a [`Value`], sent as the
//! body of a `rev` message carrying a `deltaSrc` property (JSON under `CBMobile_3`, CBOR under
//! `Ferry_1`). [`diff`] makes one, [`apply`] applies one; `apply(a, &diff(a, b)) == Ok(b)` for
//! all values.
//!
//! # The format
//!
//! A delta is read against the value it applies to:
//!
//! | delta | meaning |
//! |---|---|
//! | a scalar (`null`, bool, number, string) | replace the value with it |
//! | `[new]` | replace the value with `new` (any value; needed for arrays and objects) |
//! | `[]` | delete the value: only as the delta of an object key |
//! | `{"k": d, ...}` on an object | patch: apply each `d` to the value at `k` (insert when absent) |
//! | `{"i": d, ..., "n-": [items]}` on an array | patch items `i`; replace items from `n` on by `items` |
//! | `{}` on anything | no change |
//! | `["patch", 0, 2]` on a string | a text diff ([`FORMAT_TEXT_DIFF`]; see below) |
//! | `[old, new]`, `[old, 0, 0]` | JsonDiffPatch's replace and delete, accepted as Fleece does |
//!
//! A text diff's patch is a run of `n=` (copy `n` bytes of the old string), `n-` (skip `n`
//! bytes) and `n+bytes|` (insert the `n` bytes after `+`), covering the old string's UTF-8
//! bytes exactly. Any other format code (JsonDiffPatch's array move `3` included) is an error,
//! as in Fleece.
//!
//! [`diff`] writes exactly Fleece's shapes: changed keys with nested deltas, deleted keys as
//! `[]`, scalars written as themselves under a key and wrapped at the root, arrays and objects
//! wrapped, arrays patched by index with an `"n-"` remainder when the lengths differ, and text
//! diffs only for new strings of at least [`MIN_TEXT_DIFF_LEN`] bytes. Where Fleece would always
//! patch an object or array, Ferry writes the wholesale replacement instead when that is
//! smaller, and its text diffs are used only when smaller than the plain string. Equal values
//! give the no-op delta `{}`.
//!
//! [`apply`] accepts every delta Fleece's `JSONDelta::apply` accepts whose result is in the data
//! model, and refuses the rest with a [`DeltaError`] (never a panic): it is strict where Fleece is
//! lax about things its creator never writes (array-delta keys matching no item, whitespace in
//! text diffs, a non-integer format code). Patch nesting is bounded by [`MAX_DELTA_DEPTH`].
//!
//! # When to send a delta
//!
//! [`encode_if_worthwhile_json`] and [`encode_if_worthwhile_cbor`] encode a delta only when the
//! body is at least [`DeltaPolicy::min_body`] bytes and the delta at most
//! [`DeltaPolicy::max_percent`] of it (DESIGN §3: "clearly smaller").

mod apply;
mod diff;
mod error;
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_apply;
mod text;

pub use error::DeltaError;

use crate::value::Value;

/// The format code (third item) of JsonDiffPatch's deletion `[old, 0, 0]`.
pub const FORMAT_DELETION: i64 = 0;

/// The format code (third item) of a text diff `["patch", 0, 2]`.
pub const FORMAT_TEXT_DIFF: i64 = 2;

/// [`diff`] writes a text diff only for new strings at least this long, in bytes (Fleece's
/// `gMinStringDiffLength`).
pub const MIN_TEXT_DIFF_LEN: usize = 60;

/// The deepest nesting of object and array patches [`apply`] follows; [`diff`] replaces values
/// wholesale below it.
pub const MAX_DELTA_DEPTH: usize = 128;

/// The delta turning `old` into `new` (`{}` when they are equal).
///
/// ```
/// use ferry_engine::delta::{apply, diff};
/// use ferry_engine::value::Value;
/// let old = Value::from_json(br#"{"age":8,"grade":3,"name":{"first":"Bobby","last":"Briggs"}}"#)?;
/// let new = Value::from_json(br#"{"age":18,"name":{"first":"Robert","last":"Briggs"}}"#)?;
/// let delta = diff(&old, &new);
/// assert_eq!(delta.to_string(), r#"{"age":18,"grade":[],"name":{"first":"Robert"}}"#);
/// assert_eq!(apply(&old, &delta), Ok(new));
/// # Ok::<(), ferry_engine::value::ValueError>(())
/// ```
#[must_use]
pub fn diff(old: &Value, new: &Value) -> Value {
    diff::diff_root(old, new).unwrap_or_else(Value::empty_object)
}

/// Applies `delta` to `old`, giving the new value.
///
/// # Errors
///
/// A [`DeltaError`] naming what is wrong when the delta is malformed or does not fit `old`.
pub fn apply(old: &Value, delta: &Value) -> Result<Value, DeltaError> {
    apply::apply_at(Some(old), delta, None, 0, MAX_DELTA_DEPTH)
}

/// Parses a JSON delta (a `CBMobile_3` `rev` body with `deltaSrc`) and applies it to `old`.
///
/// # Errors
///
/// [`DeltaError::Decode`] when the bytes are not JSON, else as [`apply`].
pub fn apply_json(old: &Value, delta: &[u8]) -> Result<Value, DeltaError> {
    apply(old, &Value::from_json(delta).map_err(DeltaError::Decode)?)
}

/// Parses a CBOR delta (a `Ferry_1` `rev` body with `deltaSrc`) and applies it to `old`.
///
/// # Errors
///
/// [`DeltaError::Decode`] when the bytes are not CBOR of the data model, else as [`apply`].
pub fn apply_cbor(old: &Value, delta: &[u8]) -> Result<Value, DeltaError> {
    apply(old, &Value::from_cbor(delta).map_err(DeltaError::Decode)?)
}

/// When a delta is worth sending instead of the full body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaPolicy {
    /// Bodies smaller than this many encoded bytes are always sent in full (default 200).
    pub min_body: usize,
    /// The encoded delta may be at most this percentage of the encoded body (default 50).
    pub max_percent: usize,
}

impl Default for DeltaPolicy {
    fn default() -> Self {
        DeltaPolicy {
            min_body: 200,
            max_percent: 50,
        }
    }
}

/// The encoded delta from `old` to `new` when `policy` finds it worth sending, measuring the
/// body and the delta with the same `encode` function.
///
/// Returns `None` when `new`'s encoding is under `policy.min_body` bytes or the delta's encoding
/// is over `policy.max_percent` percent of it.
pub fn encode_if_worthwhile(
    old: &Value,
    new: &Value,
    policy: DeltaPolicy,
    encode: impl Fn(&Value) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let body_len = encode(new).len();
    if body_len < policy.min_body {
        return None;
    }
    let delta = encode(&diff(old, new));
    let worthwhile = delta.len().saturating_mul(100) <= body_len.saturating_mul(policy.max_percent);
    worthwhile.then_some(delta)
}

/// [`encode_if_worthwhile`] with JSON (the `CBMobile_3` profile's body codec).
///
/// ```
/// use ferry_engine::delta::{DeltaPolicy, apply_json, encode_if_worthwhile_json};
/// use ferry_engine::value::Value;
/// let old = Value::object([("title", Value::from("Draft")), ("text", Value::from("x".repeat(500)))]);
/// let mut new = old.clone();
/// new.as_object_mut().unwrap().insert("title".into(), Value::from("Final"));
/// let delta = encode_if_worthwhile_json(&old, &new, DeltaPolicy::default()).unwrap();
/// assert_eq!(delta, br#"{"title":"Final"}"#);
/// assert_eq!(apply_json(&old, &delta), Ok(new));
/// ```
pub fn encode_if_worthwhile_json(old: &Value, new: &Value, policy: DeltaPolicy) -> Option<Vec<u8>> {
    encode_if_worthwhile(old, new, policy, Value::to_json)
}

/// [`encode_if_worthwhile`] with deterministic CBOR (the `Ferry_1` profile's body codec).
pub fn encode_if_worthwhile_cbor(old: &Value, new: &Value, policy: DeltaPolicy) -> Option<Vec<u8>> {
    encode_if_worthwhile(old, new, policy, Value::to_cbor)
}
