//! Arbitrary bytes opened as an Arrow IPC file (footer first).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(init: common::quiet_caught_panics(), |data: &[u8]| {
    common::decode_and_average(&common::as_file(data));
});
