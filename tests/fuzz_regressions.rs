//! Inputs found by `make fuzz` (tests/fuzz_regressions/), replayed as the
//! fuzz targets read them: each must give an error or a result, never a
//! panic, an internal error or a huge allocation.

mod common;

use std::path::Path;

use arrow_buffer::Buffer;
use mapmean::engine::state_of_arrays;
use mapmean::ipc::IpcData;
use mapmean::kernel::arch::Isa;
use mapmean::kernel::{blocks, reference, Validity};
use mapmean::{Error, MeanState};

fn input(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_regressions")
            .join(name),
    )
    .unwrap()
}

/// As fuzz/fuzz_targets/common.rs: decode, then average every column; the
/// first error met, if any.
fn decode_and_average(bytes: &[u8]) -> mapmean::Result<()> {
    let data = IpcData::open(Buffer::from(bytes), "fuzz")?;
    let names: Vec<String> = data
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut first_error = None;
    for name in &names {
        match data.float32_column(Some(name)) {
            Ok(column) => assert_eq!(
                state_of_arrays(column.chunks(), Some(1)).ok(),
                state_of_arrays(column.chunks(), Some(2)).ok()
            ),
            Err(Error::WrongType { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The ipc_file target's framing: the magic at both ends, unless the input
/// starts with it.
fn as_file(data: &[u8]) -> Vec<u8> {
    if data.starts_with(b"ARROW1") {
        return data.to_vec();
    }
    let mut file = b"ARROW1\0\0".to_vec();
    file.extend_from_slice(data);
    file.extend_from_slice(b"ARROW1");
    file
}

fn assert_not_internal(result: mapmean::Result<()>) {
    if let Err(Error::Internal(message)) = result {
        panic!("internal error: {message}");
    }
}

#[test]
fn zstd_buffer_declaring_8_gb_from_4_kb_is_refused() {
    // Found by ipc_file: the buffer's own length field lied too, so the
    // expansion bound must use the bytes the body really holds.
    let err = decode_and_average(&as_file(&input("ipc_file-oom-zstd-declared-length")));
    let err = err.unwrap_err();
    assert!(err.to_string().contains("refusing to allocate"), "{err}");
}

#[test]
fn lz4_buffer_declaring_2_to_the_55_bytes_is_refused() {
    // Found by ipc_file: a block whose message prefix disagrees with its
    // metadata length was not checked (the check must read the message as
    // the decoder does).
    let err = decode_and_average(&as_file(&input("ipc_file-lz4-huge-declared-length")));
    let err = err.unwrap_err();
    assert!(err.to_string().contains("refusing to allocate"), "{err}");
}

#[test]
fn a_buffer_sliced_past_its_end_is_an_error() {
    // Found by ipc_file: arrow-buffer asserts in `slice`; caught, reported.
    assert_not_internal(decode_and_average(&as_file(&input(
        "ipc_file-buffer-slice-panic",
    ))));
}

#[test]
fn an_unknown_float_precision_is_an_error() {
    // Found by ipc_stream: arrow-ipc panics on the schema; caught, reported.
    let err = decode_and_average(&input("ipc_stream-unknown-float-precision")).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn kernel_nan_means_agree_bitwise() {
    // Found by kernel (a bug in the target, not the kernel: NaN != NaN).
    let data = input("kernel-nan-mean");
    let [offset, has_bitmap, n0, n1, rest @ ..] = &data[..] else {
        unreachable!()
    };
    let offset = usize::from(offset % 64);
    let count = usize::from(u16::from_le_bytes([*n0, *n1])).min(rest.len() / 4);
    let values: Vec<f32> = rest[..4 * count]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let tail = &rest[4 * count..];
    let needed = (offset + count).div_ceil(8);
    let bits: Vec<u8> = if tail.is_empty() {
        vec![0xA5; needed]
    } else {
        tail.iter().copied().cycle().take(needed).collect()
    };
    let validity = (has_bitmap & 1 == 1).then_some(Validity {
        bits: &bits,
        offset,
    });
    let mut want = MeanState::default();
    reference::update(&mut want, &values, validity);
    for isa in Isa::supported() {
        let mut got = MeanState::default();
        blocks::update_with(isa, &mut got, &values, validity);
        assert_eq!(got, want, "{isa:?}");
        assert_eq!(
            got.finish().map(f64::to_bits),
            want.finish().map(f64::to_bits)
        );
    }
}
