//! The block pass in plain Rust: the reference for the SIMD versions.
//!
//! Null lanes are masked to `+0.0` bits first: zero adds nothing, lies in
//! window 0, marks no window and has the smallest exponent, so nothing a null
//! slot holds is read into the result.

use arrow_buffer::bit_chunk_iterator::BitChunks;
use half::f16;

use super::{Masks, Scan, Span};
use crate::kernel::native::Native;
use crate::kernel::Validity;
use crate::kernel::geometry::{
    entry, window_of, Bins, BINS, BLOCK, SETS, SIGNIFICAND_BITS, STRIDE, WINDOW_SHIFT,
};

const LANES: usize = 16;

/// See [`super`].
/// The exact value of a Float16 bit pattern: finite ones as an integer
/// number of `2^-24` (below `2^40`) scaled by a power of two, so that no
/// floating-point environment (one reading subnormals as zero included)
/// changes it.
#[inline(always)]
pub(crate) fn f16_value(bits: u16) -> f64 {
    let exponent = u32::from(bits >> 10 & 0x1f);
    let fraction = u64::from(bits & 0x3ff);
    let magnitude = match exponent {
        0x1f if fraction == 0 => f64::INFINITY,
        0x1f => f64::NAN,
        0 => fraction as f64 * F16_UNIT,
        e => ((fraction | 0x400) << (e - 1)) as f64 * F16_UNIT,
    };
    if bits >> 15 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// `2^-24`: every Float16 is an integer multiple of it.
const F16_UNIT: f64 = 1.0 / (1u64 << 24) as f64;

/// See `Isa::f16_sum`.
pub fn f16_sum(block: &[f16], masks: Option<&Masks>) -> f64 {
    assert!(block.len() <= BLOCK);
    let mut sum = 0.0;
    for (j, x) in block.iter().enumerate() {
        if masks.is_none_or(|m| m[j / 64] >> (j % 64) & 1 == 1) {
            sum += f16_value(x.to_bits());
        }
    }
    sum
}

pub fn scan(block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
    let mut sums = [0f64; LANES];
    let mut windows = 0u32;
    let mut max_exponent = 0u32;
    for (i, &x) in block.iter().enumerate() {
        let valid = masks.is_none_or(|m| (m[i / 64] >> (i % 64)) & 1 == 1);
        let bits = x.to_bits() & 0u32.wrapping_sub(valid as u32);
        let exponent = (bits >> SIGNIFICAND_BITS) & 0xff;
        let window_of_exponent = exponent >> (WINDOW_SHIFT - SIGNIFICAND_BITS);
        let in_window = 0u32.wrapping_sub((window_of_exponent == window) as u32);
        sums[i % LANES] += f32::from_bits(bits & in_window) as f64;
        let nonzero = (bits & 0x7fff_ffff != 0) as u32;
        windows |= nonzero << window_of_exponent;
        max_exponent = max_exponent.max(exponent);
    }
    Scan {
        // Exact in any order: every partial sum is a subset sum of the window.
        sum: sums.iter().sum(),
        windows: windows as u16,
        max_exponent,
    }
}

/// See `Isa::span`.
pub fn span(block: &[f32], masks: Option<&Masks>) -> Span {
    let mut sums = [0f64; LANES];
    let mut low = u32::MAX;
    let mut high = 0u32;
    for (i, &x) in block.iter().enumerate() {
        let valid = masks.is_none_or(|m| (m[i / 64] >> (i % 64)) & 1 == 1);
        let bits = x.to_bits() & 0u32.wrapping_sub(valid as u32);
        sums[i % LANES] += f32::from_bits(bits) as f64;
        let abs = bits & 0x7fff_ffff;
        // Zeros wrap to `u32::MAX` and never win the minimum.
        low = low.min(abs.wrapping_sub(1));
        high = high.max(abs);
    }
    Span {
        sum: sums.iter().sum(),
        low: low.wrapping_add(1),
        high,
    }
}

/// See `Isa::window_sum`.
pub fn window_sum(block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
    let mut sums = [0f64; LANES];
    for (i, &x) in block.iter().enumerate() {
        let valid = masks.is_none_or(|m| (m[i / 64] >> (i % 64)) & 1 == 1);
        let bits = x.to_bits() & 0u32.wrapping_sub(valid as u32);
        let in_window = 0u32.wrapping_sub((window_of(bits) == window) as u32);
        sums[i % LANES] += f32::from_bits(bits & in_window) as f64;
    }
    sums.iter().sum()
}

/// See `Isa::bin_block`: value `i` adds its [`entry`] to bin `bits >> 23`
/// of set `i % SETS`.
pub fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    match masks {
        None => bin_values::<BIN_PREFETCH>(bins, block, SIGNIFICAND_BITS),
        Some(m) => {
            for (i, &x) in block.iter().enumerate() {
                let valid = (m[i / 64] >> (i % 64)) & 1 == 1;
                let bits = x.to_bits() & 0u32.wrapping_sub(valid as u32);
                bins[i % SETS][(bits >> SIGNIFICAND_BITS) as usize] += entry(bits);
            }
        }
    }
}

