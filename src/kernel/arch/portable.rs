//! The block pass in plain Rust: the reference for the SIMD versions.
//!
//! Null lanes are masked to `+0.0` bits first: zero adds nothing, lies in
//! window 0, marks no window and has the smallest exponent, so nothing a null
//! slot holds is read into the result.

use super::{Masks, Scan, Span};
use crate::kernel::exponent_bins::{entry, Bins, SETS};
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
        None => bin_values::<BIN_PREFETCH>(bins, block),
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
#[inline(always)]
pub(crate) fn bin_values<const PREFETCH: usize>(bins: &mut Bins, values: &[f32]) {
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
            let bits = x.to_bits();
            // `bits >> 23 < 512 = BINS`: the index needs no check.
            bins[k % SETS][(bits >> SIGNIFICAND_BITS) as usize] += entry(bits);
        }
    }
    for (k, &x) in groups.remainder().iter().enumerate() {
        let bits = x.to_bits();
        bins[k % SETS][(bits >> SIGNIFICAND_BITS) as usize] += entry(bits);
    }
}
