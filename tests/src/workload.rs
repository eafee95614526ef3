//! The benchmark workload of `shared/bench/docgen.py`, byte for byte: the same document IDs and
//! field values, so Ferry's figures compare with other systems measured on the same data.

use ferry_engine::value::{Number, Value};

const ALPHABET: &[u8; 68] = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;";

/// The 800-character `text` field of document `i` at generation `generation` (xorshift32).
pub fn text(i: u64, generation: u64) -> String {
    let mut x = ((i + 1)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(generation * 40_503)) as u32;
    x |= 1;
    let mut out = String::with_capacity(800);
    for _ in 0..800 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(char::from(ALPHABET[(x % 68) as usize]));
    }
    out
}

/// The document ID of document `i`: `doc-%08d`.
pub fn doc_id(i: u64) -> String {
    format!("doc-{i:08}")
}

/// The body of document `i` at generation `generation` (the `_id` is the document ID, not a
/// body field).
pub fn body(i: u64, generation: u64) -> Value {
    let score = (i % 1000) as f64 / 10.0 + 0.25;
    Value::object([
        ("type", Value::from("bench")),
        ("index", Value::from(i)),
        ("gen", Value::from(generation)),
        ("title", Value::from(format!("Document number {i}"))),
        ("owner", Value::from(format!("user-{}", i % 97))),
        (
            "score",
            Value::Number(Number::from_f64(score).expect("finite")),
        ),
        ("active", Value::from(i % 2 == 0)),
        ("text", Value::from(text(i, generation))),
    ])
}
