//! [`ExponentBins`]: the wide-range accumulator, one integer per sign and
//! exponent, after Radford Neal's "large accumulator" (xsum).
//!
//! The window passes of [`super::blocks`] sum a block in `f64`, exactly, one
//! window of 16 binades at a time; data whose exponents spread over many
//! windows (magnitudes `1e-30 … 1e30`) would need one pass, or one masked
//! add, per window. Here every value costs the same whatever its exponent:
//! one integer add into the bin its bit pattern names.
//!
//! # The bins
//!
//! A finite `f32` with bit pattern `bits` has sign `bits >> 31`, biased
//! exponent `e = (bits >> 23) & 0xff` and fraction `f = bits & 0x7f_ffff`;
//! it is `±(f + [e > 0] · 2^23) · 2^(max(e, 1) - 1)` units of `2^-149` (see
//! [`ExactSum`]). Its bin is `bits >> 23` (`0..512`: sign and exponent,
//! [`BINS`]), so a bin only ever receives values of one sign and one
//! exponent, and each value adds
//!
//! ```text
//! entry(bits) = bits + 2^COUNT_SHIFT = f + i · 2^23 + 2^43      (i = bits >> 23)
//! ```
//!
//! to its bin's `u64`: the bit pattern as it is (no masking: one integer add
//! per value), and one in the **count** field from bit 43 up. The bin's
//! own index `i` is the same for every value it receives, so after `n`
//! values bin `i` holds
//!
//! ```text
//! b = n · K_i + sum f,      K_i = 2^43 + i · 2^23,
//! ```
//!
//! and since `sum f < K_i` (below), `n = b / K_i` and `sum f = b % K_i`. The
//! implicit leading bit `2^23` of a normal value is `n · 2^23`, put back
//! when the bin is read (and left out for `e = 0`, zeros and subnormals,
//! which have none). Null slots are set to `+0.0` bits: they add to bin 0,
//! whose count is never used.
//!
//! The bins come in [`SETS`] copies; value `i` of a block goes to set
//! `i % SETS`, so that runs of values in one bin (data in a few binades,
//! nulls) do not wait on each other's read-modify-write.
//!
//! # Why no bit is lost: the deferred carries
//!
//! Between two flushes at most [`FLUSH_VALUES`] `= 2^20` values are added
//! (the block driver flushes before a block would pass it), so a bin holds
//! `n <= 2^20` entries and
//!
//! - `sum f <= 2^20 · (2^23 - 1) < 2^43 <= K_i`: the division recovers
//!   `n` and `sum f`;
//! - `b <= 2^20 · (2^43 + 511 · 2^23) + 2^20 · 2^23 = 2^63 + 2^52 < 2^64`:
//!   the `u64` never wraps.
//!
//! So each bin decodes exactly to `(sum f, n)`, and its value is
//! `m = sum f + [e > 0] · n · 2^23 <= 2^43 + 2^43 = 2^44` units of
//! `2^(max(e, 1) - 1)`. A flush ([`ExponentBins::flush_into`]) adds the
//! [`SETS`] `<= 4` copies and subtracts the negative bin from the positive
//! one: `|v_e| < 4 · 2^44 = 2^46`, an `i64`. It then gathers 64 exponents at
//! a time into an `i128`, each `v_e` shifted by at most 63 bits:
//! `|acc| < 64 · 2^46 · 2^63 = 2^115 < 2^127`. Each group goes into the
//! [`ExactSum`] as two 64-bit halves at shifts at most `191 + 64 = 255`,
//! within its limbs. Integer additions are exact, so the flushed sum is the
//! exact sum of the values, whatever their order and split across sets.
//!
//! NaN and infinities (`e = 255`) land in bins 255 and 511, which a sum
//! cannot decode into counts per kind: the block driver sees them in the
//! pass's largest magnitude, counts that block's specials value by value and
//! clears those two bins ([`ExponentBins::clear_specials`]).

