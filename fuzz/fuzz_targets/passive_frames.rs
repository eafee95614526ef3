//! See `ferry_tests::fuzz::passive_frames` (replayed on stable by `tests/tests/fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry_tests::fuzz::passive_frames(data);
});