/// How far ahead of its loads [`bin_values`] prefetches, in bytes, when
/// it reads the block itself.
pub(crate) const BIN_PREFETCH: usize = 4096;

/// Adds every value of `values` (all valid) to the bins, value `i` to set
/// `i % SETS`: the loop every instruction set ends in, as no vector scatter
/// adds.
///
/// `shift` is [`SIGNIFICAND_BITS`]; the bin of a value is `bits >> shift`.
/// Callers compiled for BMI2 pass it through `x86_64::opaque_shift`, so that
/// the compiler cannot fold it into the shift: a shift by a register
/// compiles to BMI2's three-operand `shrx`, which leaves `bits` in place
/// for the entry, where a shift by a constant needs a copy of `bits` first.
/// Four instructions per value instead of five: the wide-data pass went
/// from 0.56 to 0.44 ns per value on one core (in cache, the Xeon of
/// `docs/benchmarks.md`). Fewer instructions mattered and fewer conflicts
/// between the adds did not (2 copies of the bins instead of 4 ran as fast),
/// so the loop looks bound by the instructions the core takes in per cycle.
#[inline(always)]
pub(crate) fn bin_values<const PREFETCH: usize>(bins: &mut Bins, values: &[f32], shift: u32) {
    // At least SIGNIFICAND_BITS (and equal to it for every caller), so that
    // every index `bits >> shift` is below `2^(32 - 23) = BINS`.
    let shift = shift.max(SIGNIFICAND_BITS);
    debug_assert_eq!(shift, SIGNIFICAND_BITS);
    // The compiler cannot see that bound through a shift by a register, and
    // a check per value would cost the instruction `shrx` saves.
    let add = |set: &mut [u64; STRIDE], bits: u32| {
        let index = (bits >> shift) as usize;
        debug_assert!(index < BINS);
        // SAFETY: `index <= u32::MAX >> 23 = 511 < BINS <= STRIDE`, as
        // `shift >= 23` (above).
        unsafe { *set.get_unchecked_mut(index) += entry(bits) };
    };
    // Sixteen values per iteration: the loop costs little beside the adds.
    let mut groups = values.chunks_exact(4 * SETS);
    for group in &mut groups {
        // One cache line per iteration: ask for the line BIN_PREFETCH bytes
        // ahead, and one farther into L2 (see `prefetch_ahead`).
        #[cfg(target_arch = "x86_64")]
        if PREFETCH > 0 {
            super::x86_64::prefetch_ahead(group.as_ptr(), PREFETCH);
        }
        for (k, &x) in group.iter().enumerate() {
            add(&mut bins[k % SETS], x.to_bits());
        }
    }
    for (k, &x) in groups.remainder().iter().enumerate() {
        add(&mut bins[k % SETS], x.to_bits());
    }
}

