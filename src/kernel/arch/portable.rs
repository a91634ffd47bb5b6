//! The block pass in plain Rust: the reference for the SIMD versions.
//!
//! Null lanes are masked to `+0.0` bits first: zero adds nothing, lies in
//! window 0, marks no window and has the smallest exponent, so nothing a null
//! slot holds is read into the result.

use super::{Masks, Scan, Span};
use crate::kernel::exponent_bins::{entry, Bins, BINS, SETS, STRIDE};
use crate::kernel::geometry::{window_of, SIGNIFICAND_BITS, WINDOW_SHIFT};

const LANES: usize = 16;

/// See [`super`].
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
