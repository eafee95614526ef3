//! Creating a delta: Fleece's `JSONDelta::create` shapes, choosing the smaller encoding where
//! Fleece's creator would always patch.

use std::io;

use crate::value::{Map, Value};

use super::{FORMAT_TEXT_DIFF, MAX_DELTA_DEPTH, MIN_TEXT_DIFF_LEN, text};

/// Where a delta is written: at the root, a replacement is always wrapped (`[new]`), as Fleece
/// does; under a key or index a scalar replacement is written as itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Nested,
}

/// The delta turning `old` into `new`, or `None` when they are equal.
pub(super) fn diff_root(old: &Value, new: &Value) -> Option<Value> {
    diff_at(old, new, Place::Root, 0)
}

fn diff_at(old: &Value, new: &Value, place: Place, depth: usize) -> Option<Value> {
    if depth >= MAX_DELTA_DEPTH {
        // Too deep to patch: replace wholesale (always valid), unless equal.
        return (old != new).then(|| replacement(new, place));
    }
    let patch = match (old, new) {
        (Value::Object(a), Value::Object(b)) => Value::Object(diff_objects(a, b, depth)?),
        (Value::Array(a), Value::Array(b)) => {
            if a.is_empty() && b.is_empty() {
                return None;
            }
            if a.is_empty() || b.is_empty() {
                return Some(replacement(new, place));
            }
            Value::Object(diff_arrays(a, b, depth)?)
        }
        _ if old == new => return None,
        (Value::String(a), Value::String(b)) => return Some(diff_strings(a, b, place)),
        _ => return Some(replacement(new, place)),
    };
    // Fleece always patches an object or array; Ferry replaces it when that is smaller.
    let whole = replacement(new, place);
    let patch_len = json_len_within(&patch, usize::MAX).unwrap_or(usize::MAX);
    Some(match json_len_within(&whole, patch_len) {
        Some(whole_len) if whole_len < patch_len => whole,
        _ => patch,
    })
}

/// `{changed key: delta, deleted key: []}`, or `None` when no key changed.
fn diff_objects(old: &Map, new: &Map, depth: usize) -> Option<Map> {
    let mut out = Map::new();
    for (key, new_value) in new {
        let delta = match old.get(key) {
            Some(old_value) => diff_at(old_value, new_value, Place::Nested, depth + 1),
            None => Some(replacement(new_value, Place::Nested)),
        };
        if let Some(delta) = delta {
            out.insert(key.clone(), delta);
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            out.insert(key.clone(), Value::Array(Vec::new()));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `{"i": delta for each changed common index, "n-": items of new from n on}` where `n` is the
/// shorter length (only when the lengths differ), or `None` when nothing changed.
fn diff_arrays(old: &[Value], new: &[Value], depth: usize) -> Option<Map> {
    let mut out = Map::new();
    let common = old.len().min(new.len());
    for (i, (a, b)) in old.iter().zip(new).enumerate() {
        if let Some(delta) = diff_at(a, b, Place::Nested, depth + 1) {
            out.insert(i.to_string(), delta);
        }
    }
    if old.len() != new.len() {
        out.insert(format!("{common}-"), Value::Array(new[common..].to_vec()));
    }
    (!out.is_empty()).then_some(out)
}

/// A text diff `["patch", 0, 2]` when the new string is long enough (Fleece's threshold) and the
/// diff is smaller than the plain replacement; else the replacement.
fn diff_strings(old: &str, new: &str, place: Place) -> Value {
    let whole = replacement(&Value::String(new.to_owned()), place);
    if new.len() < MIN_TEXT_DIFF_LEN {
        return whole;
    }
    let patch = Value::Array(vec![
        Value::String(text::diff(old, new)),
        Value::from(0),
        Value::from(FORMAT_TEXT_DIFF),
    ]);
    let whole_len = json_len_within(&whole, usize::MAX).unwrap_or(usize::MAX);
    match json_len_within(&patch, whole_len) {
        Some(patch_len) if patch_len < whole_len => patch,
        _ => whole,
    }
}

/// The wholesale replacement by `new`: `[new]` at the root or for arrays and objects (so it is
/// not read as a patch), `new` itself for a nested scalar.
fn replacement(new: &Value, place: Place) -> Value {
    match (new, place) {
        (Value::Array(_) | Value::Object(_), _) | (_, Place::Root) => {
            Value::Array(vec![new.clone()])
        }
        _ => new.clone(),
    }
}

/// Counts bytes, failing once more than `limit` were written (so sizing stops early).
struct Counter {
    len: usize,
    limit: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len = self.len.saturating_add(buf.len());
        if self.len > self.limit {
            return Err(io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `value`'s compact JSON, or `None` if it is over `limit` bytes.
pub(super) fn json_len_within(value: &Value, limit: usize) -> Option<usize> {
    let mut counter = Counter { len: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.len)
}
