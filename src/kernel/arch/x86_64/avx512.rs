//! The block passes with AVX-512 F: 16 lanes; a 16-bit slice of the validity
//! bitmap is used directly as the lane mask (`__mmask16`).

use std::arch::x86_64::*;

use super::super::Masks;

const EXP_MASK: i32 = 0x7f80_0000;
const ABS_MASK: i32 = 0x7fff_ffff;

/// The validity of values `16 * j .. 16 * j + 16` as a lane mask.
#[inline(always)]
fn lane_mask(masks: Option<&Masks>, j: usize) -> __mmask16 {
    match masks {
        None => 0xffff,
        Some(m) => (m[j / 4] >> (16 * (j % 4))) as u16,
    }
}

/// Loads up to 16 values from `block[16 * j..]`; lanes past the end are
/// masked off (and read as zero).
#[inline(always)]
unsafe fn load(block: &[f32], j: usize, k: __mmask16) -> (__m512i, __mmask16) {
    let start = 16 * j;
    let n = (block.len() - start).min(16);
    let k = k & (((1u32 << n) - 1) as u16);
    // SAFETY: lanes at and past `n` are masked off and not accessed, so the
    // load reads only `block[start..start + n]`.
    let v = unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(start) as *const i32) };
    (v, k)
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX-512 F.
#[target_feature(enable = "avx512f")]
pub unsafe fn max_exponent(block: &[f32], masks: Option<&Masks>) -> u32 {
    let exp = _mm512_set1_epi32(EXP_MASK);
    let mut emax = _mm512_setzero_si512();
    for j in 0..block.len().div_ceil(16) {
        // SAFETY: `load` stays inside `block`.
        let (v, k) = unsafe { load(block, j, lane_mask(masks, j)) };
        emax = _mm512_mask_max_epu32(emax, k, emax, _mm512_and_si512(v, exp));
    }
    _mm512_reduce_max_epu32(emax)
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX-512 F.
#[target_feature(enable = "avx512f")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, low_bits: u32) -> (f64, bool) {
    let abs_mask = _mm512_set1_epi32(ABS_MASK);
    let low = _mm512_set1_epi32(low_bits as i32);
    let zero = _mm512_setzero_si512();
    let (mut lo_sum, mut hi_sum) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut below: __mmask16 = 0;
    for j in 0..block.len().div_ceil(16) {
        // SAFETY: `load` stays inside `block`.
        let (v, k) = unsafe { load(block, j, lane_mask(masks, j)) };
        let abs = _mm512_and_si512(v, abs_mask);
        let in_window = _mm512_mask_cmpge_epu32_mask(k, abs, low);
        below |= _mm512_mask_cmpneq_epu32_mask(k & !in_window, abs, zero);
        let x = _mm512_castsi512_ps(_mm512_maskz_mov_epi32(in_window, v));
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
        let hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(
            _mm512_castps_si512(x),
        )));
        lo_sum = _mm512_add_pd(lo_sum, lo);
        hi_sum = _mm512_add_pd(hi_sum, hi);
    }
    // Exact in any order: every partial sum is a subset sum of the window.
    let sum = _mm512_reduce_add_pd(_mm512_add_pd(lo_sum, hi_sum));
    (sum, below != 0)
}
