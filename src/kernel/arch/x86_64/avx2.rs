//! The block pass with AVX2: 8 lanes; each byte of the validity bitmap is
//! expanded to a lane mask by a broadcast, an AND with each lane's bit and a
//! compare.

use std::arch::x86_64::*;

use super::super::portable::SplitMoments;
use super::super::{portable, Masks, Scan, Span};
use crate::kernel::geometry::Bins;
use crate::kernel::native::{SumBins, SUM_BINS, SUM_SETS};
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

/// The table of lane masks for `$lanes`-bit validity patterns: entry `bits`
/// has lane `k` all ones where bit `k` of `bits` is set.
macro_rules! lane_table {
    ($t:ty, $lanes:literal) => {{
        let mut table = [[0 as $t; $lanes]; 1 << $lanes];
        let mut bits = 0;
        while bits < 1 << $lanes {
            let mut lane = 0;
            while lane < $lanes {
                if bits >> lane & 1 == 1 {
                    table[bits][lane] = <$t>::MAX;
                }
                lane += 1;
            }
            bits += 1;
        }
        table
    }};
}

/// For each validity byte, the 8 lane masks it stands for (all ones where
/// the bit is set): one load from L1 instead of a broadcast, an AND and a
/// compare per vector.
#[repr(C, align(32))]
struct LaneMasks([[u32; 8]; 256]);

static LANE_MASKS: LaneMasks = LaneMasks(lane_table!(u32, 8));


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

/// See `Isa::f16_sum`: 8 values per step, converted by F16C's `vcvtph2ps`,
/// null lanes cleared by the lane-mask table, widened to `f64` and added
/// into four accumulators (the sum is exact in any order).
///
/// # Safety
///
/// The CPU must support AVX2 and F16C. That is the only precondition:
/// every load stays within `block` and `masks` (a block of more than
/// `BLOCK` values panics).
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn f16_sum(block: &[half::f16], masks: Option<&Masks>) -> f64 {
    assert!(block.len() <= BLOCK);
    let mask_bytes: &[u8] = match masks {
        // SAFETY: a `[u64; N]` is readable as `8 * N` bytes.
        Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr() as *const u8, 8 * m.len()) },
        None => &[],
    };
    // Whole vectors in the loop, the last partial one after it.
    let vectors = block.len() / 8;
    let z = _mm256_setzero_pd();
    let (mut sum0, mut sum1, mut sum2, mut sum3) = (z, z, z, z);
    for j in (0..vectors).step_by(2) {
        // One 64-byte line per four vectors.
        if j % 4 == 0 {
            super::prefetch_ahead(block.as_ptr().wrapping_add(8 * j) as *const f32, F16_PREFETCH);
        }
        (sum0, sum1) = add_f16(load_f16(block, mask_bytes, masks.is_some(), j), sum0, sum1);
        if j + 1 < vectors {
            (sum2, sum3) = add_f16(load_f16(block, mask_bytes, masks.is_some(), j + 1), sum2, sum3);
        }
    }
    if !block.len().is_multiple_of(8) {
        (sum0, sum1) = add_f16(load_f16(block, mask_bytes, masks.is_some(), vectors), sum0, sum1);
    }
    let all = _mm256_add_pd(_mm256_add_pd(sum0, sum1), _mm256_add_pd(sum2, sum3));
    let mut lanes = [0f64; 4];
    // SAFETY: `lanes` holds 4 `f64`, 32 bytes.
    unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), all) };
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Float16 values `8 * j .. 8 * j + 8` of a block as `f32`, with null lanes
/// (given `masked`, from `mask_bytes`) and lanes past the end of the block
/// zero.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn load_f16(block: &[half::f16], mask_bytes: &[u8], masked: bool, j: usize) -> __m256 {
    let start = 8 * j;
    let h = if start + 8 <= block.len() {
        // SAFETY: `start + 8 <= block.len()`: 16 bytes inside `block`.
        unsafe { _mm_loadu_si128(block.as_ptr().add(start) as *const __m128i) }
    } else {
        let mut tail = [half::f16::ZERO; 8];
        for (t, &x) in tail.iter_mut().zip(&block[start.min(block.len())..]) {
            *t = x;
        }
        // SAFETY: `tail` holds 8 values, 16 bytes.
        unsafe { _mm_loadu_si128(tail.as_ptr() as *const __m128i) }
    };
    let f = _mm256_cvtph_ps(h);
    if !masked {
        return f;
    }
    // In bounds for a block: `j < BLOCK / 8`, the length of `mask_bytes`
    // (a shorter slice panics, never reads past it).
    let byte = mask_bytes[j];
    // SAFETY: each table entry is one aligned 32-byte vector.
    let lanes =
        unsafe { _mm256_load_si256(LANE_MASKS.0[usize::from(byte)].as_ptr() as *const __m256i) };
    _mm256_and_ps(f, _mm256_castsi256_ps(lanes))
}