/// See `Isa::integer_sum`: the exact sum of the valid `values` (integers)
/// and how many are valid, 64 values at a time through [`Native::sum64`],
/// whose lanes the compiler vectorises for the instruction set the caller
/// is compiled for (`Isa::integer_sum` compiles it once per instruction
/// set), prefetching ahead as the float passes do.
///
/// `|x| <= 2^64` and at most `isize::MAX` values per call: the total is below
/// `2^127` in magnitude, an `i128`.
#[inline(always)]
pub(crate) fn integer_sum<T: Native>(values: &[T], validity: Option<Validity<'_>>) -> (i128, u64) {
    let mut total = 0i128;
    let mut valid = 0u64;
    let (chunks, rest) = values.as_chunks::<64>();
    let rest_mask = match validity {
        None => {
            for chunk in chunks {
                prefetch_chunk(chunk);
                total += T::sum64(chunk, u64::MAX);
            }
            valid = (values.len() - rest.len()) as u64;
            (1u64 << rest.len()) - 1
        }
        Some(v) => {
            let bits = BitChunks::new(v.bits, v.offset, values.len());
            for (chunk, mask) in chunks.iter().zip(bits.iter()) {
                prefetch_chunk(chunk);
                valid += u64::from(mask.count_ones());
                if mask != 0 {
                    total += T::sum64(chunk, mask);
                }
            }
            bits.remainder_bits()
        }
    };
    for (i, &x) in rest.iter().enumerate() {
        if rest_mask >> i & 1 == 1 {
            total += x.to_i128();
            valid += 1;
        }
    }
    (total, valid)
}

/// Lanes of the Float64 split pass's accumulators (a 512-bit vector).
const F64_LANES: usize = 8;

/// `σ` of [`f64_split_sum`] for a block whose largest and smallest nonzero
/// valid magnitudes have bit patterns `top` and `low`; or the pass's answer
/// without it: `None` (a NaN or infinity, more than 30 binades between the
/// two, or `σ` beyond the largest double) or zero (no nonzero valid value).
#[inline(always)]
pub(crate) fn f64_sigma(top: u64, low: u64) -> Result<f64, Option<[f64; 2]>> {
    if top >= 0x7ff0_0000_0000_0000 {
        return Err(None);
    }
    if top == 0 {
        return Err(Some([0.0, 0.0]));
    }
    // Biased exponents, 1 for subnormals (which share its spacing).
    let (e_top, e_low) = (((top >> 52) as i32).max(1), ((low >> 52) as i32).max(1));
    // |x| < 2^m.
    let m = e_top - 1022;
    if e_low < e_top - F64_SPLIT_BINADES || m + 12 > 1023 {
        return Err(None);
    }
    Ok(f64::from_bits(((m + 12 + 1023) as u64) << 52))
}

/// How many binades below the largest value of a block the smallest may lie
/// for [`f64_split_sum`] (see there).
const F64_SPLIT_BINADES: i32 = 30;

/// Group `g` of 8 values of a block and their lane masks (all ones where
/// valid); the last group is padded with nulls. Fixed-size arrays, so that
/// the compiler keeps a group in one vector.
#[inline(always)]
fn f64_group(block: &[f64], masks: Option<&Masks>, g: usize) -> ([f64; F64_LANES], [u64; F64_LANES]) {
    let start = F64_LANES * g;
    let bits = match masks {
        None => u64::MAX,
        Some(m) => m[start / 64] >> (start % 64),
    };
    let n = (block.len() - start).min(F64_LANES);
    let xs: [f64; F64_LANES] = match block[start..].first_chunk::<F64_LANES>() {
        Some(full) => *full,
        None => {
            let mut xs = [0f64; F64_LANES];
            xs[..n].copy_from_slice(&block[start..]);
            xs
        }
    };
    let valid = if n == F64_LANES { bits } else { bits & ((1 << n) - 1) };
    let mut lanes = [0u64; F64_LANES];
    for (k, lane) in lanes.iter_mut().enumerate() {
        *lane = 0u64.wrapping_sub(valid >> k & 1);
    }
    (xs, lanes)
}

