//! Arbitrary bytes opened as a Parquet file (footer, column chunks, pages).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(init: common::quiet_caught_panics(), |data: &[u8]| {
    common::decode_parquet_and_average(&common::as_parquet(data));
});