/// 8 `f32` widened to `f64` and added: the low four to `low`, the high four
/// to `high`.
#[inline]
#[target_feature(enable = "avx2")]
fn add_f16(f: __m256, low: __m256d, high: __m256d) -> (__m256d, __m256d) {
    (
        _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(f))),
        _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(f))),
    )
}

/// How far ahead of the loads [`f16_sum`] prefetches, in bytes.
const F16_PREFETCH: usize = 2048;

/// `portable::integer_sum` compiled for AVX2.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn integer_sum<T: crate::kernel::Native>(
    values: &[T],
    validity: Option<crate::kernel::Validity<'_>>,
) -> (i128, u64) {
    super::super::portable::integer_sum(values, validity)
}

/// See `Isa::f64_split_sum` and `portable::f64_split_sum` (the argument):
/// 4 lanes, each validity nibble expanded to lane masks by a table, the
/// last group copied into a padded local. Magnitudes (sign cleared, below
/// `2^63`) compare as signed 64-bit integers.
///
/// # Safety
///
/// The CPU must support AVX2. That is the only precondition: every load
/// stays within `block` and `masks` (a block of more than `BLOCK` values
/// panics).
#[target_feature(enable = "avx2")]
pub unsafe fn f64_split_sum(block: &[f64], masks: Option<&Masks>) -> Option<[f64; 2]> {
    assert!(block.len() <= BLOCK);
    match masks {
        Some(m) => split_sum_f64::<true>(block, mask_bytes(m)),
        None => split_sum_f64::<false>(block, &[]),
    }
}

/// A block's validity masks as their bytes, little endian (x86-64): nibble
/// `g` (of byte `g / 2`) holds group `g`'s 4 bits.
#[inline]
fn mask_bytes(masks: &Masks) -> &[u8] {
    // SAFETY: a `[u64; N]` is readable as `8 * N` initialised bytes, and the
    // slice borrows it.
    unsafe { std::slice::from_raw_parts(masks.as_ptr() as *const u8, 8 * masks.len()) }
}

/// [`f64_split_sum`] for blocks with (`MASKED`) or without validity masks:
/// the whole groups of 4 in loops without a branch per group, the last
/// partial group after them.
#[inline]
#[target_feature(enable = "avx2")]
fn split_sum_f64<const MASKED: bool>(block: &[f64], mask_bytes: &[u8]) -> Option<[f64; 2]> {
    let groups = block.len() / 4;
    // In bounds: `g < groups`, so `4 * g + 4 <= block.len()`.
    let whole = |g: usize| whole_f64::<MASKED>(block, mask_bytes, g);
    let tail = (!block.len().is_multiple_of(4)).then(|| tail_f64::<MASKED>(block, mask_bytes, groups));
    let (top, bottom) = block_extremes_f64::<MASKED>(block, mask_bytes, tail);
    let sigma = match portable::f64_sigma(top, bottom) {
        Ok(sigma) => _mm256_set1_pd(sigma),
        Err(sum) => return sum,
    };
    // Second pass (in L1): the grid and the remainders, two accumulators
    // each.
    let z = _mm256_setzero_pd();
    let (mut sum0, mut sum1, mut rest0, mut rest1) = (z, z, z, z);
    let pairs = groups / 2;
    for p in 0..pairs {
        (sum0, rest0) = split_f64(whole(2 * p), sigma, sum0, rest0);
        (sum1, rest1) = split_f64(whole(2 * p + 1), sigma, sum1, rest1);
    }
    if groups % 2 == 1 {
        (sum0, rest0) = split_f64(whole(groups - 1), sigma, sum0, rest0);
    }
    if let Some(v) = tail {
        (sum0, rest0) = split_f64(v, sigma, sum0, rest0);
    }
    Some([lane_total(_mm256_add_pd(sum0, sum1)), lane_total(_mm256_add_pd(rest0, rest1))])
}

