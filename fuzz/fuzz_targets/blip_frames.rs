//! Arbitrary frames into a BLIP `Connection`: input is a sequence of `u16` big-endian length +
//! frame bytes (see `ferry_engine::blip::fuzz::split_frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry_engine::blip::fuzz::fuzz_harness(data);
});
