//! CBOR ⇄ [`Value`]: RFC 8949 core deterministic encoding out, any well-formed CBOR of the data
//! model in.
//!
//! Writing (RFC 8949 §4.2.1): definite lengths only; every argument in its shortest form;
//! integers as major types 0/1 (never floats); floats in the shortest of binary16, binary32 and
//! binary64 that holds the value exactly; map entries ordered by the bytewise order of their
//! encoded keys (for text keys: shorter first, then byte order).
//!
//! Reading: definite or indefinite lengths, any argument width, any float width. Rejected:
//! byte strings, tags, simple values other than `false`/`true`/`null`, non-text map keys,
//! duplicate keys, NaN/±infinity, negative integers below `i64::MIN`, invalid UTF-8, nesting
//! beyond the limit, truncation, trailing bytes. Declared lengths are checked against the bytes
//! left before anything is allocated.

use super::number::N;
use super::{DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING, Map, Number, Value, ValueError};

pub(crate) const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
pub(crate) const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
pub(super) const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;
/// Additional information 31: indefinite length, or "break" in major type 7.
const AI_INDEFINITE: u8 = 31;
const BREAK: u8 = 0xff;

impl Value {
    /// The value in core deterministic CBOR.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_cbor(&mut out);
        out
    }

    /// Appends the value in core deterministic CBOR to `out` (reuse `out` to save allocations).
    pub fn write_cbor(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0xf6),
            Value::Bool(false) => out.push(0xf4),
            Value::Bool(true) => out.push(0xf5),
            Value::Number(n) => write_number(n, out),
            Value::String(s) => write_text(s, out),
            Value::Array(items) => {
                write_head(MAJOR_ARRAY, items.len() as u64, out);
                for item in items {
                    item.write_cbor(out);
                }
            }
            Value::Object(map) => write_map(map, out),
        }
    }

    /// Decodes one CBOR item, nesting limited to [`DEFAULT_MAX_DEPTH`].
    pub fn from_cbor(cbor: &[u8]) -> Result<Value, ValueError> {
        Value::from_cbor_with_max_depth(cbor, DEFAULT_MAX_DEPTH)
    }

    /// Decodes one CBOR item, nesting limited to `max_depth` arrays and maps (clamped to
    /// [`MAX_DEPTH_CEILING`]).
    pub fn from_cbor_with_max_depth(cbor: &[u8], max_depth: usize) -> Result<Value, ValueError> {
        let limit = max_depth.min(MAX_DEPTH_CEILING);
        let mut d = Decoder {
            buf: cbor,
            pos: 0,
            limit,
        };
        let v = d.item(limit)?;
        d.finish()?;
        Ok(v)
    }
}

/// Converts CBOR of the data model to compact JSON text (what the JSON profile sends for a
/// stored body).
pub fn cbor_to_json(cbor: &[u8]) -> Result<Vec<u8>, ValueError> {
    // JSON is usually a little longer than CBOR (quotes, separators): reserve that much once.
    let mut out = Vec::with_capacity(cbor.len() + cbor.len() / 4 + 16);
    // Straight from the bytes when possible; otherwise (an error, indefinite lengths,
    // duplicate keys…) through a `Value`, which gives the same text or the precise error.
    let mut d = Decoder {
        buf: cbor,
        pos: 0,
        limit: DEFAULT_MAX_DEPTH.min(MAX_DEPTH_CEILING),
    };
    if d.json_item(d.limit, &mut out).is_some() && d.finish().is_ok() {
        return Ok(out);
    }
    out.clear();
    Value::from_cbor(cbor)?.write_json(&mut out);
    Ok(out)
}

/// Re-encodes CBOR of the data model in core deterministic encoding (nesting within
/// [`MAX_DEPTH_CEILING`]). Input that already is deterministic comes back unchanged.
pub fn canonicalize_cbor(cbor: &[u8]) -> Result<Vec<u8>, ValueError> {
    if is_deterministic_cbor(cbor) {
        return Ok(cbor.to_vec());
    }
    Value::from_cbor_with_max_depth(cbor, MAX_DEPTH_CEILING).map(|v| v.to_cbor())
}