use super::exact_sum::ExactSum;
use super::geometry::{Bins, Masks, BINS, COUNT_ONE, COUNT_SHIFT, SETS, STRIDE};

/// The largest fraction field of an `f32`.
const FRACTION_MAX: u64 = 0x7f_ffff;
/// At most this many values go into the bins between two flushes.
pub(crate) const FLUSH_VALUES: usize = 1 << 20;

// The bit budget of the module docs.
const _: () = assert!((FLUSH_VALUES as u128) * (FRACTION_MAX as u128) < 1 << COUNT_SHIFT);
const _: () = assert!(
    (FLUSH_VALUES as u128) * ((1 << COUNT_SHIFT) + ((BINS as u128 - 1) << 23) + (1 << 23))
        <= u64::MAX as u128
);
const _: () = assert!(SETS <= 4 && SETS.is_power_of_two());

/// The exact-sum accumulator for wide-range blocks; see the module docs.
pub(crate) struct ExponentBins {
    /// The bins; a pass of `kernel::arch` adds each value's [`entry`].
    pub(crate) bins: Bins,
    /// Values added since the last flush (at most [`FLUSH_VALUES`]).
    pending: usize,
}

impl ExponentBins {
    /// Empty bins.
    pub(crate) fn new() -> Self {
        ExponentBins {
            bins: [[0; STRIDE]; SETS],
            pending: 0,
        }
    }

    /// Makes room for `len` more values: flushes into `sum` first if they
    /// would pass [`FLUSH_VALUES`]. Call before every pass that fills the
    /// bins, with the length of its block.
    #[inline]
    pub(crate) fn reserve(&mut self, len: usize, sum: &mut ExactSum) {
        debug_assert!(len <= FLUSH_VALUES);
        if self.pending + len > FLUSH_VALUES {
            self.flush_into(sum);
        }
        self.pending += len;
    }

    /// Whether bins 255 or 511 (NaN and infinities) hold anything.
    #[inline]
    pub(crate) fn has_specials(&self) -> bool {
        self.bins.iter().any(|set| set[255] | set[511] != 0)
    }

    /// Empties bins 255 and 511 (NaN and infinities), which the block
    /// driver counts itself.
    pub(crate) fn clear_specials(&mut self) {
        for set in &mut self.bins {
            set[255] = 0;
            set[511] = 0;
        }
    }

    /// Adds the bins' exact sum to `sum` and empties them.
    pub(crate) fn flush_into(&mut self, sum: &mut ExactSum) {
        if self.pending == 0 {
            return;
        }
        self.pending = 0;
        // v[e]: the signed sum, in units of 2^(max(e, 1) - 1), of the
        // values of exponent e (|v[e]| < 2^46: see the module docs).
        let mut v = [0i64; 256];
        for set in &mut self.bins {
            debug_assert!(set[255] == 0 && set[511] == 0, "specials left in the bins");
            for (i, &b) in set[..BINS].iter().enumerate() {
                if b == 0 {
                    continue;
                }
                // b = n · K + sum f with sum f < K (see the module docs).
                let k = COUNT_ONE + ((i as u64) << 23);
                let (n, fractions) = (b / k, b % k);
                let e = i % 256;
                let implicit = if e > 0 { n << 23 } else { 0 };
                let m = (fractions + implicit) as i64;
                v[e] += if i < 256 { m } else { -m };
            }
            *set = [0; STRIDE];
        }
        // Groups of 64 exponents: e in 64g..64g + 64 is v[e] units of
        // 2^(max(e, 1) - 1) = 2^(base + s) with base = max(64g, 1) - 1 and
        // s = max(e, 1) - 1 - base in 0..64.
        for (g, group) in v.chunks_exact(64).enumerate() {
            let base = (64 * g as u32).max(1) - 1;
            let mut acc: i128 = 0;
            for (i, &ve) in group.iter().enumerate() {
                let e = 64 * g as u32 + i as u32;
                acc += (ve as i128) << (e.max(1) - 1 - base);
            }
            if acc != 0 {
                let magnitude = acc.unsigned_abs();
                sum.add_shifted(magnitude as u64, base, acc < 0);
                sum.add_shifted((magnitude >> 64) as u64, base + 64, acc < 0);
            }
        }
    }
}