/// See `Isa::f64_split_sum`: the exact sum of a block of at most [`BLOCK`]
/// `f64` values as two `f64`s, by splitting each value on a fixed grid
/// (Rump, Ogita and Oishi's `ExtractVector`, "Accurate floating-point
/// summation, part I", 2008), in two passes over the block (in L1 after the
/// first).
///
/// The first pass finds the largest and the smallest nonzero valid
/// magnitude, with biased exponents `e_top` and `e_low` (1 for subnormals).
/// Every valid `|x| < 2^M`, `M = e_top − 1022`. Let `σ = 2^(M+12)`. Rounding
/// to nearest, `q = (σ + x) − σ` is `x` rounded to a multiple of `2^(M−41)`
/// (the spacing of doubles in `[σ/2, 2σ]` is at least that) and the
/// subtraction is exact (Sterbenz); `r = x − q` is exact and `|r| <=
/// 2^(M−41)`.
///
/// - Every `q` is a multiple of `2^(M−41)` with `|q| <= 2^M + 2^(M−41)`, so
///   any partial sum of at most `2^11` of them is below `2^(M+12)`: fewer
///   than `2^53` units of `2^(M−41)`, exactly representable in any order and
///   lane split.
/// - Every `r` is a multiple of `ulp(x) >= 2^(e_low − 1075)` (as `q` is a
///   multiple of `2^(M−41) >= ulp(x)`), and any partial sum of at most `2^11`
///   of them is below `2^(M−30)`: exact while `M − 30 − (e_low − 1075) <=
///   53`, that is `e_low >= e_top − 30`.
///
/// So when the valid nonzero values lie within [`F64_SPLIT_BINADES`]` = 30`
/// binades of the largest, the block's sum is exactly `Σq + Σr`, two
/// exactly computed `f64`s. Otherwise (and for a NaN or infinity, or `σ`
/// beyond the largest double) it returns `None` and the caller bins the
/// block. Null lanes are cleared to `+0.0`.
///
/// The exactness needs rounding to nearest and gradual underflow (an `r`
/// may be subnormal): callers check [`super::default_float_environment`]
/// first.
#[inline(always)]
pub(crate) fn f64_split_sum(block: &[f64], masks: Option<&Masks>) -> Option<[f64; 2]> {
    assert!(block.len() <= BLOCK);
    let groups = block.len().div_ceil(F64_LANES);
    let (top, bottom) = f64_extremes(block, masks, groups);
    let sigma = match f64_sigma(top, bottom) {
        Ok(sigma) => sigma,
        Err(sum) => return sum,
    };
    // Second pass (in L1): the grid and the remainders.
    let mut sums = [0f64; F64_LANES];
    let mut rests = [0f64; F64_LANES];
    for g in 0..groups {
        let (xs, lanes) = f64_group(block, masks, g);
        for k in 0..F64_LANES {
            let x = f64::from_bits(xs[k].to_bits() & lanes[k]);
            let q = (sigma + x) - sigma;
            sums[k] += q;
            rests[k] += x - q;
        }
    }
    Some([sums.iter().sum(), rests.iter().sum()])
}

/// The first pass of [`f64_split_sum`] and [`f64_split_moments`] over the
/// `groups` groups of a block: the largest and the smallest nonzero valid
/// magnitude, as bits (`0` and `u64::MAX` when there is none).
#[inline(always)]
fn f64_extremes(block: &[f64], masks: Option<&Masks>, groups: usize) -> (u64, u64) {
    let mut high = [0u64; F64_LANES];
    let mut low = [u64::MAX; F64_LANES];
    for g in 0..groups {
        if g % 8 == 0 {
            super::prefetch(block.as_ptr().wrapping_add(F64_LANES * g) as *const u8, F64_PREFETCH);
        }
        let (xs, lanes) = f64_group(block, masks, g);
        for k in 0..F64_LANES {
            let a = xs[k].to_bits() & (lanes[k] >> 1);
            high[k] = high[k].max(a);
            low[k] = low[k].min(if a == 0 { u64::MAX } else { a });
        }
    }
    let top = high.iter().copied().max().unwrap_or(0);
    let bottom = low.iter().copied().min().unwrap_or(u64::MAX);
    (top, bottom)
}

