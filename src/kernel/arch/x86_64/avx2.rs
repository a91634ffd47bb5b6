//! The block passes with AVX2: 8 lanes; each byte of the validity bitmap is
//! expanded to a lane mask by a broadcast, an AND with the lane's bit and a
//! compare.

use std::arch::x86_64::*;

use super::super::Masks;

const EXP_MASK: i32 = 0x7f80_0000;
const ABS_MASK: i32 = 0x7fff_ffff;

/// Lane `i`'s bit in a validity byte.
#[inline(always)]
unsafe fn lane_bits() -> __m256i {
    _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)
}

/// Values `8 * j .. 8 * j + 8` with null lanes and lanes past the end of the
/// block set to zero bits.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load(block: &[f32], masks: Option<&Masks>, j: usize) -> __m256i {
    let start = 8 * j;
    let v = if start + 8 <= block.len() {
        // SAFETY: `start + 8 <= block.len()`.
        unsafe { _mm256_loadu_si256(block.as_ptr().add(start) as *const __m256i) }
    } else {
        let mut tail = [0f32; 8];
        tail[..block.len() - start].copy_from_slice(&block[start..]);
        // SAFETY: `tail` holds 8 values.
        unsafe { _mm256_loadu_si256(tail.as_ptr() as *const __m256i) }
    };
    match masks {
        None => v,
        Some(m) => {
            let byte = (m[j / 8] >> (8 * (j % 8))) as u8;
            // SAFETY: AVX2 is enabled for this function.
            let bits = unsafe { lane_bits() };
            let set = _mm256_and_si256(_mm256_set1_epi32(byte as i32), bits);
            _mm256_and_si256(v, _mm256_cmpeq_epi32(set, bits))
        }
    }
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn max_exponent(block: &[f32], masks: Option<&Masks>) -> u32 {
    let exp = _mm256_set1_epi32(EXP_MASK);
    let mut emax = _mm256_setzero_si256();
    for j in 0..block.len().div_ceil(8) {
        // SAFETY: AVX2 is enabled; `load` stays inside `block`.
        let v = unsafe { load(block, masks, j) };
        emax = _mm256_max_epu32(emax, _mm256_and_si256(v, exp));
    }
    let mut lanes = [0u32; 8];
    // SAFETY: `lanes` holds 8 u32.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, emax) };
    lanes.into_iter().max().unwrap_or(0)
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, low_bits: u32) -> (f64, bool) {
    let abs_mask = _mm256_set1_epi32(ABS_MASK);
    // abs < 2^31, so a signed compare against low - 1 is `abs >= low`.
    let low_minus_one = _mm256_set1_epi32(low_bits as i32 - 1);
    let (mut lo_sum, mut hi_sum) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut below = _mm256_setzero_si256();
    for j in 0..block.len().div_ceil(8) {
        // SAFETY: AVX2 is enabled; `load` stays inside `block`.
        let v = unsafe { load(block, masks, j) };
        let abs = _mm256_and_si256(v, abs_mask);
        let in_window = _mm256_cmpgt_epi32(abs, low_minus_one);
        below = _mm256_or_si256(below, _mm256_andnot_si256(in_window, abs));
        let x = _mm256_castsi256_ps(_mm256_and_si256(v, in_window));
        lo_sum = _mm256_add_pd(lo_sum, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        hi_sum = _mm256_add_pd(hi_sum, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
    }
    let mut lanes = [0f64; 4];
    // SAFETY: `lanes` holds 4 f64.
    unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(lo_sum, hi_sum)) };
    // Exact in any order: every partial sum is a subset sum of the window.
    (lanes.iter().sum(), _mm256_testz_si256(below, below) == 0)
}
