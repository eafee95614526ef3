//! Fleece's text diff: the patch string inside a `["patch", 0, 2]` delta.
//!
//! A patch is a run of operations over the old string's UTF-8 bytes, in order:
//!
//! - `n=`: copy the next `n` bytes of the old string;
//! - `n-`: skip (delete) the next `n` bytes of the old string;
//! - `n+bytes|`: insert the `n` bytes after `+`; the `|` after them is a check, not a delimiter.
//!
//! The `=` and `-` counts must add up to the old string's length exactly. Counts are plain
//! decimal. Fleece's reader also skips whitespace before a count, an op or the `|`; Ferry's does
//! not (Fleece never writes any).
//!
//! Ferry computes the edit script itself: common prefix and suffix, then a Myers diff over the
//! characters in between, bounded by a work budget (no clock: beyond the budget the middle is
//! simply replaced), so the script never splits a UTF-8 character.

use std::fmt::Write as _;

use super::DeltaError;

/// The most edits the Myers search looks for in the middle of two strings.
const MAX_EDITS: usize = 256;

/// The most diagonal steps the Myers search may take before giving up on a fine diff.
const MAX_WORK: usize = 2_000_000;

/// Equal runs this short (in bytes) between two edits are folded into the edits: writing
/// `k=` between them costs about as much as re-inserting the `k` bytes.
const MERGE_EQUAL_BELOW: usize = 5;

/// Applies a patch to `old`.
pub(super) fn apply(old: &str, patch: &str) -> Result<String, DeltaError> {
    let old = old.as_bytes();
    let p = patch.as_bytes();
    if p.is_empty() {
        return Err(DeltaError::MalformedTextDiff {
            offset: 0,
            reason: "the patch is empty",
        });
    }
    let mut out = Vec::with_capacity(old.len());
    let mut pos = 0usize;
    let mut i = 0usize;
    while i < p.len() {
        let start = i;
        let mut n = 0usize;
        while let Some(&c) = p.get(i).filter(|c| c.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(c - b'0')))
                .ok_or(DeltaError::MalformedTextDiff {
                    offset: start,
                    reason: "a count overflows",
                })?;
            i += 1;
        }
        if i == start {
            return Err(DeltaError::MalformedTextDiff {
                offset: i,
                reason: "expected a decimal count",
            });
        }
        let op = p.get(i).copied().ok_or(DeltaError::MalformedTextDiff {
            offset: i,
            reason: "a count without an operation",
        })?;
        i += 1;
        match op {
            b'=' | b'-' => {
                let end = pos.checked_add(n).filter(|&end| end <= old.len()).ok_or(
                    DeltaError::TextDiffOutOfRange {
                        end: pos.saturating_add(n),
                        len: old.len(),
                    },
                )?;
                if op == b'=' {
                    out.extend_from_slice(&old[pos..end]);
                }
                pos = end;
            }
            b'+' => {
                let end = i.checked_add(n).filter(|&end| end <= p.len()).ok_or(
                    DeltaError::MalformedTextDiff {
                        offset: i,
                        reason: "an insertion runs past the end of the patch",
                    },
                )?;
                out.extend_from_slice(&p[i..end]);
                i = end;
                if p.get(i) != Some(&b'|') {
                    return Err(DeltaError::MalformedTextDiff {
                        offset: i,
                        reason: "an insertion is not followed by '|'",
                    });
                }
                i += 1;
            }
            _ => {
                return Err(DeltaError::MalformedTextDiff {
                    offset: i - 1,
                    reason: "unknown operation (expected '=', '-' or '+')",
                });
            }
        }
    }
    if pos != old.len() {
        return Err(DeltaError::TextDiffLengthMismatch {
            covered: pos,
            len: old.len(),
        });
    }
    String::from_utf8(out).map_err(|_| DeltaError::TextDiffInvalidUtf8)
}

/// One step of an edit script, over the old string's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Region {
    /// Copy this many bytes.
    Equal(usize),
    /// Delete `del` bytes of the old string, then insert `ins`.
    Change { del: usize, ins: String },
}