/// The sum of `v`'s 4 lanes, in lane order.
#[inline]
#[target_feature(enable = "avx2")]
fn lane_total(v: __m256d) -> f64 {
    let mut lanes = [0f64; 4];
    // SAFETY: `lanes` holds 4 `f64`, 32 bytes.
    unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}

/// The first pass of [`f64_split_sum`] and [`f64_split_moments`]: the
/// largest and the smallest nonzero valid magnitude of a block, as bits
/// (`0` and `i64::MAX` when there is none), with `tail` its last partial
/// group ([`tail_f64`]) if it has one. Two chains each (a compare and a
/// blend per step).
#[inline]
#[target_feature(enable = "avx2")]
fn block_extremes_f64<const MASKED: bool>(
    block: &[f64],
    mask_bytes: &[u8],
    tail: Option<__m256i>,
) -> (u64, u64) {
    let groups = block.len() / 4;
    // In bounds: `g < groups`, so `4 * g + 4 <= block.len()`.
    let whole = |g: usize| whole_f64::<MASKED>(block, mask_bytes, g);
    let magnitude = _mm256_set1_epi64x(i64::MAX);
    let zero = _mm256_setzero_si256();
    let (mut high0, mut high1, mut low0, mut low1) = (zero, zero, magnitude, magnitude);
    let pairs = groups / 2;
    for p in 0..pairs {
        super::prefetch_ahead(block.as_ptr().wrapping_add(8 * p) as *const f32, F64_PREFETCH);
        extremes_f64(whole(2 * p), &mut high0, &mut low0);
        extremes_f64(whole(2 * p + 1), &mut high1, &mut low1);
    }
    if groups % 2 == 1 {
        extremes_f64(whole(groups - 1), &mut high0, &mut low0);
    }
    if let Some(v) = tail {
        extremes_f64(v, &mut high0, &mut low0);
    }
    let high = _mm256_blendv_epi8(high0, high1, _mm256_cmpgt_epi64(high1, high0));
    let low = _mm256_blendv_epi8(low0, low1, _mm256_cmpgt_epi64(low0, low1));
    let (mut highs, mut lows) = ([0u64; 4], [0u64; 4]);
    // SAFETY: both arrays hold 4 `u64`, 32 bytes.
    unsafe {
        _mm256_storeu_si256(highs.as_mut_ptr() as *mut __m256i, high);
        _mm256_storeu_si256(lows.as_mut_ptr() as *mut __m256i, low);
    }
    let top = highs.iter().copied().max().unwrap_or(0);
    let bottom = lows.iter().copied().min().unwrap_or(u64::MAX);
    (top, bottom)
}

/// See `Isa::f64_split_moments` and `portable::f64_split_moments` (the
/// argument): the first pass of [`f64_split_sum`], then 4 lanes of eight
/// accumulators, the squares' low parts by a fused multiply-subtract.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA. That is the only precondition: every
/// load stays within `block` and `masks` (a block of more than `BLOCK`
/// values panics).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn f64_split_moments(block: &[f64], masks: Option<&Masks>) -> Option<SplitMoments> {
    assert!(block.len() <= BLOCK);
    match masks {
        Some(m) => split_moments_f64::<true>(block, mask_bytes(m)),
        None => split_moments_f64::<false>(block, &[]),
    }
}

/// [`f64_split_moments`] for blocks with (`MASKED`) or without validity
/// masks, shaped as [`split_sum_f64`]: the second pass is compiled apart for
/// narrow blocks (one split of the squares).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn split_moments_f64<const MASKED: bool>(block: &[f64], mask_bytes: &[u8]) -> Option<SplitMoments> {
    let groups = block.len() / 4;
    let tail = (!block.len().is_multiple_of(4)).then(|| tail_f64::<MASKED>(block, mask_bytes, groups));
    let (top, bottom) = block_extremes_f64::<MASKED>(block, mask_bytes, tail);
    let (scale, narrow) = match portable::f64_moment_scale(top, bottom) {
        Ok(found) => found,
        Err(found) => return found,
    };
    let factor = _mm256_set1_pd(portable::f64_moment_factor(scale));
    let acc = if narrow {
        moments_pass_f64::<MASKED, true>(block, mask_bytes, tail, factor)
    } else {
        moments_pass_f64::<MASKED, false>(block, mask_bytes, tail, factor)
    };
    let [s0, s1, h0, h1, h2, l0, l1, l2] = acc.map(|v| lane_total(v));
    Some(SplitMoments {
        sum: [s0, s1],
        squares: [h0, h1, h2, l0, l1, l2],
        scale,
    })
}

