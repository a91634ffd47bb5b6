//! The block passes in plain Rust: the reference for the SIMD versions.
//!
//! Null lanes are masked to `+0.0` bits first, which adds nothing and has the
//! smallest exponent, so neither pass reads what a null slot holds.

use super::Masks;

const EXP_MASK: u32 = 0x7f80_0000;
const ABS_MASK: u32 = 0x7fff_ffff;
const LANES: usize = 16;

/// The bits of `block[i]`, or `0` (`+0.0`) where `masks` marks it null.
#[inline(always)]
fn bits(block: &[f32], masks: Option<&Masks>, i: usize) -> u32 {
    let bits = block[i].to_bits();
    match masks {
        None => bits,
        Some(masks) => bits & 0u32.wrapping_sub(((masks[i / 64] >> (i % 64)) & 1) as u32),
    }
}

/// See [`super`].
pub fn max_exponent(block: &[f32], masks: Option<&Masks>) -> u32 {
    let mut lanes = [0u32; LANES];
    for (i, _) in block.iter().enumerate() {
        let lane = &mut lanes[i % LANES];
        *lane = (*lane).max(bits(block, masks, i) & EXP_MASK);
    }
    lanes.into_iter().max().unwrap_or(0)
}

/// See [`super`].
pub fn window_sum(block: &[f32], masks: Option<&Masks>, low_bits: u32) -> (f64, bool) {
    let mut sums = [0f64; LANES];
    let mut below = 0u32;
    for i in 0..block.len() {
        let bits = bits(block, masks, i);
        let abs = bits & ABS_MASK;
        let in_window = 0u32.wrapping_sub((abs >= low_bits) as u32);
        sums[i % LANES] += f32::from_bits(bits & in_window) as f64;
        below |= abs & !in_window;
    }
    // Exact in any order: every partial sum is a subset sum of the window.
    (sums.iter().sum(), below != 0)
}
