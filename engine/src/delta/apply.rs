//! Applying a delta: Fleece's `JSONDelta::apply` rules over [`Value`].

use crate::value::{Map, Value};

use super::{DeltaError, FORMAT_DELETION, FORMAT_TEXT_DIFF, text};

/// What a three-item array delta `[x, y, code]` means.
enum Coded<'a> {
    /// `[old, 0, 0]`: JsonDiffPatch's deletion.
    Deletion,
    /// `["patch", 0, 2]`: a text diff.
    TextDiff(&'a Value),
}

fn coded(items: &[Value]) -> Result<Coded<'_>, DeltaError> {
    let code = &items[2];
    match code.as_i64() {
        Some(FORMAT_DELETION) => Ok(Coded::Deletion),
        Some(FORMAT_TEXT_DIFF) => Ok(Coded::TextDiff(&items[0])),
        _ => Err(DeltaError::UnknownFormatCode { code: code.clone() }),
    }
}

/// Whether `delta` deletes the value it applies to: `[]`, or `[old, 0, 0]`.
fn is_deletion(delta: &Value) -> Result<bool, DeltaError> {
    match delta {
        Value::Array(items) if items.is_empty() => Ok(true),
        Value::Array(items) if items.len() == 3 => Ok(matches!(coded(items)?, Coded::Deletion)),
        _ => Ok(false),
    }
}

/// Applies `delta` to `old` (`None`: the key is being inserted), where `key` names the object
/// key for error messages. `depth` counts the patch levels above.
pub(super) fn apply_at(
    old: Option<&Value>,
    delta: &Value,
    key: Option<&str>,
    depth: usize,
    limit: usize,
) -> Result<Value, DeltaError> {
    match delta {
        Value::Array(items) => apply_array_form(old, items, key),
        Value::Object(patch) => {
            if depth >= limit {
                return Err(DeltaError::DepthLimitExceeded { limit });
            }
            match old {
                Some(Value::Object(map)) => patch_object(map, patch, depth + 1, limit),
                Some(Value::Array(items)) => patch_array(items, patch, depth + 1, limit),
                // `{}` is a no-op on anything that exists.
                Some(old) if patch.is_empty() => Ok(old.clone()),
                _ => Err(DeltaError::ObjectDeltaOnScalar),
            }
        }
        scalar => Ok(scalar.clone()),
    }
}

/// `[]`, `[new]`, `[old, new]`, `[x, 0, code]`. Deletions are handled by the object patch that
/// owns the key; one reaching here is not inside an object.
fn apply_array_form(
    old: Option<&Value>,
    items: &[Value],
    key: Option<&str>,
) -> Result<Value, DeltaError> {
    let missing_key = || key.unwrap_or_default().to_owned();
    match items {
        [] => Err(deletion_error(old, key)),
        [new] => Ok(new.clone()),
        [_, new] => match old {
            Some(_) => Ok(new.clone()),
            None => Err(DeltaError::ReplacementOfMissingKey { key: missing_key() }),
        },
        [_, _, _] => match coded(items)? {
            Coded::Deletion => Err(deletion_error(old, key)),
            Coded::TextDiff(patch) => {
                let Some(Value::String(old)) = old else {
                    return Err(DeltaError::TextDiffOnNonString);
                };
                let Value::String(patch) = patch else {
                    return Err(DeltaError::MalformedTextDiff {
                        offset: 0,
                        reason: "the patch is not a string",
                    });
                };
                text::apply(old, patch).map(Value::String)
            }
        },
        _ => Err(DeltaError::BadArrayLength { len: items.len() }),
    }
}

fn deletion_error(old: Option<&Value>, key: Option<&str>) -> DeltaError {
    match (old, key) {
        (None, Some(key)) => DeltaError::DeletionOfMissingKey {
            key: key.to_owned(),
        },
        _ => DeltaError::DeletionOutsideObject,
    }
}

fn patch_object(old: &Map, patch: &Map, depth: usize, limit: usize) -> Result<Value, DeltaError> {
    let mut out = old.clone();
    for (key, delta) in patch {
        let old_value = old.get(key);
        if is_deletion(delta)? {
            if old_value.is_none() {
                return Err(DeltaError::DeletionOfMissingKey { key: key.clone() });
            }
            out.remove(key);
        } else {
            let new = apply_at(old_value, delta, Some(key), depth, limit)?;
            out.insert(key.clone(), new);
        }
    }
    Ok(Value::Object(out))
}

/// A key of an array delta.
enum ArrayKey {
    /// `"i"`: patch item `i`.
    Index(usize),
    /// `"i-"`: replace items from `i` on with the given array.
    Remainder(usize),
}

fn parse_array_key(key: &str) -> Option<ArrayKey> {
    let (digits, remainder) = match key.strip_suffix('-') {
        Some(digits) => (digits, true),
        None => (key, false),
    };
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let n: usize = digits.parse().ok().filter(|_| canonical)?;
    Some(if remainder {
        ArrayKey::Remainder(n)
    } else {
        ArrayKey::Index(n)
    })
}

/// Fleece's array delta: `{"i": delta, ..., "n-": [items]}`: items `i` patched, items from `n` on
/// replaced by `items` (`n` may equal the old length: an append). Fleece ignores keys that match
/// nothing; Ferry refuses them (its creator never writes one, so such a delta was not made from
/// this base).
fn patch_array(
    old: &[Value],
    patch: &Map,
    depth: usize,
    limit: usize,
) -> Result<Value, DeltaError> {
    let mut remainder: Option<(usize, &Vec<Value>)> = None;
    let mut indexed: Vec<(usize, &Value)> = Vec::with_capacity(patch.len());
    for (key, delta) in patch {
        match parse_array_key(key) {
            Some(ArrayKey::Index(i)) => indexed.push((i, delta)),
            Some(ArrayKey::Remainder(n)) => {
                if remainder.is_some() {
                    return Err(DeltaError::InvalidArrayKey { key: key.clone() });
                }
                if n > old.len() {
                    return Err(DeltaError::ArrayIndexOutOfRange {
                        index: n,
                        limit: old.len() + 1,
                    });
                }
                let Value::Array(items) = delta else {
                    return Err(DeltaError::RemainderNotArray { key: key.clone() });
                };
                remainder = Some((n, items));
            }
            None => return Err(DeltaError::InvalidArrayKey { key: key.clone() }),
        }
    }
    let keep = remainder.map_or(old.len(), |(n, _)| n);
    let mut out: Vec<Value> = old[..keep].to_vec();
    for (i, delta) in indexed {
        let Some(slot) = out.get_mut(i) else {
            return Err(DeltaError::ArrayIndexOutOfRange {
                index: i,
                limit: keep,
            });
        };
        *slot = apply_at(Some(&old[i]), delta, None, depth, limit)?;
    }
    if let Some((_, items)) = remainder {
        out.extend(items.iter().cloned());
    }
    Ok(Value::Array(out))
}