/// The second pass of [`f64_split_moments`] (in L1): each group scaled by
/// `factor` and split as in `portable::f64_split_moments` (once for the
/// squares if `NARROW`), into accumulators in the order of `SplitMoments`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn moments_pass_f64<const MASKED: bool, const NARROW: bool>(
    block: &[f64],
    mask_bytes: &[u8],
    tail: Option<__m256i>,
    factor: __m256d,
) -> [__m256d; 8] {
    // A 1.0 the compiler cannot see through: `fma(a, one, b)` is `a + b`
    // rounded once, as an add, but runs on the multiply units. On Zen 3
    // (two add and two multiply pipes) the accumulations go there, beside
    // the splits' adds.
    let one = _mm256_set1_pd(std::hint::black_box(1.0));
    let mut acc = [_mm256_setzero_pd(); 8];
    for g in 0..block.len() / 4 {
        // In bounds: `4 * g + 4 <= block.len()`.
        let x = whole_f64::<MASKED>(block, mask_bytes, g);
        moments_f64::<NARROW>(x, factor, one, &mut acc);
    }
    if let Some(v) = tail {
        moments_f64::<NARROW>(v, factor, one, &mut acc);
    }
    acc
}

/// One group of [`moments_pass_f64`]: `x` scaled by `factor`, split, each
/// part added to its accumulator in `acc` (`one` is 1.0).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn moments_f64<const NARROW: bool>(x: __m256i, factor: __m256d, one: __m256d, acc: &mut [__m256d; 8]) {
    let add = |a: __m256d, b: __m256d| _mm256_fmadd_pd(a, one, b);
    let y = _mm256_mul_pd(_mm256_castsi256_pd(x), factor);
    let sigma = _mm256_set1_pd(portable::MOMENT_SIGMA);
    let q = _mm256_sub_pd(_mm256_add_pd(sigma, y), sigma);
    acc[0] = add(q, acc[0]);
    acc[1] = add(_mm256_sub_pd(y, q), acc[1]);
    let h = _mm256_mul_pd(y, y);
    let l = _mm256_fmsub_pd(y, y, h);
    let high = [portable::MOMENT_SIGMA, portable::HIGH_SIGMA];
    for (at, v, sigmas) in [(2, h, high), (5, l, portable::LOW_SIGMAS)] {
        let c1 = _mm256_set1_pd(sigmas[0]);
        let q1 = _mm256_sub_pd(_mm256_add_pd(c1, v), c1);
        let r1 = _mm256_sub_pd(v, q1);
        acc[at] = add(q1, acc[at]);
        if NARROW {
            acc[at + 2] = add(r1, acc[at + 2]);
        } else {
            let c2 = _mm256_set1_pd(sigmas[1]);
            let q2 = _mm256_sub_pd(_mm256_add_pd(c2, r1), c2);
            acc[at + 1] = _mm256_add_pd(acc[at + 1], q2);
            acc[at + 2] = _mm256_add_pd(acc[at + 2], _mm256_sub_pd(r1, q2));
        }
    }
}

