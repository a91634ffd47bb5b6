//! The block pass with AVX2: 8 lanes; each byte of the validity bitmap is
//! expanded to a lane mask by a broadcast, an AND with each lane's bit and a
//! compare.

use std::arch::x86_64::*;

use super::super::{portable, Masks, Scan, Span};
use crate::kernel::exponent_bins::Bins;
use crate::kernel::geometry::{BLOCK, SIGNIFICAND_BITS, WINDOW_SHIFT};

/// How far ahead of the loads [`scan`] prefetches, in bytes.
const PREFETCH: usize = 2048;
/// How far ahead [`span`] prefetches: further, as it does less per value
/// (measured from RAM, 1 thread: 2 KiB 29 ms, 4 KiB 25.5 ms, none 33 ms per
/// 2^26 values).
const SPAN_PREFETCH: usize = 4096;

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
            let byte = (m[j / 8] >> (8 * (j % 8))) as u8;
            // SAFETY: each entry of the table is one aligned 32-byte vector.
            let lanes = unsafe {
                _mm256_load_si256(LANE_MASKS.0[usize::from(byte)].as_ptr() as *const __m256i)
            };
            _mm256_and_si256(v, lanes)
        }
    }
}

/// For each validity byte, the 8 lane masks it stands for (all ones where
/// the bit is set): one load from L1 instead of a broadcast, an AND and a
/// compare per vector.
#[repr(C, align(32))]
struct LaneMasks([[u32; 8]; 256]);

static LANE_MASKS: LaneMasks = {
    let mut table = [[0u32; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut lane = 0;
        while lane < 8 {
            if byte >> lane & 1 == 1 {
                table[byte][lane] = u32::MAX;
            }
            lane += 1;
        }
        byte += 1;
    }
    LaneMasks(table)
};

/// See `Isa::window_sum`: four independent accumulators.
///
/// # Safety
///
/// The CPU must support AVX2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx2")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    let abs_mask = _mm256_set1_epi32(0x7fff_ffff);
    let target = _mm256_set1_epi32(window as i32);
    let mut sums = [_mm256_setzero_pd(); 4];
    for j in 0..block.len().div_ceil(8) {
        let v = load(block, masks, j);
        let win = _mm256_srli_epi32::<{ WINDOW_SHIFT as i32 }>(_mm256_and_si256(v, abs_mask));
        let x = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_cmpeq_epi32(win, target)));
        let pair = 2 * (j % 2);
        sums[pair] = _mm256_add_pd(sums[pair], _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        sums[pair + 1] = _mm256_add_pd(
            sums[pair + 1],
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)),
        );
    }
    let total = _mm256_add_pd(
        _mm256_add_pd(sums[0], sums[1]),
        _mm256_add_pd(sums[2], sums[3]),
    );
    // Exact in any order: every partial sum is a subset sum of the window.
    f64_lanes(total).iter().sum()
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support AVX2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx2")]
pub unsafe fn scan(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    // Two copies of the loop, so that the unmasked one has no mask code.
    match masks {
        None => scan_impl::<false>(block, None, window),
        Some(_) => scan_impl::<true>(block, masks, window),
    }
}

