//! Arbitrary bytes read as a `MeanState` (docs/state-format.md).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_state(data);
});
