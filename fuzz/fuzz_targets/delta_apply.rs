//! Arbitrary deltas applied to a base: input is `base JSON`, NUL, `delta JSON` (or a delta alone,
//! applied to a built-in base; non-JSON input is also tried as a text-diff patch). See
//! `ferry_engine::delta::fuzz::fuzz_harness`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry_engine::delta::fuzz::fuzz_harness(data);
});