/// Counts the NaN and infinities among the valid values of `block` (the
/// values with exponent 255); `state.count` already holds them.
pub(crate) fn count_specials(state: &mut super::MeanState, block: &[f32], masks: Option<&Masks>) {
    for (j, &x) in block.iter().enumerate() {
        if masks.is_none_or(|m| (m[j / 64] >> (j % 64)) & 1 == 1) {
            if x.is_nan() {
                state.nan_count += 1;
            } else if x == f32::INFINITY {
                state.pos_inf_count += 1;
            } else if x == f32::NEG_INFINITY {
                state.neg_inf_count += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::geometry::entry;

    /// Adds `values` to fresh bins as a pass would (set `i % SETS`).
    fn binned(values: &[f32]) -> ExactSum {
        let mut bins = ExponentBins::new();
        let mut sum = ExactSum::default();
        for chunk in values.chunks(1 << 12) {
            bins.reserve(chunk.len(), &mut sum);
            for (i, &x) in chunk.iter().enumerate() {
                let bits = x.to_bits();
                bins.bins[i % SETS][(bits >> 23) as usize] += entry(bits);
            }
        }
        bins.flush_into(&mut sum);
        sum
    }

    fn exact(values: &[f32]) -> ExactSum {
        let mut sum = ExactSum::default();
        values.iter().for_each(|&x| sum.add_f32(x));
        sum
    }

    #[test]
    fn every_finite_exponent_and_sign_decodes_exactly() {
        let values: Vec<f32> = (0..255u32)
            .flat_map(|e| {
                [0, 1, FRACTION_MAX as u32, 0x12_3457]
                    .into_iter()
                    .flat_map(move |f| [e << 23 | f, 1 << 31 | e << 23 | f].map(f32::from_bits))
            })
            .collect();
        assert_eq!(binned(&values), exact(&values));
        // One at a time, so that a wrong bin or shift cannot cancel out.
        for &x in &values {
            assert_eq!(binned(&[x]), exact(&[x]), "{x:e}");
        }
    }

    #[test]
    fn full_bins_of_the_largest_entry_decode_exactly() {
        // FLUSH_VALUES copies of the largest value of a binade, in one bin
        // of one set (all in set 0: the worst case for one bin), then
        // again past the flush.
        let x = f32::from_bits(1 << 31 | 254 << 23 | FRACTION_MAX as u32);
        let mut bins = ExponentBins::new();
        let mut sum = ExactSum::default();
        for _ in 0..2 {
            bins.reserve(FLUSH_VALUES, &mut sum);
            for _ in 0..FLUSH_VALUES {
                bins.bins[0][(x.to_bits() >> 23) as usize] += entry(x.to_bits());
            }
        }
        bins.flush_into(&mut sum);
        let mut expected = ExactSum::default();
        for _ in 0..2 * FLUSH_VALUES / 4 {
            for _ in 0..4 {
                expected.add_f32(x);
            }
        }
        assert_eq!(sum, expected);
        assert_eq!(sum.mean(2 * FLUSH_VALUES as u64), x as f64);
    }

    #[test]
    fn cancelling_signs_and_subnormals_sum_exactly() {
        let values: Vec<f32> = (0..10_000u32)
            .map(|i| {
                let x = f32::from_bits(i.wrapping_mul(2_654_435_761) % 0x7f80_0000);
                if i % 3 == 0 {
                    -x
                } else {
                    x
                }
            })
            .chain([f32::MAX, -f32::MAX, f32::from_bits(1), -0.0, 0.0])
            .collect();
        assert_eq!(binned(&values), exact(&values));
    }
}