/// What [`f64_split_moments`] finds in a block: its exact sum and sum of
/// squares as `f64` parts, scaled by a power of two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SplitMoments {
    /// `Σx = (sum[0] + sum[1]) · 2^scale`, each part exact.
    pub sum: [f64; 2],
    /// `Σx² = (squares[0] + … + squares[5]) · 2^(2·scale)`, each part
    /// exact: three for the squares' high parts, three for their low parts.
    pub squares: [f64; 6],
    /// The values were scaled by `2^-scale` (exactly) before they were added.
    pub scale: i32,
}

/// `2^e` for a normal power of two (`-1022 <= e <= 1023`).
const fn normal_pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// `σ` of the sum in [`f64_split_moments`] and of the first level of the
/// squares' high parts: `2^12`.
pub(crate) const MOMENT_SIGMA: f64 = normal_pow2(12);
/// `σ` of the second level of the squares' high parts: `2^-29`.
pub(crate) const HIGH_SIGMA: f64 = normal_pow2(-29);
/// `σ`s of the two levels of the squares' low parts: `2^-42` and `2^-83`.
pub(crate) const LOW_SIGMAS: [f64; 2] = [normal_pow2(-42), normal_pow2(-83)];

/// The scale `M` of [`f64_split_moments`] for a block whose largest and
/// smallest nonzero valid magnitudes have bit patterns `top` and `low`
/// (every valid `|x| < 2^M`), and whether the block is narrow (within
/// [`NARROW_BINADES`]); or the pass's answer without them: `None` (a NaN
/// or infinity, or the smallest more than [`F64_SPLIT_BINADES`] binades
/// below the largest, a subnormal by its leading bit) or zeros (no nonzero
/// valid value).
#[inline(always)]
pub(crate) fn f64_moment_scale(top: u64, low: u64) -> Result<(i32, bool), Option<SplitMoments>> {
    if top >= 0x7ff0_0000_0000_0000 {
        return Err(None);
    }
    if top == 0 {
        return Err(Some(SplitMoments {
            sum: [0.0; 2],
            squares: [0.0; 6],
            scale: 0,
        }));
    }
    // The exponent of `low`'s leading bit, biased as for normals (at most 0
    // for a subnormal: it bounds the magnitude from below, not the unit).
    let e_low = if low >> 52 != 0 {
        (low >> 52) as i32
    } else {
        (63 - low.leading_zeros()) as i32 - 51
    };
    let e_top = ((top >> 52) as i32).max(1);
    if e_low < e_top - F64_SPLIT_BINADES {
        return Err(None);
    }
    Ok((e_top - 1022, e_low >= e_top - NARROW_BINADES))
}

/// How many binades below the largest value of a block the smallest may lie
/// for [`f64_split_moments`] to split the squares once (see there).
pub(crate) const NARROW_BINADES: i32 = 14;

/// The factor `2^-scale` of [`f64_split_moments`], exactly (`scale` from
/// [`f64_moment_scale`] is in `-1021..=1024`; `2^-1024` is a subnormal).
#[inline(always)]
pub(crate) fn f64_moment_factor(scale: i32) -> f64 {
    debug_assert!((-1021..=1024).contains(&scale));
    if scale <= 1022 {
        normal_pow2(-scale)
    } else {
        f64::from_bits(1 << (1074 - scale))
    }
}

