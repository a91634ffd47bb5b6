//! What the fuzz targets do with an input, shared with the regression test
//! (`tests/fuzz_regressions.rs` includes this file), so that a saved input
//! replays exactly as it was found.
#![allow(dead_code)]

use arrow_buffer::Buffer;
use mapmean::engine::state_of_arrays;
use mapmean::ipc::IpcData;
use mapmean::kernel::arch::Isa;
use mapmean::kernel::{blocks, reference, Validity};
use mapmean::{Error, MeanState};

/// The ipc_file target's input: with the file magic at both ends unless it
/// starts with it, so that the fuzzer reaches the footer and batch decoding
/// rather than the magic check.
pub fn as_file(data: &[u8]) -> Vec<u8> {
    if data.starts_with(b"ARROW1") {
        return data.to_vec();
    }
    let mut file = b"ARROW1\0\0".to_vec();
    file.extend_from_slice(data);
    file.extend_from_slice(b"ARROW1");
    file
}

/// Decodes the bytes as mapmean decodes a mapped file, then averages every
/// Float32 column on 1 and 2 threads (the states must be equal). Returns the
/// first error met (other than a column of another type): errors are the
/// expected answer to most inputs; a panic, a crash or an internal error is
/// the bug.
pub fn decode_and_average(bytes: &[u8]) -> Option<Error> {
    // Buffer::from copies into a 64-byte aligned allocation, as a mapping is
    // page-aligned; the offsets inside are whatever the input says.
    let data = match IpcData::open(Buffer::from(bytes), "fuzz") {
        Ok(data) => data,
        Err(e) => return Some(not_internal(e)),
    };
    let mut first_error = None;
    for field in data.schema().fields().iter() {
        match data.float32_column(Some(field.name())) {
            Ok(column) => assert_eq!(
                state_of_arrays(column.chunks(), Some(1)).ok(),
                state_of_arrays(column.chunks(), Some(2)).ok()
            ),
            Err(Error::WrongType { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(not_internal(e));
            }
        }
    }
    first_error
}

/// An internal error is a bug (a panic caught at the boundary, not in the
/// decoder): fail on it like on a crash.
fn not_internal(error: Error) -> Error {
    assert!(!matches!(error, Error::Internal(_)), "{error}");
    error
}

/// The kernel target: `[bit offset][has bitmap][value count: u16 LE][f32
/// values][bitmap bytes]`. Every instruction set must give bitwise the state
/// of the portable reference, and a split-and-merge the same state.
pub fn check_kernel(data: &[u8]) {
    let [offset, has_bitmap, n0, n1, rest @ ..] = data else {
        return;
    };
    let offset = usize::from(offset % 64);
    let count = usize::from(u16::from_le_bytes([*n0, *n1])).min(rest.len() / 4);
    let values: Vec<f32> = rest[..4 * count]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // The bitmap: whatever bytes follow, cycled to cover offset + count bits.
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
    for &isa in Isa::supported() {
        let mut got = MeanState::default();
        blocks::update_with(isa, &mut got, &values, validity);
        assert_eq!(got, want, "{isa:?}");
        // Bitwise: NaN means must agree too.
        assert_eq!(
            got.finish().map(f64::to_bits),
            want.finish().map(f64::to_bits)
        );
    }
    let cut = count / 3;
    let mut a = MeanState::default();
    blocks::update_with(Isa::detect(), &mut a, &values[..cut], validity);
    let mut b = MeanState::default();
    let rest_validity = validity.map(|v| v.shifted(cut));
    blocks::update_with(Isa::detect(), &mut b, &values[cut..], rest_validity);
    // Two parts of one input hold fewer than 2^64 rows: the merge succeeds.
    assert!(a.merge(&b).is_ok());
    assert_eq!(a, want);
}

/// libfuzzer-sys's panic hook aborts on every panic, even one that mapmean
/// catches and turns into an error (as it does for panics inside arrow-ipc).
/// A panic that escapes still aborts: the harness catches it and aborts.
pub fn quiet_caught_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// The state_bytes target: arbitrary bytes read as a [`MeanState`]. Accepted
/// bytes must be exactly the `to_bytes` of a state that validates, and merging
/// such a state with itself must either succeed with a valid state or fail
/// leaving it unchanged (never a wrapped count or sum).
pub fn read_state(data: &[u8]) {
    read_exact_state(data);
    let Ok(mut state) = MeanState::from_bytes(data) else {
        return;
    };
    assert_eq!(state.to_bytes().as_slice(), data);
    assert!(state.validate().is_ok());
    let _ = state.finish();
    let copy = state;
    match state.merge(&copy) {
        Ok(()) => assert!(state.validate().is_ok()),
        Err(Error::StateOverflow { .. }) => assert_eq!(state, copy),
        Err(e) => panic!("a merge failed with {e}"),
    }
}

/// Arbitrary bytes read as an `ExactState` of any type (versions 1 and 2):
/// an error, or a valid state that writes the same bytes back, finishes
/// every statistic without a panic and merges with itself or overflows.
pub fn read_exact_state(data: &[u8]) {
    use mapmean::kernel::{ExactState, Statistic, StatisticOptions};
    let Ok(mut state) = ExactState::from_bytes(data) else {
        return;
    };
    assert_eq!(state.to_bytes().as_slice(), data);
    assert!(state.validate().is_ok());
    for statistic in Statistic::ALL {
        let _ = statistic.finish(&state, &StatisticOptions::for_statistic(statistic));
    }
    let copy = state.clone();
    match state.merge(&copy) {
        Ok(()) => assert!(state.validate().is_ok()),
        Err(Error::StateOverflow { .. }) => assert_eq!(state, copy),
        Err(e) => panic!("a merge failed with {e}"),
    }
}

/// The parquet_file target's input: with `PAR1` at both ends unless it
/// starts with it, so that the fuzzer reaches the footer and the pages
/// rather than the magic check.
pub fn as_parquet(data: &[u8]) -> Vec<u8> {
    if data.starts_with(b"PAR1") {
        return data.to_vec();
    }
    let mut file = b"PAR1".to_vec();
    file.extend_from_slice(data);
    file.extend_from_slice(b"PAR1");
    file
}

/// Opens the bytes as mapmean opens a mapped Parquet file, then computes
/// every numeric column's state (sums, squares, extremes) on 1 and 2
/// threads (the states must be equal). Returns the first error met; a
/// panic, a crash, a huge allocation or an internal error is the bug.
pub fn decode_parquet_and_average(bytes: &[u8]) -> Option<Error> {
    use mapmean::decoded::Decoded;
    use mapmean::engine::states_of_data;
    use mapmean::kernel::{is_numeric, Parts};
    let data = match Decoded::open(Buffer::from(bytes), "fuzz.parquet") {
        Ok(data) => data,
        Err(e) => return Some(not_internal(e)),
    };
    let names: Vec<String> = data
        .schema()
        .fields()
        .iter()
        .filter(|f| is_numeric(f.data_type()))
        .map(|f| f.name().clone())
        .collect();
    let asked: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
    let parts = Parts {
        squares: true,
        extremes: true,
    };
    let one = states_of_data(&data, &asked, parts, Some(1));
    let two = states_of_data(&data, &asked, parts, Some(2));
    match (one, two) {
        (Ok(one), Ok(two)) => {
            assert_eq!(one, two);
            None
        }
        (Err(e), _) | (_, Err(e)) => Some(not_internal(e)),
    }
}
