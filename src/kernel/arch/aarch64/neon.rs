//! The block pass with NEON (Advanced SIMD): 4 `f32` lanes per vector, each
//! widened to two `float64x2_t` halves. The validity bits of 16 values are
//! broadcast once and tested against each lane's bit (`vtst`): four constant
//! vectors instead of a table per mask value, and no byte order enters (the
//! bits are shifted out of the `u64` words).
//!
//! Tested bit for bit against [`super::super::portable`] by the kernel's unit
//! tests, which run on x86-64 machines under qemu-user emulation
//! (`make test-aarch64`).

use std::arch::aarch64::*;

use super::super::{Masks, Scan, Span};
use crate::kernel::geometry::{SIGNIFICAND_BITS, WINDOW_SHIFT};

/// Values per iteration of the main loops: 4 vectors, 16 validity bits.
const GROUP: usize = 16;

/// Lane `l` of vector `k` in a group tests validity bit `4k + l`.
static LANE_BITS: [[u32; 4]; 4] = {
    let mut bits = [[0u32; 4]; 4];
    let mut k = 0;
    while k < 4 {
        let mut lane = 0;
        while lane < 4 {
            bits[k][lane] = 1 << (4 * k + lane);
            lane += 1;
        }
        k += 1;
    }
    bits
};

/// [`LANE_BITS`] as vectors, loaded once per call.
#[inline]
#[target_feature(enable = "neon")]
fn lane_bits() -> [uint32x4_t; 4] {
    // SAFETY: each row of `LANE_BITS` holds 4 `u32`.
    std::array::from_fn(|k| unsafe { vld1q_u32(LANE_BITS[k].as_ptr()) })
}

/// The validity bits of values `start .. start + 16` in the low 16 bits
/// (`start` a multiple of 16, so the bits never straddle two words).
#[inline]
fn group_bits(masks: &Masks, start: usize) -> u32 {
    (masks[start / 64] >> (start % 64)) as u32 & 0xffff
}

/// `v` with the lanes whose bit in `bits` (as tested by `lane_bits`) is
/// clear set to zero.
#[inline]
#[target_feature(enable = "neon")]
fn keep_valid(v: uint32x4_t, bits: uint32x4_t, lane_bits: uint32x4_t) -> uint32x4_t {
    vandq_u32(v, vtstq_u32(bits, lane_bits))
}

/// Values `4 * j .. 4 * j + 4`, with null lanes and lanes past the end of
/// the block set to zero bits: for the vectors after the last full group.
#[inline]
#[target_feature(enable = "neon")]
fn load(block: &[f32], masks: Option<&Masks>, lane_bits: &[uint32x4_t; 4], j: usize) -> uint32x4_t {
    let start = 4 * j;
    let v = if start + 4 <= block.len() {
        // SAFETY: `start + 4 <= block.len()`.
        unsafe { vld1q_u32(block.as_ptr().add(start) as *const u32) }
    } else {
        let mut tail = [0f32; 4];
        tail[..block.len() - start].copy_from_slice(&block[start..]);
        // SAFETY: `tail` holds 4 values.
        unsafe { vld1q_u32(tail.as_ptr() as *const u32) }
    };
    match masks {
        None => v,
        Some(m) => {
            let group = start / GROUP * GROUP;
            let bits = vdupq_n_u32(group_bits(m, group));
            keep_valid(v, bits, lane_bits[j % 4])
        }
    }
}

/// Values `start .. start + 16` as 4 vectors, null lanes zeroed when
/// `MASKED` (and `masks` is `Some`).
///
/// # Safety
///
/// `start + 16 <= block.len()`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load_group<const MASKED: bool>(
    block: &[f32],
    masks: Option<&Masks>,
    lane_bits: &[uint32x4_t; 4],
    start: usize,
) -> [uint32x4_t; 4] {
    // SAFETY: `start + 16 <= block.len()` (the caller's contract).
    let vs: [uint32x4_t; 4] = std::array::from_fn(|k| unsafe {
        vld1q_u32(block.as_ptr().add(start + 4 * k) as *const u32)
    });
    match masks {
        Some(m) if MASKED => {
            let bits = vdupq_n_u32(group_bits(m, start));
            std::array::from_fn(|k| keep_valid(vs[k], bits, lane_bits[k]))
        }
        _ => vs,
    }
}