/// See `Isa::f64_bin_chunk`: each group of 4 values in vector registers up
/// to its bins' indices and terms, then four scalar adds into the bins
/// (value `4 * g + k` into set `k`). As the loop of `F64Bins::add_pending`
/// (module docs of `kernel::native`): with `s = max(e, 1) − 1`, the term
/// `±m << (s & 7)` goes to bin `s >> 3`, as its low 32 bits and the rest
/// (arithmetic shift, by an OR of the sign's ones: AVX2 has no 64-bit
/// arithmetic shift). Null lanes and NaN or infinities add zero to some bin
/// (which changes nothing); the latter are left to the caller.
///
/// # Safety
///
/// The CPU must support AVX2. That is the only precondition: every load
/// stays within `chunk` (of at most 64 values, else a panic), and every bin
/// index is masked below `SUM_BINS`.
#[target_feature(enable = "avx2")]
pub unsafe fn f64_bin_chunk(bins: &mut SumBins, chunk: &[f64], mask: u64) -> (u64, usize, usize) {
    const _: () = assert!(SUM_SETS == 4 && SUM_BINS == 256);
    assert!(chunk.len() <= 64);
    let groups = chunk.len() / 4;
    let exponent = _mm256_set1_epi64x(0x7ff);
    let fraction = _mm256_set1_epi64x((1 << 52) - 1);
    let implicit = _mm256_set1_epi64x(1 << 52);
    let one = _mm256_set1_epi64x(1);
    let seven = _mm256_set1_epi64x(7);
    let low_bits = _mm256_set1_epi64x(0xffff_ffff);
    let high_bits = _mm256_set1_epi64x(!0xffff_ffff);
    let zero = _mm256_setzero_si256();
    let (mut least, mut greatest) = (_mm256_set1_epi64x(255), zero);
    let mut left = 0u64;
    for g in 0..groups {
        // In bounds: `4 * g + 4 <= chunk.len()`.
        let group = &chunk[4 * g..4 * g + 4];
        // SAFETY: `group` is 4 values, 32 bytes.
        let v = unsafe { _mm256_loadu_si256(group.as_ptr() as *const __m256i) };
        let nibble = (mask >> (4 * g)) & 0xf;
        // SAFETY: each table entry is one aligned 32-byte vector.
        let valid =
            unsafe { _mm256_load_si256(NIBBLE_LANES.0[nibble as usize].as_ptr() as *const __m256i) };
        let e = _mm256_and_si256(_mm256_srli_epi64::<52>(v), exponent);
        let special = _mm256_cmpeq_epi64(e, exponent);
        let specials = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_and_si256(special, valid)));
        left |= (specials as u64) << (4 * g);
        let keep = _mm256_andnot_si256(special, valid);
        // `s = max(e, 1) − 1` (32-bit max: `e` and 1 have zero high halves).
        let at = _mm256_sub_epi64(_mm256_max_epu32(e, one), one);
        let m = _mm256_or_si256(
            _mm256_and_si256(v, fraction),
            _mm256_andnot_si256(_mm256_cmpeq_epi64(e, zero), implicit),
        );
        let shifted = _mm256_sllv_epi64(m, _mm256_and_si256(at, seven));
        // ±m << (s & 7); lanes not kept (null, NaN, infinite) become 0.
        let negative = _mm256_cmpgt_epi64(zero, v);
        let term = _mm256_and_si256(_mm256_sub_epi64(_mm256_xor_si256(shifted, negative), negative), keep);
        let low = _mm256_and_si256(term, low_bits);
        // The term's own sign (`-0.0` gives a zero term).
        let below = _mm256_cmpgt_epi64(zero, term);
        let high = _mm256_or_si256(_mm256_srli_epi64::<32>(term), _mm256_and_si256(below, high_bits));
        let bin = _mm256_srli_epi64::<3>(at);
        least = _mm256_min_epu32(least, bin);
        greatest = _mm256_max_epu32(greatest, bin);
        let (mut bin_at, mut lows, mut highs) = ([0u64; 4], [0u64; 4], [0u64; 4]);
        // SAFETY: each array holds 4 `u64`, 32 bytes.
        unsafe {
            _mm256_storeu_si256(bin_at.as_mut_ptr() as *mut __m256i, bin);
            _mm256_storeu_si256(lows.as_mut_ptr() as *mut __m256i, low);
            _mm256_storeu_si256(highs.as_mut_ptr() as *mut __m256i, high);
        }
        for (k, set) in bins.iter_mut().enumerate() {
            let pair = &mut set[(bin_at[k] & 0xff) as usize];
            pair.0 += lows[k];
            pair.1 += highs[k] as i64;
        }
    }
    if 4 * groups < 64 {
        left |= mask >> (4 * groups) << (4 * groups);
    }
    if groups == 0 {
        return (left, usize::MAX, 0);
    }
    let (mut lows, mut highs) = ([0u64; 4], [0u64; 4]);
    // SAFETY: each array holds 4 `u64`, 32 bytes.
    unsafe {
        _mm256_storeu_si256(lows.as_mut_ptr() as *mut __m256i, least);
        _mm256_storeu_si256(highs.as_mut_ptr() as *mut __m256i, greatest);
    }
    let low = lows.iter().copied().min().unwrap_or(0) as usize;
    let high = highs.iter().copied().max().unwrap_or(0) as usize;
    (left, low, high)
}

