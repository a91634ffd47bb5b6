//! The state of numeric values at a raw address, laid out in any shape and
//! with any byte strides (as numpy arrays are), read in place: contiguous data
//! goes straight to the engine; strided data is gathered one block at a time.

use mapmean::engine::{self, Part};
use mapmean::kernel::blocks::BLOCK;
use mapmean::kernel::{ExactState, Native};

/// The state of `shape`-shaped data of native type `T` at address `base`
/// with byte `strides`, as numpy (or a buffer-protocol exporter) describes
/// it, starting from `empty`.
///
/// # Safety
///
/// - `shape` and `strides` have the same length;
/// - for every index `i` inside `shape` (`i[d] < shape[d]` for each `d`), the
///   address `base + Σ i[d] · strides[d]` (computed without overflow) is that
///   of `size_of::<T>()` readable bytes holding a native-endian `T` (of any
///   alignment);
/// - that memory stays allocated and is not written to until this function
///   returns (the caller holds whatever pins it, e.g. a reference to the
///   numpy array).
pub unsafe fn strided_state<T: Native>(
    empty: &ExactState,
    base: usize,
    shape: &[usize],
    strides: &[isize],
    threads: Option<usize>,
) -> mapmean::Result<ExactState> {
    let count: usize = shape.iter().product();
    if count == 0 {
        return Ok(empty.clone());
    }
    let item = std::mem::size_of::<T>() as isize;
    let contiguous = {
        let mut expected = item;
        shape.iter().zip(strides).rev().all(|(&n, &s)| {
            let ok = n == 1 || s == expected;
            expected *= n as isize;
            ok
        })
    };
    if contiguous && base.is_multiple_of(std::mem::align_of::<T>()) {
        // SAFETY: the data is in C order with items of `size_of::<T>()` bytes
        // (checked above), so by the contract its `count` items lie
        // contiguously from `base`, which is aligned (checked above), and stay
        // valid while the slice is used.
        let values = unsafe { std::slice::from_raw_parts(base as *const T, count) };
        let parts: [Part<'_, T>; 1] = [(values, None)];
        return engine::accumulate_parts_with(empty, &parts, threads);
    }
    // Strided: gather one L1-sized block at a time, reading each item with an
    // unaligned load; no copy of the whole array is made.
    let mut state = empty.clone();
    let mut block = Vec::with_capacity(BLOCK);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let offset: isize = index
            .iter()
            .zip(strides)
            .map(|(&i, &s)| i as isize * s)
            .sum();
        // SAFETY: `index` stays inside `shape`, so by the contract
        // `base + offset` is the address of a readable `T`.
        let value = unsafe { std::ptr::read_unaligned((base as isize + offset) as *const T) };
        block.push(value);
        if block.len() == BLOCK {
            state.update_values(&block, None)?;
            block.clear();
        }
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    state.update_values(&block, None)?;
    Ok(state)
}