/// The per-vector work of [`scan`]: accumulates the in-window values of
/// `v` into `sum` (two f64 vectors), the windows touched (non-zero values
/// only) and the largest absolute bit pattern.
#[inline]
#[target_feature(enable = "avx2")]
fn scan_vector(
    v: __m256i,
    target: __m256i,
    sum: &mut [__m256d; 2],
    windows: &mut __m256i,
    max_abs: &mut __m256i,
) {
    let abs = _mm256_and_si256(v, _mm256_set1_epi32(0x7fff_ffff));
    let win = _mm256_srli_epi32::<{ WINDOW_SHIFT as i32 }>(abs);
    let x = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_cmpeq_epi32(win, target)));
    sum[0] = _mm256_add_pd(sum[0], _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    sum[1] = _mm256_add_pd(sum[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
    let is_zero = _mm256_cmpeq_epi32(abs, _mm256_setzero_si256());
    let bit = _mm256_sllv_epi32(_mm256_set1_epi32(1), win);
    *windows = _mm256_or_si256(*windows, _mm256_andnot_si256(is_zero, bit));
    // The largest |x| has the largest exponent: one max, no shift per vector.
    *max_abs = _mm256_max_epu32(*max_abs, abs);
}

/// Calls `each(k, v)` for the vectors of 8 values of `block`, in order,
/// with null lanes (when `MASKED`) and lanes past the end set to zero bits.
/// `k` alternates 0 and 1 over the full pairs of vectors, so that callers
/// keep two independent chains, and is 0 for the tail. Prefetches
/// `PREFETCH` bytes ahead.
///
/// # Panics
///
/// If `block` holds more than [`BLOCK`] values (checked once per block:
/// it bounds the indices into `masks`).
#[inline]
#[target_feature(enable = "avx2")]
fn for_each_vector<const MASKED: bool, const PREFETCH: usize>(
    block: &[f32],
    masks: Option<&Masks>,
    mut each: impl FnMut(usize, __m256i),
) {
    assert!(block.len() <= BLOCK);
    let pairs = block.len() / 16;
    // The validity bytes, one per vector of 8 values (x86_64 is little
    // endian: byte j of the u64 words holds bits 8j..8j+8).
    let mask_bytes: &[u8] = match masks {
        // SAFETY: a `[u64; N]` is readable as `8 * N` bytes.
        Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr() as *const u8, 8 * m.len()) },
        None => &[],
    };
    for p in 0..pairs {
        // One cache line per iteration: ask for the line PREFETCH bytes
        // ahead (and one farther into L2, see `prefetch_ahead`), so that
        // more reads are in flight than the loop alone keeps.
        super::prefetch_ahead(block.as_ptr().wrapping_add(16 * p), PREFETCH);
        for k in 0..2 {
            let j = 2 * p + k;
            // SAFETY: `8 * j + 8 <= 16 * pairs <= block.len()`.
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(8 * j) as *const __m256i) };
            let v = if MASKED {
                // In bounds: `j < block.len() / 8 <= BLOCK / 8`, the length
                // of `mask_bytes` when masks are given (the assertion above
                // lets the compiler drop the check). Where `masks` is `None`
                // (never with `MASKED`), this would panic, not read.
                let byte = mask_bytes[j];
                // SAFETY: each table entry is one aligned 32-byte vector.
                let lanes = unsafe {
                    _mm256_load_si256(LANE_MASKS.0[usize::from(byte)].as_ptr() as *const __m256i)
                };
                _mm256_and_si256(v, lanes)
            } else {
                v
            };
            each(k, v);
        }
    }
    for j in 2 * pairs..block.len().div_ceil(8) {
        each(0, load(block, masks, j));
    }
}

/// The lanes of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn f64_lanes(v: __m256d) -> [f64; 4] {
    let mut lanes = [0f64; 4];
    // SAFETY: `lanes` holds exactly one vector.
    unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
    lanes
}

/// The lanes of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn u32_lanes(v: __m256i) -> [u32; 8] {
    let mut lanes = [0u32; 8];
    // SAFETY: `lanes` holds exactly one vector.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, v) };
    lanes
}

/// The sum of two chains of two accumulators, in any order: exact where the
/// caller's sums are (subset sums of one window or one span).
#[inline]
#[target_feature(enable = "avx2")]
fn total(sums: &[[__m256d; 2]; 2]) -> f64 {
    let total = _mm256_add_pd(
        _mm256_add_pd(sums[0][0], sums[0][1]),
        _mm256_add_pd(sums[1][0], sums[1][1]),
    );
    f64_lanes(total).iter().sum()
}

