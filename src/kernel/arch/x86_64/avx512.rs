//! The block pass with AVX-512 F: 16 lanes; a 16-bit slice of the validity
//! bitmap is the lane mask (`__mmask16`) as it is.

use std::arch::x86_64::*;

use super::super::{portable, Masks, Scan};
use crate::kernel::exponent_bins::Bins;
use crate::kernel::geometry::{BLOCK, SIGNIFICAND_BITS, WINDOW_SHIFT};

/// The validity of values `16 * j .. 16 * j + 16`, limited to the block.
#[inline(always)]
fn lane_mask(block: &[f32], masks: Option<&Masks>, j: usize) -> __mmask16 {
    let n = (block.len() - 16 * j).min(16);
    let valid = match masks {
        None => 0xffff,
        Some(m) => (m[j / 4] >> (16 * (j % 4))) as u16,
    };
    valid & (((1u32 << n) - 1) as u16)
}

/// See `Isa::window_sum`: four independent accumulators, so
/// the additions do not wait on each other.
///
/// # Safety
///
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    let target = _mm512_set1_epi32(window as i32);
    let mut sums = [_mm512_setzero_pd(); 4];
    for j in 0..block.len().div_ceil(16) {
        let k = lane_mask(block, masks, j);
        // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
        // past the end of `block`.
        let v = unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) };
        let win = _mm512_srli_epi32::<WINDOW_SHIFT>(_mm512_and_si512(v, abs_mask));
        let in_window = _mm512_mask_cmpeq_epi32_mask(k, win, target);
        let x = _mm512_castsi512_ps(_mm512_maskz_mov_epi32(in_window, v));
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
        let hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(
            _mm512_castps_si512(x),
        )));
        let pair = 2 * (j % 2);
        sums[pair] = _mm512_add_pd(sums[pair], lo);
        sums[pair + 1] = _mm512_add_pd(sums[pair + 1], hi);
    }
    // Exact in any order: every partial sum is a subset sum of the window.
    let total = _mm512_add_pd(
        _mm512_add_pd(sums[0], sums[1]),
        _mm512_add_pd(sums[2], sums[3]),
    );
    _mm512_reduce_add_pd(total)
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn scan(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    let exponent_mask = _mm512_set1_epi32(0x7f80_0000);
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    let target = _mm512_set1_epi32(window as i32);
    let one = _mm512_set1_epi32(1);
    let (mut lo_sum, mut hi_sum) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut windows = _mm512_setzero_si512();
    let mut max_exponent = _mm512_setzero_si512();
    for j in 0..block.len().div_ceil(16) {
        let k = lane_mask(block, masks, j);
        // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
        // past the end of `block`.
        let v = unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) };
        let exponent = _mm512_srli_epi32::<SIGNIFICAND_BITS>(_mm512_and_si512(v, exponent_mask));
        let win = _mm512_srli_epi32::<{ WINDOW_SHIFT - SIGNIFICAND_BITS }>(exponent);
        let in_window = _mm512_mask_cmpeq_epi32_mask(k, win, target);
        let x = _mm512_castsi512_ps(_mm512_maskz_mov_epi32(in_window, v));
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
        let hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(
            _mm512_castps_si512(x),
        )));
        lo_sum = _mm512_add_pd(lo_sum, lo);
        hi_sum = _mm512_add_pd(hi_sum, hi);
        let nonzero = _mm512_mask_test_epi32_mask(k, v, abs_mask);
        windows = _mm512_mask_or_epi32(windows, nonzero, windows, _mm512_sllv_epi32(one, win));
        max_exponent = _mm512_max_epu32(max_exponent, exponent);
    }
    Scan {
        // Exact in any order: every partial sum is a subset sum of the window.
        sum: _mm512_reduce_add_pd(_mm512_add_pd(lo_sum, hi_sum)),
        windows: _mm512_reduce_or_epi32(windows) as u16,
        max_exponent: _mm512_reduce_max_epu32(max_exponent),
    }
}

/// Values that [`bin_block`] copies at a time, nulls zeroed, before binning.
const BIN_CHUNK: usize = 256;

/// See `Isa::bin_block`. The binning itself is scalar (no vector scatter
/// adds); with masks, each chunk of values is first copied with null lanes
/// set to `+0.0` by masked loads, 16 at a time.
///
/// # Safety
///
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    assert!(block.len() <= BLOCK);
    if masks.is_none() {
        return portable::bin_values::<{ portable::BIN_PREFETCH }>(bins, block);
    }
    let mut copy = [0f32; BIN_CHUNK];
    for start in (0..block.len()).step_by(BIN_CHUNK) {
        let n = (block.len() - start).min(BIN_CHUNK);
        for j in 0..n.div_ceil(16) {
            _mm_prefetch::<_MM_HINT_T0>(
                block.as_ptr().wrapping_add(start + 16 * j + portable::BIN_PREFETCH / 4) as *const i8,
            );
            let k = lane_mask(block, masks, start / 16 + j);
            // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
            // past the end of `block`; `16 * j + 16 <= BIN_CHUNK`.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(k, block.as_ptr().add(start + 16 * j) as *const i32);
                _mm512_storeu_si512(copy.as_mut_ptr().add(16 * j) as *mut _, v);
            }
        }
        portable::bin_values::<0>(bins, &copy[..n]);
    }
}