/// Calls `each(k, v)` for the vectors of 4 values of `block`, in order,
/// with null lanes (when `MASKED`) and lanes past the end set to zero bits;
/// `k` (`0..4`) is the vector's place in its group of 16 values, so that
/// callers can keep four independent chains.
#[inline]
#[target_feature(enable = "neon")]
fn for_each_vector<const MASKED: bool>(
    block: &[f32],
    masks: Option<&Masks>,
    mut each: impl FnMut(usize, uint32x4_t),
) {
    let lane_bits = lane_bits();
    let groups = block.len() / GROUP;
    for g in 0..groups {
        // SAFETY: `16 * g + 16 <= block.len()`.
        let vs = unsafe { load_group::<MASKED>(block, masks, &lane_bits, GROUP * g) };
        for (k, v) in vs.into_iter().enumerate() {
            each(k, v);
        }
    }
    for j in GROUP / 4 * groups..block.len().div_ceil(4) {
        each(j % 4, load(block, masks, &lane_bits, j));
    }
}

/// Adds the lanes of `v` whose window `win` is `target` (the others as
/// `+0.0`) to `sum`, widened to `f64`: low half to `sum[0]`, high to `sum[1]`.
#[inline]
#[target_feature(enable = "neon")]
fn add_in_window(v: uint32x4_t, win: uint32x4_t, target: uint32x4_t, sum: &mut [float64x2_t; 2]) {
    let x = vreinterpretq_f32_u32(vandq_u32(v, vceqq_u32(win, target)));
    sum[0] = vaddq_f64(sum[0], vcvt_f64_f32(vget_low_f32(x)));
    sum[1] = vaddq_f64(sum[1], vcvt_high_f64_f32(x));
}

/// The sum of the lanes of four accumulator pairs.
#[inline]
#[target_feature(enable = "neon")]
fn total(sums: &[[float64x2_t; 2]; 4]) -> f64 {
    let pairs = sums.map(|[a, b]| vaddq_f64(a, b));
    let total = vaddq_f64(vaddq_f64(pairs[0], pairs[1]), vaddq_f64(pairs[2], pairs[3]));
    // Exact in any order: every partial sum is a subset sum of the window.
    vaddvq_f64(total)
}

/// See `Isa::window_sum`: four chains of two accumulators.
///
/// # Safety
///
/// The CPU must support NEON (every aarch64 Linux machine does).
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "neon")]
pub unsafe fn window_sum(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    match masks {
        None => window_sum_impl::<false>(block, None, window),
        Some(_) => window_sum_impl::<true>(block, masks, window),
    }
}

/// [`window_sum`], with the mask code compiled in only when `MASKED`.
#[inline]
#[target_feature(enable = "neon")]
fn window_sum_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    let abs_mask = vdupq_n_u32(0x7fff_ffff);
    let target = vdupq_n_u32(window);
    let mut sums = [[vdupq_n_f64(0.0); 2]; 4];
    for_each_vector::<MASKED>(block, masks, |k, v| {
        let win = vshrq_n_u32::<{ WINDOW_SHIFT as i32 }>(vandq_u32(v, abs_mask));
        add_in_window(v, win, target, &mut sums[k]);
    });
    total(&sums)
}

