//! The block pass with AVX2: 8 lanes; each byte of the validity bitmap is
//! expanded to a lane mask by a broadcast, an AND with each lane's bit and a
//! compare.

use std::arch::x86_64::*;

use super::super::{Masks, Scan};

/// Values `8 * j .. 8 * j + 8`, with null lanes and lanes past the end of
/// the block set to zero bits.
#[inline]
#[target_feature(enable = "avx2")]
fn load(block: &[f32], masks: Option<&Masks>, j: usize) -> __m256i {
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
            let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
            let byte = (m[j / 8] >> (8 * (j % 8))) as u8;
            let set = _mm256_and_si256(_mm256_set1_epi32(byte as i32), lane_bits);
            _mm256_and_si256(v, _mm256_cmpeq_epi32(set, lane_bits))
        }
    }
}

/// See [`super::super::Isa::window_sum`]: four independent accumulators.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    let abs_mask = _mm256_set1_epi32(0x7fff_ffff);
    let target = _mm256_set1_epi32(window as i32);
    let mut sums = [_mm256_setzero_pd(); 4];
    for j in 0..block.len().div_ceil(8) {
        let v = load(block, masks, j);
        let win = _mm256_srli_epi32::<27>(_mm256_and_si256(v, abs_mask));
        let x = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_cmpeq_epi32(win, target)));
        let pair = 2 * (j % 2);
        sums[pair] = _mm256_add_pd(sums[pair], _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        sums[pair + 1] = _mm256_add_pd(
            sums[pair + 1],
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)),
        );
    }
    let mut lanes = [0f64; 4];
    let total = _mm256_add_pd(
        _mm256_add_pd(sums[0], sums[1]),
        _mm256_add_pd(sums[2], sums[3]),
    );
    // SAFETY: `lanes` holds one vector.
    unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), total) };
    // Exact in any order: every partial sum is a subset sum of the window.
    lanes.iter().sum()
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn scan(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    let exponent_mask = _mm256_set1_epi32(0x7f80_0000);
    let abs_mask = _mm256_set1_epi32(0x7fff_ffff);
    let target = _mm256_set1_epi32(window as i32);
    let one = _mm256_set1_epi32(1);
    let zero = _mm256_setzero_si256();
    let (mut lo_sum, mut hi_sum) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut windows = zero;
    let mut max_exponent = zero;
    for j in 0..block.len().div_ceil(8) {
        let v = load(block, masks, j);
        let exponent = _mm256_srli_epi32::<23>(_mm256_and_si256(v, exponent_mask));
        let win = _mm256_srli_epi32::<4>(exponent);
        let in_window = _mm256_cmpeq_epi32(win, target);
        let x = _mm256_castsi256_ps(_mm256_and_si256(v, in_window));
        lo_sum = _mm256_add_pd(lo_sum, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        hi_sum = _mm256_add_pd(hi_sum, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
        let is_zero = _mm256_cmpeq_epi32(_mm256_and_si256(v, abs_mask), zero);
        let bit = _mm256_sllv_epi32(one, win);
        windows = _mm256_or_si256(windows, _mm256_andnot_si256(is_zero, bit));
        max_exponent = _mm256_max_epu32(max_exponent, exponent);
    }
    let mut sums = [0f64; 4];
    let mut window_lanes = [0u32; 8];
    let mut exponent_lanes = [0u32; 8];
    // SAFETY: each destination holds exactly one vector.
    unsafe {
        _mm256_storeu_pd(sums.as_mut_ptr(), _mm256_add_pd(lo_sum, hi_sum));
        _mm256_storeu_si256(window_lanes.as_mut_ptr() as *mut __m256i, windows);
        _mm256_storeu_si256(exponent_lanes.as_mut_ptr() as *mut __m256i, max_exponent);
    }
    Scan {
        // Exact in any order: every partial sum is a subset sum of the window.
        sum: sums.iter().sum(),
        windows: window_lanes.iter().fold(0, |a, &w| a | w) as u16,
        max_exponent: exponent_lanes.into_iter().max().unwrap_or(0),
    }
}
