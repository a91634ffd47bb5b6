//! The kernel over arbitrary values and validity bitmaps: every instruction
//! set gives bitwise the state of the portable reference.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(init: common::quiet_caught_panics(), |data: &[u8]| {
    common::check_kernel(data);
});
