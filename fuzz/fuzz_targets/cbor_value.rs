//! Arbitrary bytes into the `cbor_value` decoder; what decodes must round-trip. See
//! `ferry_engine::fuzz::cbor_value` (replayed on stable by `engine/tests/decoder_fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry_engine::fuzz::cbor_value(data);
});