#[inline]
#[target_feature(enable = "avx2")]
fn scan_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    let target = _mm256_set1_epi32(window as i32);
    let mut sums = [[_mm256_setzero_pd(); 2]; 2];
    let mut windows = [_mm256_setzero_si256(); 2];
    let mut max_abs = [_mm256_setzero_si256(); 2];
    for_each_vector::<MASKED, PREFETCH>(block, masks, |k, v| {
        scan_vector(v, target, &mut sums[k], &mut windows[k], &mut max_abs[k]);
    });
    Scan {
        // Exact in any order: every partial sum is a subset sum of the window.
        sum: total(&sums),
        windows: u32_lanes(_mm256_or_si256(windows[0], windows[1]))
            .iter()
            .fold(0, |a, &w| a | w) as u16,
        max_exponent: u32_lanes(_mm256_max_epu32(max_abs[0], max_abs[1]))
            .into_iter()
            .max()
            .unwrap_or(0)
            >> SIGNIFICAND_BITS,
    }
}

/// See `Isa::span`: the f64 sum of every valid value, with
/// the smallest and largest nonzero magnitude, and no window selection.
///
/// # Safety
///
/// The CPU must support AVX2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx2")]
pub unsafe fn span(block: &[f32], masks: Option<&Masks>) -> Span {
    match masks {
        None => span_impl::<false>(block, None),
        Some(_) => span_impl::<true>(block, masks),
    }
}

/// The per-vector work of [`span`]: adds the 8 values to `sum`, and folds
/// `|x| - 1` into `low` (zeros wrap to `u32::MAX`, so they never win the
/// minimum) and `|x|` into `high`.
#[inline]
#[target_feature(enable = "avx2")]
fn span_vector(v: __m256i, sum: &mut [__m256d; 2], low: &mut __m256i, high: &mut __m256i) {
    let abs = _mm256_and_si256(v, _mm256_set1_epi32(0x7fff_ffff));
    let x = _mm256_castsi256_ps(v);
    sum[0] = _mm256_add_pd(sum[0], _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    sum[1] = _mm256_add_pd(sum[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
    *low = _mm256_min_epu32(*low, _mm256_sub_epi32(abs, _mm256_set1_epi32(1)));
    *high = _mm256_max_epu32(*high, abs);
}

#[inline]
#[target_feature(enable = "avx2")]
fn span_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>) -> Span {
    let mut sums = [[_mm256_setzero_pd(); 2]; 2];
    let mut low = [_mm256_set1_epi32(-1); 2];
    let mut high = [_mm256_setzero_si256(); 2];
    for_each_vector::<MASKED, SPAN_PREFETCH>(block, masks, |k, v| {
        span_vector(v, &mut sums[k], &mut low[k], &mut high[k]);
    });
    Span {
        sum: total(&sums),
        low: u32_lanes(_mm256_min_epu32(low[0], low[1]))
            .into_iter()
            .min()
            .unwrap_or(u32::MAX)
            .wrapping_add(1),
        high: u32_lanes(_mm256_max_epu32(high[0], high[1]))
            .into_iter()
            .max()
            .unwrap_or(0),
    }
}

/// Values that [`bin_block`] copies at a time, nulls zeroed, before binning.
const BIN_CHUNK: usize = 256;

/// See `Isa::bin_block`: as the AVX-512 pass, with the copy made 8 lanes at
/// a time through the lane-mask table.
///
/// # Safety
///
/// The CPU must support AVX2 and BMI2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx2,bmi2")]
pub unsafe fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    assert!(block.len() <= BLOCK);
    if masks.is_none() {
        return portable::bin_values::<{ portable::BIN_PREFETCH }>(bins, block, super::opaque_shift());
    }
    let mut copy = [0f32; BIN_CHUNK];
    for start in (0..block.len()).step_by(BIN_CHUNK) {
        let n = (block.len() - start).min(BIN_CHUNK);
        for j in 0..n.div_ceil(8) {
            if j % 2 == 0 {
                super::prefetch_ahead(block.as_ptr().wrapping_add(start + 8 * j), portable::BIN_PREFETCH);
            }
            let v = load(block, masks, start / 8 + j);
            // SAFETY: `8 * j + 8 <= BIN_CHUNK`.
            unsafe { _mm256_storeu_si256(copy.as_mut_ptr().add(8 * j) as *mut _, v) };
        }
        portable::bin_values::<0>(bins, &copy[..n], super::opaque_shift());
    }
}
