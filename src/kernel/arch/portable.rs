//! The block pass in plain Rust: the reference for the SIMD versions.
//!
//! Null lanes are masked to `+0.0` bits first: zero adds nothing, lies in
//! window 0, marks no window and has the smallest exponent, so nothing a null
//! slot holds is read into the result.

use super::{Masks, Scan, Span};
use crate::kernel::geometry::{window_of, SIGNIFICAND_BITS, WINDOWS, WINDOW_SHIFT};

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

/// See `Isa::all_window_sums`.
pub fn all_window_sums(block: &[f32], masks: Option<&Masks>) -> [f64; WINDOWS] {
    // Four sets of bins, used in turn, so that neighbouring values that fall
    // in the same window do not wait on each other's add. Each bin holds a
    // subset sum of its window, exact like the whole window's sum.
    let mut sums = [[0f64; WINDOWS]; 4];
    let window = |x: f32| window_of(x.to_bits()) as usize;
    match masks {
        None => {
            let mut quads = block.chunks_exact(4);
            for quad in &mut quads {
                for (set, &x) in sums.iter_mut().zip(quad) {
                    set[window(x)] += x as f64;
                }
            }
            for (set, &x) in sums.iter_mut().zip(quads.remainder()) {
                set[window(x)] += x as f64;
            }
        }
        Some(m) => {
            for (i, &x) in block.iter().enumerate() {
                if (m[i / 64] >> (i % 64)) & 1 == 1 {
                    sums[i % 4][window(x)] += x as f64;
                }
            }
        }
    }
    let mut total = [0f64; WINDOWS];
    for (w, t) in total.iter_mut().enumerate() {
        *t = (sums[0][w] + sums[1][w]) + (sums[2][w] + sums[3][w]);
    }
    total
}