/// `y` split on the grids of `sigmas` (see [`f64_split_moments`]): its part
/// on the first grid, on the second, and the remainder; or, if `once`, on
/// the first, zero, and the remainder.
#[inline(always)]
fn split(y: f64, sigmas: [f64; 2], once: bool) -> [f64; 3] {
    let q1 = (sigmas[0] + y) - sigmas[0];
    let r1 = y - q1;
    if once {
        return [q1, 0.0, r1];
    }
    let q2 = (sigmas[1] + r1) - sigmas[1];
    [q1, q2, r1 - q2]
}

/// See `Isa::f64_split_moments`: the exact sum and sum of squares of a
/// block of at most [`BLOCK`] `f64` values, as [`SplitMoments`], in two
/// passes over the block (in L1 after the first), as [`f64_split_sum`] for
/// the sum.
///
/// The first pass finds the largest and the smallest nonzero valid
/// magnitude. Let `e_top` be the largest's biased exponent (1 for a
/// subnormal) and `e_low` the exponent of the smallest's leading bit,
/// biased as for normals (so at most 0 for a subnormal), with `k = e_top −
/// e_low <= 30` (else `None`, as for a NaN or an infinity). Every valid `|x|
/// < 2^M`, `M = e_top − 1022`; every nonzero `|x| >= 2^(e_low − 1023)`; and
/// every `x` is a multiple of `2^(max(e_low, 1) − 1075)`, its unit or a
/// larger one. The second pass scales each value to `y = x · 2^-M`,
/// exactly (a power of two; `|y| < 1`, and a nonzero `|y| >= 2^(−k−1) >=
/// 2^-31`, normal). Each `y` is a multiple of `2^(−k−53)`.
///
/// **Splitting.** For `|v| <= 2^T` and `σ = 2^(T+12)`, rounding to nearest,
/// `q = (σ + v) − σ` is `v` rounded to a multiple of `2^(T−41)` (the
/// spacing of doubles in `[σ/2, 2σ]` is a multiple of it), the subtraction
/// is exact (Sterbenz), `r = v − q` is exact, and `|r| <= 2^(T−41)`. Any
/// partial sum of at most `2^11` such `q` is below `2^(T+12)`: fewer than
/// `2^53` units of `2^(T−41)`, exact in any order and lane split.
///
/// - **Sum**: `y` split once with `T = 0`: `Σq` as above; each `r` is a
///   multiple of `u` with partial sums below `2^-30`, fewer than `2^53`
///   units as `k <= 30`.
/// - **Squares**: `h = y·y` rounded and `l = fma(y, y, −h)`, so `y² = h + l`
///   exactly (`l` is representable: `y²` is a multiple of `2^(−2k−106) >=
///   2^-166`, far above the subnormals). `h <= 1` and `|l| <= 2^-54`.
///   - `h` is split twice: `T = 0` (`σ = 2^12`), then its remainder with
///     `T = −41` (`σ = 2^-29`). The last remainders are multiples of the
///     smallest `ulp(h) >= 2^(−2k−54)` (as `h >= 2^(−2k−2)`: here the
///     smallest magnitude counts, not only its unit) with partial sums below
///     `2^(−82+11)`: fewer than `2^(2k−17) <= 2^53` units for `k <= 35`.
///   - `l` is split twice: `T = −54` (`σ = 2^-42`), then `T = −95` (`σ =
///     2^-83`). The last remainders are multiples of `2^(−2k−106)` with
///     partial sums below `2^(−136+11)`: fewer than `2^(2k−19) <= 2^53`
///     units for `k <= 36`.
///
/// **Narrow blocks** (`k <= 14`, [`NARROW_BINADES`]) split `h` and `l`
/// once. The first remainders of `h` are multiples of `ulp(h) >=
/// 2^(−2k−54)` with partial sums below `2^(−41+11)`: fewer than `2^(2k+24)
/// <= 2^53` units. Those of `l` are multiples of `2^(−2k−106)` with partial
/// sums below `2^(−95+11)`: fewer than `2^(2k+22) <= 2^53` units.
///
/// So `Σx = (Σq + Σr) · 2^M` and `Σx² = (six exact sums) · 2^(2M)`. Null
/// lanes are cleared to `+0.0`, which adds zero everywhere. Unlike
/// [`f64_split_sum`], no block is declined for its magnitude: scaling keeps
/// every `σ` and square in range.
///
/// The exactness needs rounding to nearest, gradual underflow and a fused
/// multiply-add: callers check [`super::default_float_environment`] first,
/// and `f64::mul_add` is fused on every target.
#[inline(always)]
pub(crate) fn f64_split_moments(block: &[f64], masks: Option<&Masks>) -> Option<SplitMoments> {
    assert!(block.len() <= BLOCK);
    let groups = block.len().div_ceil(F64_LANES);
    let (top, bottom) = f64_extremes(block, masks, groups);
    let (scale, narrow) = match f64_moment_scale(top, bottom) {
        Ok(found) => found,
        Err(found) => return found,
    };
    let factor = f64_moment_factor(scale);
    // Second pass (in L1): eight accumulators per lane, in the order of
    // `SplitMoments`.
    let mut acc = [[0f64; 8]; F64_LANES];
    for g in 0..groups {
        let (xs, lanes) = f64_group(block, masks, g);
        for k in 0..F64_LANES {
            let y = f64::from_bits(xs[k].to_bits() & lanes[k]) * factor;
            let q = (MOMENT_SIGMA + y) - MOMENT_SIGMA;
            let h = y * y;
            let l = y.mul_add(y, -h);
            let [h1, h2, h3] = split(h, [MOMENT_SIGMA, HIGH_SIGMA], narrow);
            let [l1, l2, l3] = split(l, LOW_SIGMAS, narrow);
            for (a, part) in acc[k].iter_mut().zip([q, y - q, h1, h2, h3, l1, l2, l3]) {
                *a += part;
            }
        }
    }
    let total = |i: usize| acc.iter().map(|lane| lane[i]).sum::<f64>();
    Some(SplitMoments {
        sum: [total(0), total(1)],
        squares: [total(2), total(3), total(4), total(5), total(6), total(7)],
        scale,
    })
}