/// See [`super::super`].
///
/// # Safety
///
/// The CPU must support NEON (every aarch64 Linux machine does).
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "neon")]
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
#[target_feature(enable = "neon")]
fn scan_vector(
    v: uint32x4_t,
    target: uint32x4_t,
    sum: &mut [float64x2_t; 2],
    windows: &mut uint32x4_t,
    max_abs: &mut uint32x4_t,
) {
    let abs = vandq_u32(v, vdupq_n_u32(0x7fff_ffff));
    let win = vshrq_n_u32::<{ WINDOW_SHIFT as i32 }>(abs);
    add_in_window(v, win, target, sum);
    // All ones where |x| is not zero.
    let nonzero = vtstq_u32(abs, abs);
    let bit = vshlq_u32(vdupq_n_u32(1), vreinterpretq_s32_u32(win));
    *windows = vorrq_u32(*windows, vandq_u32(bit, nonzero));
    // The largest |x| has the largest exponent: one max, no shift per vector.
    *max_abs = vmaxq_u32(*max_abs, abs);
}

/// [`scan`], with the mask code compiled in only when `MASKED`.
#[inline]
#[target_feature(enable = "neon")]
fn scan_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    let target = vdupq_n_u32(window);
    // Four independent chains (one per vector of a group) hide the latency
    // of the f64 adds; two suffice for the cheaper integer ORs and maxima,
    // and leave the 32 vector registers enough room not to spill.
    let mut sums = [[vdupq_n_f64(0.0); 2]; 4];
    let mut windows = [vdupq_n_u32(0); 2];
    let mut max_abs = [vdupq_n_u32(0); 2];
    for_each_vector::<MASKED>(block, masks, |k, v| {
        let c = k % 2;
        scan_vector(v, target, &mut sums[k], &mut windows[c], &mut max_abs[c]);
    });
    let windows = vorrq_u32(windows[0], windows[1]);
    let max_abs = vmaxq_u32(max_abs[0], max_abs[1]);
    let windows = vgetq_lane_u32::<0>(windows)
        | vgetq_lane_u32::<1>(windows)
        | vgetq_lane_u32::<2>(windows)
        | vgetq_lane_u32::<3>(windows);
    Scan {
        sum: total(&sums),
        windows: windows as u16,
        max_exponent: vmaxvq_u32(max_abs) >> SIGNIFICAND_BITS,
    }
}

/// See `Isa::span`: the `f64` sum of every valid value,
/// with the smallest and largest nonzero magnitude, and no window test.
///
/// # Safety
///
/// The CPU must support NEON (every aarch64 Linux machine does).
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "neon")]
pub unsafe fn span(block: &[f32], masks: Option<&Masks>) -> Span {
    match masks {
        None => span_impl::<false>(block, None),
        Some(_) => span_impl::<true>(block, masks),
    }
}

/// The per-vector work of [`span`]: adds `v` to `sum`, and folds `|x| - 1`
/// into `low` (zeros wrap to `u32::MAX` and never win the minimum) and
/// `|x|` into `high`.
#[inline]
#[target_feature(enable = "neon")]
fn span_vector(
    v: uint32x4_t,
    sum: &mut [float64x2_t; 2],
    low: &mut uint32x4_t,
    high: &mut uint32x4_t,
) {
    let abs = vandq_u32(v, vdupq_n_u32(0x7fff_ffff));
    let x = vreinterpretq_f32_u32(v);
    sum[0] = vaddq_f64(sum[0], vcvt_f64_f32(vget_low_f32(x)));
    sum[1] = vaddq_f64(sum[1], vcvt_high_f64_f32(x));
    *low = vminq_u32(*low, vsubq_u32(abs, vdupq_n_u32(1)));
    *high = vmaxq_u32(*high, abs);
}

