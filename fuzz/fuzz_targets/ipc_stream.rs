//! Arbitrary bytes opened as an Arrow IPC stream (messages in sequence).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(init: common::quiet_caught_panics(), |data: &[u8]| {
    common::decode_and_average(data);
});