/// Values `4 * g .. 4 * g + 4` of a block, a whole group (`4 * g + 4 <=
/// block.len()`, else a panic), as bits, with null lanes cleared when
/// `MASKED`.
#[inline]
#[target_feature(enable = "avx2")]
fn whole_f64<const MASKED: bool>(block: &[f64], mask_bytes: &[u8], g: usize) -> __m256i {
    let lanes = &block[4 * g..4 * g + 4];
    // SAFETY: `lanes` is 4 values, 32 bytes.
    let v = unsafe { _mm256_loadu_si256(lanes.as_ptr() as *const __m256i) };
    valid_lanes_f64::<MASKED>(v, mask_bytes, g)
}

/// One group of the first pass: `high` and `low` take the largest and the
/// smallest nonzero magnitude of `v`'s lanes. Magnitudes (the sign cleared,
/// below `2^63`) compare as signed 64-bit integers; zeros count as the
/// largest magnitude in `low`, so that they never win.
#[inline]
#[target_feature(enable = "avx2")]
fn extremes_f64(v: __m256i, high: &mut __m256i, low: &mut __m256i) {
    let magnitude = _mm256_set1_epi64x(i64::MAX);
    let a = _mm256_and_si256(v, magnitude);
    *high = _mm256_blendv_epi8(*high, a, _mm256_cmpgt_epi64(a, *high));
    let zeros = _mm256_cmpeq_epi64(a, _mm256_setzero_si256());
    let a = _mm256_or_si256(a, _mm256_and_si256(zeros, magnitude));
    *low = _mm256_blendv_epi8(*low, a, _mm256_cmpgt_epi64(*low, a));
}

/// The last, partial group `g` of a block as bits: its values, zero bits
/// past the block's end, null lanes cleared when `MASKED`.
#[inline]
#[target_feature(enable = "avx2")]
fn tail_f64<const MASKED: bool>(block: &[f64], mask_bytes: &[u8], g: usize) -> __m256i {
    let mut tail = [0f64; 4];
    for (t, &x) in tail.iter_mut().zip(&block[(4 * g).min(block.len())..]) {
        *t = x;
    }
    // SAFETY: `tail` holds 4 values, 32 bytes.
    let v = unsafe { _mm256_loadu_si256(tail.as_ptr() as *const __m256i) };
    valid_lanes_f64::<MASKED>(v, mask_bytes, g)
}

/// `v`, group `g` of a block, with its null lanes cleared when `MASKED`.
#[inline]
#[target_feature(enable = "avx2")]
fn valid_lanes_f64<const MASKED: bool>(v: __m256i, mask_bytes: &[u8], g: usize) -> __m256i {
    if !MASKED {
        return v;
    }
    // In bounds for a block: `g / 2 < BLOCK / 8`, the length of
    // `mask_bytes` (a shorter slice panics, never reads past it).
    let nibble = mask_bytes[g / 2] >> (4 * (g % 2)) & 0xf;
    // SAFETY: each table entry is one aligned 32-byte vector.
    let lanes =
        unsafe { _mm256_load_si256(NIBBLE_LANES.0[usize::from(nibble)].as_ptr() as *const __m256i) };
    _mm256_and_si256(v, lanes)
}

/// One group of the second pass: `x` split on the grid of `sigma`, added
/// to `sum`, and the remainders to `rest`.
#[inline]
#[target_feature(enable = "avx2")]
fn split_f64(x: __m256i, sigma: __m256d, sum: __m256d, rest: __m256d) -> (__m256d, __m256d) {
    let x = _mm256_castsi256_pd(x);
    let q = _mm256_sub_pd(_mm256_add_pd(sigma, x), sigma);
    (_mm256_add_pd(sum, q), _mm256_add_pd(rest, _mm256_sub_pd(x, q)))
}

/// How far ahead of the loads [`f64_split_sum`] prefetches, in bytes.
const F64_PREFETCH: usize = 2048;

/// For each validity nibble, the 4 lane masks it stands for (all ones where
/// the bit is set).
#[repr(C, align(32))]
struct NibbleLanes([[u64; 4]; 16]);

static NIBBLE_LANES: NibbleLanes = NibbleLanes(lane_table!(u64, 4));