/// Whether `cbor` is exactly one item of the data model in core deterministic encoding, i.e.
/// the bytes [`Value::to_cbor`] writes for some value.
pub fn is_deterministic_cbor(cbor: &[u8]) -> bool {
    check_deterministic_cbor(cbor).is_ok()
}

/// Checks, without allocating, that `cbor` is exactly one item of the data model in core
/// deterministic encoding, nested at most [`MAX_DEPTH_CEILING`] deep; the error says why not:
/// [`ValueError::NotDeterministic`] for valid but non-deterministic CBOR, or the error
/// [`Value::from_cbor`] would report.
pub fn check_deterministic_cbor(cbor: &[u8]) -> Result<(), ValueError> {
    check(cbor, None).map(drop)
}

/// [`check_deterministic_cbor`], which also says whether some map of `cbor`, at any depth, has
/// the key `key`.
pub(crate) fn check_deterministic_cbor_for_key(cbor: &[u8], key: &str) -> Result<bool, ValueError> {
    check(cbor, Some(key))
}

fn check(cbor: &[u8], key: Option<&str>) -> Result<bool, ValueError> {
    let mut d = Decoder {
        buf: cbor,
        pos: 0,
        limit: MAX_DEPTH_CEILING,
    };
    let found = d.check(MAX_DEPTH_CEILING, key)?;
    d.finish()?;
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes a head (major type and argument) in its shortest form.
pub(crate) fn write_head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

pub(crate) fn write_text(s: &str, out: &mut Vec<u8>) {
    write_head(MAJOR_TEXT, s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor for fast paths that read one known shape straight from CBOR bytes (revision trees,
/// change lists). It reads only what [`Value::write_cbor`] writes — definite lengths, shortest
/// heads — and answers `None` to anything else: the caller then decodes through its general
/// path, which accepts every valid form and explains errors.
#[derive(Debug)]
pub(crate) struct DirectReader<'a> {
    bytes: &'a [u8],
}

impl<'a> DirectReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        DirectReader { bytes }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// The major type of the next item, without reading it.
    pub(crate) fn peek_major(&self) -> Option<u8> {
        self.bytes.first().map(|b| b >> 5)
    }

    /// Reads a head of major type `major`; `None` on any other item, an indefinite length or
    /// a head longer than needed.
    pub(crate) fn head(&mut self, major: u8) -> Option<u64> {
        let (&first, rest) = self.bytes.split_first()?;
        if first >> 5 != major {
            return None;
        }
        let (arg, rest) = match first & 0x1f {
            n @ 0..=23 => (u64::from(n), rest),
            24 => (u64::from(*rest.first()?), rest.get(1..)?),
            25 => (
                u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
                rest.get(2..)?,
            ),
            26 => (
                u64::from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)),
                rest.get(4..)?,
            ),
            27 => (
                u64::from_be_bytes(rest.get(..8)?.try_into().ok()?),
                rest.get(8..)?,
            ),
            _ => return None,
        };
        let shortest = match first & 0x1f {
            0..=23 => true,
            24 => arg >= 24,
            25 => arg > u64::from(u8::MAX),
            26 => arg > u64::from(u16::MAX),
            _ => arg > u64::from(u32::MAX),
        };
        if !shortest {
            return None;
        }
        self.bytes = rest;
        Some(arg)
    }

    /// Reads an unsigned integer.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.head(MAJOR_UINT)
    }

    /// Reads a text string (valid UTF-8).
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.head(MAJOR_TEXT)?).ok()?;
        let text = self.bytes.get(..len)?;
        self.bytes = &self.bytes[len..];
        std::str::from_utf8(text).ok()
    }

    /// Reads `false`, `true` or `null` (`Some(None)`); `None` on anything else.
    pub(crate) fn simple(&mut self) -> Option<Option<bool>> {
        let value = match self.bytes.first()? {
            0xf4 => Some(false),
            0xf5 => Some(true),
            0xf6 => None,
            _ => return None,
        };
        self.bytes = &self.bytes[1..];
        Some(value)
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    match n.0 {
        N::Int(i) if i >= 0 => write_head(MAJOR_UINT, i as u64, out),
        // -1 - i, computed without overflow: !i == -1 - i in two's complement.
        N::Int(i) => write_head(MAJOR_NINT, !i as u64, out),
        N::UInt(u) => write_head(MAJOR_UINT, u, out),
        N::Float(f) => write_float(f, out),
    }
}

