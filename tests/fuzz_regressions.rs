//! Inputs found by `make fuzz` (tests/fuzz_regressions/), replayed through
//! the fuzz targets' own code: each must give an error or a result, never a
//! panic, an internal error or a huge allocation.

#[path = "../fuzz/fuzz_targets/common.rs"]
mod fuzz;

use std::path::Path;

use mapmean::Error;

fn input(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn zstd_buffer_declaring_8_gb_from_4_kb_is_refused() {
    // Found by ipc_file: the buffer's own length field lied too, so the
    // expansion bound must use the bytes the body really holds.
    let err = fuzz::decode_and_average(&fuzz::as_file(&input("ipc_file-oom-zstd-declared-length")));
    let err = err.expect("an error");
    assert!(err.to_string().contains("refusing to allocate"), "{err}");
}

#[test]
fn lz4_buffer_declaring_2_to_the_55_bytes_is_refused() {
    // Found by ipc_file: a block whose message prefix disagrees with its
    // metadata length was not checked (the check must read the message as
    // the decoder does).
    let err = fuzz::decode_and_average(&fuzz::as_file(&input("ipc_file-lz4-huge-declared-length")));
    let err = err.expect("an error");
    assert!(err.to_string().contains("refusing to allocate"), "{err}");
}

#[test]
fn a_buffer_sliced_past_its_end_is_an_error() {
    // Found by ipc_file: arrow-buffer asserts in `slice`; caught, reported.
    let err = fuzz::decode_and_average(&fuzz::as_file(&input("ipc_file-buffer-slice-panic")));
    // `decode_and_average` fails on an internal error itself: what is left
    // is a decoding error for the damaged slice.
    assert!(matches!(err, Some(Error::Corrupt { .. })), "{err:?}");
}

#[test]
fn an_unknown_float_precision_is_an_error() {
    // Found by ipc_stream: arrow-ipc panics on the schema; caught, reported.
    let err = fuzz::decode_and_average(&input("ipc_stream-unknown-float-precision"));
    assert!(matches!(err, Some(Error::Corrupt { .. })), "{err:?}");
}

#[test]
fn kernel_nan_means_agree_bitwise() {
    // Found by kernel (a bug in the target, not the kernel: NaN != NaN).
    fuzz::check_kernel(&input("kernel-nan-mean"));
}

#[test]
fn state_bytes_target_accepts_a_valid_state_and_its_self_merge() {
    let mut state = mapmean::MeanState::default();
    state
        .update_values(&[f32::MAX, f32::MAX, f32::NAN], None)
        .unwrap();
    fuzz::read_state(&state.to_bytes());
    // Damaged: too short, and an unknown version; neither may panic.
    fuzz::read_state(&state.to_bytes()[..50]);
    let mut newer = state.to_bytes();
    newer[4] = 9;
    fuzz::read_state(&newer);
}

#[test]
fn a_page_header_with_a_huge_list_to_skip_is_an_error() {
    // Found by parquet_file (as a slow unit: the parquet crate skips the
    // declared list element by element, about a second in a release build).
    let err = fuzz::decode_parquet_and_average(&fuzz::as_parquet(&input(
        "parquet_file-slow-thrift-skip",
    )));
    assert!(matches!(err, Some(Error::Corrupt { .. })), "{err:?}");
}