/// How far ahead of the loads [`f64_split_sum`] prefetches, in bytes.
const F64_PREFETCH: usize = 2048;

/// How far ahead of the loads [`integer_sum`] prefetches, in bytes.
const INTEGER_PREFETCH: usize = 2048;

/// Prefetches the lines [`INTEGER_PREFETCH`] bytes after each line of a
/// chunk of 64 values (one line for 8-bit values, eight for 64-bit).
#[inline(always)]
fn prefetch_chunk<T>(chunk: &[T]) {
    let at = chunk.as_ptr() as *const u8;
    for line in (0..std::mem::size_of_val(chunk)).step_by(64) {
        super::prefetch(at.wrapping_add(line), INTEGER_PREFETCH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_values_puts_every_sign_and_exponent_in_its_bin_with_any_shift_route() {
        // Every bit pattern's top 9 bits, with fractions 0 and all ones,
        // and one more value than a whole number of groups (the remainder).
        let values: Vec<f32> = (0..512u32)
            .flat_map(|i| [i << 23, i << 23 | 0x7f_ffff])
            .chain([1.5f32.to_bits()])
            .map(f32::from_bits)
            .collect();
        let mut expected: Bins = [[0; STRIDE]; SETS];
        for (i, x) in values.iter().enumerate() {
            expected[i % SETS][(x.to_bits() >> 23) as usize] += entry(x.to_bits());
        }
        for shift in [SIGNIFICAND_BITS, std::hint::black_box(SIGNIFICAND_BITS), 0] {
            // A shift below 23 is raised to it: no index leaves the bins.
            let mut bins: Bins = [[0; STRIDE]; SETS];
            bin_values::<BIN_PREFETCH>(&mut bins, &values, shift);
            assert!(bins == expected, "shift {shift}");
        }
    }
}