/// Writes a finite float in the shortest width that preserves it exactly.
fn write_float(f: f64, out: &mut Vec<u8>) {
    let single = f as f32;
    if f64::from(single).to_bits() == f.to_bits() {
        if let Some(half) = f32_to_f16_exact(single) {
            out.push(0xf9);
            out.extend_from_slice(&half.to_be_bytes());
        } else {
            out.push(0xfa);
            out.extend_from_slice(&single.to_be_bytes());
        }
    } else {
        out.push(0xfb);
        out.extend_from_slice(&f.to_be_bytes());
    }
}

/// The binary16 bits of a finite `f32`, if binary16 holds it exactly.
pub(super) fn f32_to_f16_exact(x: f32) -> Option<u16> {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0 && mant == 0 {
        return Some(sign); // ±0
    }
    if exp == 0 || exp == 0xff {
        return None; // f32 subnormals are far below binary16's range; non-finite never here
    }
    let e = exp - 127;
    if (-14..=15).contains(&e) {
        // Normal binary16: 10 mantissa bits.
        if mant & 0x1fff != 0 {
            return None;
        }
        return Some(sign | (((e + 15) as u16) << 10) | (mant >> 13) as u16);
    }
    if (-24..=-15).contains(&e) {
        // Subnormal binary16: value = m * 2^-24 with m < 1024.
        let significand = mant | 0x80_0000; // value = significand * 2^(e - 23)
        let shift = (-e - 1) as u32; // 14..=23
        if significand & ((1 << shift) - 1) != 0 {
            return None;
        }
        return Some(sign | (significand >> shift) as u16);
    }
    None
}

/// The value of binary16 bits (NaN and infinities included).
pub(super) fn f16_to_f64(h: u16) -> f64 {
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(exp - 25),
    };
    if h & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Text keys in the bytewise order of their encoded form: shorter first, then byte order.
pub(super) fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

