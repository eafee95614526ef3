//! Fuzz harnesses for the decoders of untrusted bytes, shared by the `cargo fuzz` targets in
//! `fuzz/` and the stable corpus-replay test (`engine/tests/decoder_fuzz_corpus.rs`), so CI
//! replays every corpus and saved crash without a nightly toolchain.
//!
//! Each harness decodes its input and, when decoding succeeds, checks that encoding the result
//! and decoding it again gives the same thing: a decoder must never panic, and what it accepts
//! must survive a round trip. A broken invariant panics, which the fuzzer reports as a crash.
//! Each returns whether the input decoded.

use crate::blip::Message;
use crate::rev::RevTree;
use crate::value::Value;

/// The largest property block [`blip_message`] accepts (the listener's default).
pub const MAX_PROPERTIES: usize = 64 << 10;

/// A JSON document body: [`Value::from_json`], then `to_json` round-trips.
pub fn json_value(data: &[u8]) -> bool {
    let Ok(value) = Value::from_json(data) else {
        return false;
    };
    let json = value.to_json();
    let again = Value::from_json(&json).expect("Ferry's own JSON decodes");
    assert_eq!(
        again,
        value,
        "JSON round trip of {:?}",
        String::from_utf8_lossy(&json)
    );
    true
}

/// A CBOR document body: [`Value::from_cbor`], then the deterministic encoding round-trips and
/// is a fixed point.
pub fn cbor_value(data: &[u8]) -> bool {
    let Ok(value) = Value::from_cbor(data) else {
        return false;
    };
    let cbor = value.to_cbor();
    let again = Value::from_cbor(&cbor).expect("Ferry's own CBOR decodes");
    assert_eq!(again, value, "CBOR round trip");
    assert_eq!(
        again.to_cbor(),
        cbor,
        "the deterministic encoding is a fixed point"
    );
    true
}

/// A stored revision tree: [`RevTree::decode`], then `encode` round-trips.
pub fn rev_tree(data: &[u8]) -> bool {
    let Ok(tree) = RevTree::decode(data) else {
        return false;
    };
    let bytes = tree.encode();
    let again = RevTree::decode(&bytes).expect("Ferry's own tree encoding decodes");
    assert_eq!(again, tree, "revision tree round trip");
    true
}

/// A BLIP message's data (property block and body): [`Message::decode`], then `encode`
/// round-trips.
pub fn blip_message(data: &[u8]) -> bool {
    let Ok(message) = Message::decode(data, MAX_PROPERTIES) else {
        return false;
    };
    let bytes = message.encode().expect("a decoded message re-encodes");
    let again = Message::decode(&bytes, MAX_PROPERTIES).expect("Ferry's own message decodes");
    assert_eq!(again, message, "BLIP message round trip");
    true
}