/// [`span`], with the mask code compiled in only when `MASKED`.
#[inline]
#[target_feature(enable = "neon")]
fn span_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>) -> Span {
    // Chains as in `scan_impl`.
    let mut sums = [[vdupq_n_f64(0.0); 2]; 4];
    let mut low = [vdupq_n_u32(u32::MAX); 2];
    let mut high = [vdupq_n_u32(0); 2];
    for_each_vector::<MASKED>(block, masks, |k, v| {
        let c = k % 2;
        span_vector(v, &mut sums[k], &mut low[c], &mut high[c]);
    });
    Span {
        sum: total(&sums),
        low: vminvq_u32(vminq_u32(low[0], low[1])).wrapping_add(1),
        high: vmaxvq_u32(vmaxq_u32(high[0], high[1])),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{portable, Isa};
    use super::*;
    use crate::kernel::geometry::{window_of, BLOCK, MASK_WORDS, WINDOWS};

    /// Values in many windows, with zeros, subnormals, NaN and infinities.
    fn values(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -f32::from_bits(i as u32), // subnormal
                2 => f32::from_bits(((((i * 37) % 255) as u32) << 23) | 0x12_3456),
                3 => -(i as f32) * 1e30,
                4 if i % 5 == 0 => f32::NAN,
                4 => f32::INFINITY,
                5 => -0.0,
                _ => (i as f32) * 0.375,
            })
            .collect()
    }

    /// NEON and the portable reference agree bitwise on `block` and `masks`,
    /// in every window.
    fn assert_same(block: &[f32], masks: Option<&Masks>) {
        for window in 0..WINDOWS as u32 {
            // SAFETY: NEON is checked by each test before calling.
            let (scan, sum) =
                unsafe { (scan(block, masks, window), window_sum(block, masks, window)) };
            let reference = portable::scan(block, masks, window);
            let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
            assert!(
                same(scan.sum, reference.sum) && same(sum, reference.sum),
                "len {} window {window}: {scan:?} {sum} vs {reference:?}",
                block.len()
            );
            assert_eq!(
                (scan.windows, scan.max_exponent),
                (reference.windows, reference.max_exponent),
                "len {} window {window}",
                block.len()
            );
        }
        // SAFETY: as above.
        let span = unsafe { span(block, masks) };
        let reference = portable::span(block, masks);
        assert_eq!(
            (span.low, span.high),
            (reference.low, reference.high),
            "len {}",
            block.len()
        );
        // The sums agree where they are exact: all nonzero values in one
        // window (elsewhere the kernel drops them).
        if span.low == 0
            || (window_of(span.low) == window_of(span.high) && span.high < 0x7f80_0000)
        {
            assert_eq!(span.sum, reference.sum, "len {}", block.len());
        }
    }

    #[test]
    fn neon_is_detected_and_preferred_to_portable() {
        // NEON is part of the aarch64 base: the other tests here, and the
        // block kernel's tests, only cover it if detection finds it.
        let names: Vec<_> = Isa::supported().iter().map(|isa| isa.name()).collect();
        assert_eq!(names, ["neon", "portable"]);
    }

    #[test]
    fn every_single_valid_lane_of_short_blocks_matches_the_reference() {
        if !std::arch::is_aarch64_feature_detected!("neon") {
            return;
        }
        for len in (1..=9).chain([15, 16, 17, 31, 33, 63, 64, 65]) {
            let block = values(len);
            assert_same(&block, None);
            for valid in 0..len {
                let mut masks: Masks = [0; MASK_WORDS];
                masks[valid / 64] |= 1 << (valid % 64);
                assert_same(&block, Some(&masks));
                // And every lane but that one.
                let mut all_but: Masks = [u64::MAX; MASK_WORDS];
                all_but[valid / 64] &= !(1 << (valid % 64));
                assert_same(&block, Some(&all_but));
            }
        }
    }

    #[test]
    fn full_and_ragged_blocks_match_the_reference_under_patterned_masks() {
        if !std::arch::is_aarch64_feature_detected!("neon") {
            return;
        }
        let block = values(BLOCK);
        let mut masks: Masks = [0; MASK_WORDS];
        for (w, word) in masks.iter_mut().enumerate() {
            *word = 0x9e37_79b9_7f4a_7c15u64.rotate_left(w as u32 * 7) ^ (w as u64);
        }
        for len in [BLOCK, BLOCK - 1, BLOCK - 13, 1000, 17] {
            assert_same(&block[..len], None);
            assert_same(&block[..len], Some(&masks));
        }
    }
}
