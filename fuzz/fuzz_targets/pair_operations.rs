//! See `ferry_tests::fuzz::pair_operations` (replayed on stable by `tests/tests/fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry_tests::fuzz::pair_operations(data);
});