/// A patch turning `old` into `new` (possibly longer than just replacing the string: callers
/// compare sizes). Equal strings give a single `n=` (or `0=` when both are empty).
pub(super) fn diff(old: &str, new: &str) -> String {
    let patch = encode(&script(old, new));
    // Cheap insurance (linear): a script that does not reproduce `new` is never sent; the
    // whole string is replaced instead.
    if apply(old, &patch).as_deref() == Ok(new) {
        patch
    } else {
        encode(&[Region::Change {
            del: old.len(),
            ins: new.to_owned(),
        }])
    }
}

fn encode(regions: &[Region]) -> String {
    let mut out = String::new();
    for region in regions {
        // Writing to a String cannot fail.
        let _ = match region {
            Region::Equal(n) => write!(out, "{n}="),
            Region::Change { del, ins } => {
                if *del > 0 {
                    let _ = write!(out, "{del}-");
                }
                if ins.is_empty() {
                    Ok(())
                } else {
                    write!(out, "{}+{ins}|", ins.len())
                }
            }
        };
    }
    if out.is_empty() {
        out.push_str("0=");
    }
    out
}

fn script(old: &str, new: &str) -> Vec<Region> {
    let prefix: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let suffix: usize = old[prefix..]
        .chars()
        .rev()
        .zip(new[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];

    let mut regions = Vec::new();
    if prefix > 0 {
        regions.push(Region::Equal(prefix));
    }
    let a: Vec<char> = old_mid.chars().collect();
    let b: Vec<char> = new_mid.chars().collect();
    let ops = myers(&a, &b).unwrap_or_else(|| {
        let mut ops = vec![Op::Delete; a.len()];
        ops.extend(std::iter::repeat_n(Op::Insert, b.len()));
        ops
    });
    regions.extend(group(&ops, &a, &b));
    if suffix > 0 {
        regions.push(Region::Equal(suffix));
    }
    merge_short_equals(regions, old)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// Myers' O(ND) shortest edit script, or `None` beyond [`MAX_EDITS`] or [`MAX_WORK`].
fn myers(a: &[char], b: &[char]) -> Option<Vec<Op>> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        let mut ops = vec![Op::Delete; n];
        ops.extend(std::iter::repeat_n(Op::Insert, m));
        return Some(ops);
    }
    let max = (n + m).min(MAX_EDITS);
    let offset = max + 1;
    // v[k + offset] = furthest x on diagonal k; one snapshot per d for the backtrack.
    let mut v = vec![0usize; 2 * max + 3];
    let mut trace: Vec<Vec<usize>> = Vec::new();
    let mut work = 0usize;
    let mut found = None;
    'outer: for d in 0..=max {
        trace.push(v.clone());
        let d_i = d as isize;
        let mut k = -d_i;
        while k <= d_i {
            let idx = (k + offset as isize) as usize;
            let mut x = if k == -d_i || (k != d_i && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = (x as isize - k) as usize;
            while x < n && y < m && a[x] == b[y] {
                x += 1;
                y += 1;
                work += 1;
            }
            work += 1;
            v[idx] = x;
            if x >= n && y >= m {
                found = Some(d);
                break 'outer;
            }
            if work > MAX_WORK {
                return None;
            }
            k += 2;
        }
    }
    let d_end = found?;
    // Backtrack from (n, m): each round d ends with a snake after one insert or delete.
    let idx = |k: isize| (k + offset as isize) as usize;
    let mut ops = Vec::with_capacity(n + m);
    let (mut x, mut y) = (n, m);
    for d in (1..=d_end).rev() {
        let v = &trace[d];
        let k = x as isize - y as isize;
        let d_i = d as isize;
        let prev_k = if k == -d_i || (k != d_i && v[idx(k - 1)] < v[idx(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[idx(prev_k)];
        let prev_y = (prev_x as isize - prev_k) as usize;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        ops.push(if prev_k == k + 1 {
            Op::Insert
        } else {
            Op::Delete
        });
        x = prev_x;
        y = prev_y;
    }
    while x > 0 && y > 0 {
        ops.push(Op::Equal);
        x -= 1;
        y -= 1;
    }
    ops.reverse();
    Some(ops)
}

/// Groups per-character ops into byte regions.
fn group(ops: &[Op], a: &[char], b: &[char]) -> Vec<Region> {
    let mut regions = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    for op in ops {
        match op {
            Op::Equal => {
                let len = a.get(i).map_or(0, |c| c.len_utf8());
                match regions.last_mut() {
                    Some(Region::Equal(n)) => *n += len,
                    _ => regions.push(Region::Equal(len)),
                }
                i += 1;
                j += 1;
            }
            Op::Delete | Op::Insert => {
                if !matches!(regions.last(), Some(Region::Change { .. })) {
                    regions.push(Region::Change {
                        del: 0,
                        ins: String::new(),
                    });
                }
                if let Some(Region::Change { del, ins }) = regions.last_mut() {
                    if *op == Op::Delete {
                        *del += a.get(i).map_or(0, |c| c.len_utf8());
                        i += 1;
                    } else {
                        if let Some(c) = b.get(j) {
                            ins.push(*c);
                        }
                        j += 1;
                    }
                }
            }
        }
    }
    regions
}

/// Folds equal runs shorter than [`MERGE_EQUAL_BELOW`] bytes that sit between two changes into
/// one change (the old bytes are deleted and re-inserted).
fn merge_short_equals(regions: Vec<Region>, old: &str) -> Vec<Region> {
    let mut out: Vec<Region> = Vec::with_capacity(regions.len());
    let mut pos = 0usize; // byte position in `old` at the start of the next region
    let mut iter = regions.into_iter().peekable();
    while let Some(region) = iter.next() {
        match region {
            Region::Equal(n)
                if n < MERGE_EQUAL_BELOW
                    && matches!(out.last(), Some(Region::Change { .. }))
                    && matches!(iter.peek(), Some(Region::Change { .. })) =>
            {
                if let Some(Region::Change { del, ins }) = out.last_mut() {
                    *del += n;
                    ins.push_str(&old[pos..pos + n]);
                }
                pos += n;
            }
            Region::Equal(n) => {
                pos += n;
                out.push(Region::Equal(n));
            }
            Region::Change { del, ins } => {
                pos += del;
                if let Some(Region::Change { del: d0, ins: i0 }) = out.last_mut() {
                    *d0 += del;
                    i0.push_str(&ins);
                } else {
                    out.push(Region::Change { del, ins });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The Myers script itself is exact: the fallback in `diff` is never what makes a
        /// patch correct.
        #[test]
        fn scripts_reproduce_the_new_string(a in "[ab€]{0,24}", b in "[ab€]{0,24}",
                                            c in any::<String>(), d in any::<String>()) {
            for (old, new) in [(&a, &b), (&c, &d), (&a, &d)] {
                let patch = encode(&script(old, new));
                prop_assert_eq!(apply(old, &patch), Ok(new.clone()), "{}", patch);
            }
        }
    }

    #[test]
    fn over_budget_middles_are_replaced_whole() {
        // Over MAX_EDITS differences in the middle: one change region.
        let old: String = (0..600)
            .map(|i| if i % 2 == 0 { 'a' } else { 'b' })
            .collect();
        let new: String = (0..600)
            .map(|i| if i % 3 == 0 { 'a' } else { 'c' })
            .collect();
        let patch = diff(&old, &new);
        assert_eq!(apply(&old, &patch), Ok(new.clone()));
        assert!(
            myers(
                &old.chars().collect::<Vec<_>>(),
                &new.chars().collect::<Vec<_>>()
            )
            .is_none()
        );
        // The common first "a" is kept; the rest is one change.
        assert_eq!(patch, format!("1=599-599+{}|", &new[1..]));
    }
}
