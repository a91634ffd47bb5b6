//! The block pass with AVX-512 F: 16 lanes; a 16-bit slice of the validity
//! bitmap is the lane mask (`__mmask16`) as it is.

use std::arch::x86_64::*;

use super::super::{portable, Masks, Span};
use crate::kernel::exponent_bins::Bins;
use crate::kernel::geometry::BLOCK;

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

/// Values that [`bin_block`] copies at a time, nulls zeroed, before binning.
const BIN_CHUNK: usize = 256;

/// See `Isa::bin_block`. The binning itself is scalar (no vector scatter
/// adds); with masks, each chunk of values is first copied with null lanes
/// set to `+0.0` by masked loads, 16 at a time.
///
/// # Safety
///
/// The CPU must support AVX-512 F and BMI2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f,bmi2")]
pub unsafe fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    assert!(block.len() <= BLOCK);
    if masks.is_none() {
        return portable::bin_values::<{ portable::BIN_PREFETCH }>(bins, block, super::opaque_shift());
    }
    let mut copy = [0f32; BIN_CHUNK];
    for start in (0..block.len()).step_by(BIN_CHUNK) {
        let n = (block.len() - start).min(BIN_CHUNK);
        for j in 0..n.div_ceil(16) {
            super::prefetch_ahead(block.as_ptr().wrapping_add(start + 16 * j), portable::BIN_PREFETCH);
            let k = lane_mask(block, masks, start / 16 + j);
            // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
            // past the end of `block`; `16 * j + 16 <= BIN_CHUNK`.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(k, block.as_ptr().add(start + 16 * j) as *const i32);
                _mm512_storeu_si512(copy.as_mut_ptr().add(16 * j) as *mut _, v);
            }
        }
        portable::bin_values::<0>(bins, &copy[..n], super::opaque_shift());
    }
}

/// Bytes ahead of the loads that [`span`] prefetches.
const SPAN_PREFETCH: usize = 4096;

/// See `Isa::span`: the f64 sum of every valid value, with the smallest and
/// largest nonzero magnitude, 16 lanes at a time (null lanes and lanes past
/// the end load as `+0.0`).
///
/// # Safety
///
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn span(block: &[f32], masks: Option<&Masks>) -> Span {
    // Two copies of the loop, so that the unmasked one has no mask code.
    match masks {
        None => span_impl::<false>(block, None),
        Some(_) => span_impl::<true>(block, masks),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn span_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>) -> Span {
    assert!(block.len() <= BLOCK);
    let mut sums = [_mm512_setzero_pd(); 4];
    let mut low = [_mm512_set1_epi32(-1); 2];
    let mut high = [_mm512_setzero_si512(); 2];
    let full = block.len() / 16;
    let pairs = full / 2;
    for p in 0..pairs {
        for c in 0..2 {
            let j = 2 * p + c;
            super::prefetch_ahead(block.as_ptr().wrapping_add(16 * j), SPAN_PREFETCH);
            let v = if MASKED {
                let k = lane_mask(block, masks, j);
                // SAFETY: `16 * j + 16 <= 16 * full <= block.len()`.
                unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) }
            } else {
                // SAFETY: as above.
                unsafe { _mm512_loadu_si512(block.as_ptr().add(16 * j) as *const _) }
            };
            span_vector(v, &mut sums[2 * c..2 * c + 2], &mut low[c], &mut high[c]);
        }
    }
    for j in 2 * pairs..block.len().div_ceil(16) {
        let k = lane_mask(block, masks, j);
        // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
        // past the end of `block`.
        let v = unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) };
        span_vector(v, &mut sums[..2], &mut low[0], &mut high[0]);
    }
    let total = _mm512_add_pd(_mm512_add_pd(sums[0], sums[1]), _mm512_add_pd(sums[2], sums[3]));
    Span {
        // Exact in any order where the span says so (see `Isa::span`).
        sum: _mm512_reduce_add_pd(total),
        low: _mm512_reduce_min_epu32(_mm512_min_epu32(low[0], low[1])).wrapping_add(1),
        high: _mm512_reduce_max_epu32(_mm512_max_epu32(high[0], high[1])),
    }
}

/// The per-vector work of [`span`]: adds the 16 values to `sum` (two f64
/// vectors), and folds `|x| - 1` into `low` (zeros wrap to `u32::MAX`, so
/// they never win the minimum) and `|x|` into `high`.
#[inline]
#[target_feature(enable = "avx512f")]
fn span_vector(v: __m512i, sum: &mut [__m512d], low: &mut __m512i, high: &mut __m512i) {
    let abs = _mm512_and_si512(v, _mm512_set1_epi32(0x7fff_ffff));
    let x = _mm512_castsi512_ps(v);
    let upper = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
    sum[0] = _mm512_add_pd(sum[0], _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    sum[1] = _mm512_add_pd(sum[1], _mm512_cvtps_pd(upper));
    *low = _mm512_min_epu32(*low, _mm512_sub_epi32(abs, _mm512_set1_epi32(1)));
    *high = _mm512_max_epu32(*high, abs);
}