fn write_map(map: &Map, out: &mut Vec<u8>) {
    write_head(MAJOR_MAP, map.len() as u64, out);
    // A BTreeMap iterates in byte order, which is the encoded-key order whenever key lengths
    // never decrease along it (the common case): no sorting, no allocation then.
    let mut last_len = 0;
    let sorted = map.keys().all(|k| {
        let ok = k.len() >= last_len;
        last_len = k.len();
        ok
    });
    if sorted {
        for (k, v) in map {
            write_text(k, out);
            v.write_cbor(out);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_unstable_by(|a, b| key_order(a.0, b.0));
        for (k, v) in entries {
            write_text(k, out);
            v.write_cbor(out);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A head: where it starts, its major type, additional information and argument.
#[derive(Clone, Copy)]
struct Head {
    at: usize,
    major: u8,
    ai: u8,
    /// The argument (0 for indefinite lengths).
    arg: u64,
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    limit: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn finish(&self) -> Result<(), ValueError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(ValueError::TrailingBytes { offset: self.pos })
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        if n > self.remaining() {
            return Err(ValueError::Truncated {
                offset: self.buf.len(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn peek(&self) -> Result<u8, ValueError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(ValueError::Truncated { offset: self.pos })
    }

    fn head(&mut self) -> Result<Head, ValueError> {
        let at = self.pos;
        let initial = self.take(1)?[0];
        let (major, ai) = (initial >> 5, initial & 0x1f);
        let arg = match ai {
            0..=23 => u64::from(ai),
            24 => u64::from(self.take(1)?[0]),
            25 => {
                let b = self.take(2)?;
                u64::from(u16::from_be_bytes([b[0], b[1]]))
            }
            26 => {
                let b = self.take(4)?;
                u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            27 => {
                let b = self.take(8)?;
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            AI_INDEFINITE => 0,
            _ => {
                return Err(ValueError::Malformed {
                    offset: at,
                    reason: "reserved additional information (28-30)",
                });
            }
        };
        if ai == AI_INDEFINITE && matches!(major, MAJOR_UINT | MAJOR_NINT | MAJOR_TAG) {
            return Err(ValueError::Malformed {
                offset: at,
                reason: "indefinite length on an integer or tag",
            });
        }
        Ok(Head { at, major, ai, arg })
    }

    /// Checks a declared length against the bytes left (each unit takes at least
    /// `min_bytes`), so no allocation or loop is ever sized by an untrusted length.
    fn check_length(&self, h: Head, min_bytes: u64) -> Result<usize, ValueError> {
        let needed = h.arg.checked_mul(min_bytes);
        match needed {
            Some(n) if n <= self.remaining() as u64 => Ok(h.arg as usize),
            _ => Err(ValueError::LengthExceedsInput {
                offset: h.at,
                length: h.arg,
            }),
        }
    }

    fn depth_error(&self) -> ValueError {
        ValueError::DepthLimitExceeded { limit: self.limit }
    }

    /// Decodes one item with `depth` more levels of nesting allowed.
    fn item(&mut self, depth: usize) -> Result<Value, ValueError> {
        let h = self.head()?;
        match h.major {
            MAJOR_UINT => Ok(Value::from(h.arg)),
            MAJOR_NINT => match i64::try_from(h.arg) {
                Ok(n) => Ok(Value::from(-1 - n)),
                Err(_) => Err(ValueError::IntegerOutOfRange { offset: h.at }),
            },
            MAJOR_BYTES => Err(ValueError::ByteString { offset: h.at }),
            MAJOR_TEXT => self.text(h).map(Value::String),
            MAJOR_ARRAY => {
                let depth = depth.checked_sub(1).ok_or_else(|| self.depth_error())?;
                if h.ai == AI_INDEFINITE {
                    let mut items = Vec::new();
                    while self.peek()? != BREAK {
                        items.push(self.item(depth)?);
                    }
                    self.pos += 1;
                    Ok(Value::Array(items))
                } else {
                    let n = self.check_length(h, 1)?;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.item(depth)?);
                    }
                    Ok(Value::Array(items))
                }
            }
            MAJOR_MAP => {
                let depth = depth.checked_sub(1).ok_or_else(|| self.depth_error())?;
                let mut map = Map::new();
                if h.ai == AI_INDEFINITE {
                    while self.peek()? != BREAK {
                        self.entry(&mut map, depth)?;
                    }
                    self.pos += 1;
                } else {
                    for _ in 0..self.check_length(h, 2)? {
                        self.entry(&mut map, depth)?;
                    }
                }
                Ok(Value::Object(map))
            }
            MAJOR_TAG => Err(ValueError::Tag {
                offset: h.at,
                tag: h.arg,
            }),
            _ => self.simple(h),
        }
    }

    fn entry(&mut self, map: &mut Map, depth: usize) -> Result<(), ValueError> {
        let h = self.head()?;
        if h.major != MAJOR_TEXT {
            return Err(ValueError::NonTextKey { offset: h.at });
        }
        let key = self.text(h)?;
        let value = self.item(depth)?;
        match map.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => Err(ValueError::DuplicateKey {
                key: e.key().clone(),
            }),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(value);
                Ok(())
            }
        }
    }

    /// Appends one item as the compact JSON [`Value::write_json`] writes for the value
    /// [`Decoder::item`] decodes, without building that value: maps in key order (a `Map`'s),
    /// strings and numbers through the same serializer. `None` (with `out` in any state) for
    /// whatever the `Value` path must decide: errors, indefinite lengths, duplicate keys,
    /// nesting beyond `depth`.
    fn json_item(&mut self, depth: usize, out: &mut Vec<u8>) -> Option<()> {
        match self.buf.get(self.pos)? >> 5 {
            MAJOR_ARRAY => {
                let h = self.head().ok()?;
                if h.ai == AI_INDEFINITE {
                    return None;
                }
                let depth = depth.checked_sub(1)?;
                out.push(b'[');
                for i in 0..self.check_length(h, 1).ok()? {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.json_item(depth, out)?;
                }
                out.push(b']');
            }
            MAJOR_MAP => {
                let h = self.head().ok()?;
                if h.ai == AI_INDEFINITE {
                    return None;
                }
                let depth = depth.checked_sub(1)?;
                let n = self.check_length(h, 2).ok()?;
                // Values are written aside, then copied out in the map's key order.
                let mut entries: Vec<(&'a str, std::ops::Range<usize>)> = Vec::with_capacity(n);
                let mut values = Vec::new();
                for _ in 0..n {
                    let key = self.head().ok()?;
                    if key.major != MAJOR_TEXT || key.ai == AI_INDEFINITE {
                        return None;
                    }
                    let key = self.text_chunk(key).ok()?;
                    let from = values.len();
                    self.json_item(depth, &mut values)?;
                    entries.push((key, from..values.len()));
                }
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                if entries.windows(2).any(|w| w[0].0 == w[1].0) {
                    return None;
                }
                out.push(b'{');
                for (i, (key, range)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, key).ok()?;
                    out.push(b':');
                    out.extend_from_slice(&values[range]);
                }
                out.push(b'}');
            }
            MAJOR_TEXT => {
                let h = self.head().ok()?;
                if h.ai == AI_INDEFINITE {
                    return None;
                }
                serde_json::to_writer(&mut *out, self.text_chunk(h).ok()?).ok()?;
            }
            // Scalars: numbers, booleans, null (and errors); no nesting.
            _ => self.item(depth).ok()?.write_json(out),
        }
        Some(())
    }

    /// A text string's content (its head already read), definite or indefinite.
    fn text(&mut self, h: Head) -> Result<String, ValueError> {
        if h.ai != AI_INDEFINITE {
            return Ok(self.text_chunk(h)?.to_owned());
        }
        let mut s = String::new();
        while self.peek()? != BREAK {
            let chunk = self.head()?;
            if chunk.major != MAJOR_TEXT || chunk.ai == AI_INDEFINITE {
                return Err(ValueError::Malformed {
                    offset: chunk.at,
                    reason: "an indefinite-length text string holds a chunk that is not definite text",
                });
            }
            s.push_str(self.text_chunk(chunk)?);
        }
        self.pos += 1;
        Ok(s)
    }

    fn text_chunk(&mut self, h: Head) -> Result<&'a str, ValueError> {
        let n = self.check_length(h, 1)?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| ValueError::InvalidUtf8 { offset: h.at })
    }

    /// Major type 7: simple values and floats.
    fn simple(&mut self, h: Head) -> Result<Value, ValueError> {
        let float = match h.ai {
            20 => return Ok(Value::Bool(false)),
            21 => return Ok(Value::Bool(true)),
            22 => return Ok(Value::Null),
            25 => f16_to_f64(h.arg as u16),
            26 => f64::from(f32::from_bits(h.arg as u32)),
            27 => f64::from_bits(h.arg),
            AI_INDEFINITE => {
                return Err(ValueError::Malformed {
                    offset: h.at,
                    reason: "unexpected break",
                });
            }
            24 if h.arg < 32 => {
                return Err(ValueError::Malformed {
                    offset: h.at,
                    reason: "two-byte simple value below 32",
                });
            }
            _ => {
                return Err(ValueError::SimpleValue {
                    offset: h.at,
                    value: h.arg as u8,
                });
            }
        };
        Value::float(float)
    }

    // -----------------------------------------------------------------------------------------
    // Deterministic checking, without building values.

    fn not_det(at: usize, reason: &'static str) -> ValueError {
        ValueError::NotDeterministic { offset: at, reason }
    }

    /// A head that must be definite and shortest.
    fn det_head(&mut self) -> Result<Head, ValueError> {
        let h = self.head()?;
        let shortest = match h.ai {
            24 => h.arg >= 24,
            25 => h.arg > 0xff,
            26 => h.arg > 0xffff,
            27 => h.arg > 0xffff_ffff,
            _ => true,
        };
        if h.ai == AI_INDEFINITE && h.major != MAJOR_SIMPLE {
            return Err(Self::not_det(h.at, "indefinite length"));
        }
        if !shortest && h.major != MAJOR_SIMPLE {
            return Err(Self::not_det(h.at, "argument not in its shortest form"));
        }
        Ok(h)
    }

    /// Checks one item; returns whether a map in it has the key `key`.
    fn check(&mut self, depth: usize, key: Option<&str>) -> Result<bool, ValueError> {
        let h = self.det_head()?;
        match h.major {
            MAJOR_UINT => Ok(false),
            MAJOR_NINT if h.arg > i64::MAX as u64 => {
                Err(ValueError::IntegerOutOfRange { offset: h.at })
            }
            MAJOR_NINT => Ok(false),
            MAJOR_TEXT => self.text_chunk(h).map(|_| false),
            MAJOR_ARRAY => {
                let depth = depth.checked_sub(1).ok_or_else(|| self.depth_error())?;
                let mut found = false;
                for _ in 0..self.check_length(h, 1)? {
                    found |= self.check(depth, key)?;
                }
                Ok(found)
            }
            MAJOR_MAP => {
                let depth = depth.checked_sub(1).ok_or_else(|| self.depth_error())?;
                let mut previous: &[u8] = &[];
                let mut found = false;
                for _ in 0..self.check_length(h, 2)? {
                    let key_at = self.pos;
                    let k = self.det_head()?;
                    if k.major != MAJOR_TEXT {
                        return Err(ValueError::NonTextKey { offset: k.at });
                    }
                    let text = self.text_chunk(k)?;
                    let encoded = &self.buf[key_at..self.pos];
                    // Strictly increasing encoded keys: sorted, and no duplicates.
                    if encoded <= previous {
                        return Err(if encoded == previous {
                            ValueError::DuplicateKey {
                                key: text.to_owned(),
                            }
                        } else {
                            Self::not_det(k.at, "map keys not in bytewise order")
                        });
                    }
                    previous = encoded;
                    found |= key == Some(text);
                    found |= self.check(depth, key)?;
                }
                Ok(found)
            }
            MAJOR_SIMPLE => {
                let v = self.simple(h)?;
                let shortest = match (h.ai, v.as_f64()) {
                    (26, Some(f)) => f32_to_f16_exact(f as f32).is_none(),
                    (27, Some(f)) => f64::from(f as f32).to_bits() != f.to_bits(),
                    _ => true,
                };
                if shortest {
                    Ok(false)
                } else {
                    Err(Self::not_det(h.at, "float not in its shortest form"))
                }
            }
            MAJOR_BYTES => Err(ValueError::ByteString { offset: h.at }),
            _ => Err(ValueError::Tag {
                offset: h.at,
                tag: h.arg,
            }),
        }
    }
}
