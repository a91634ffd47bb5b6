//! [`ExactSum`]: a fixed-point accumulator that holds the sum of any number of
//! finite `f32` values without rounding, and divides it by a count with one
//! correct rounding at the end.
//!
//! # Why no bit can be lost (the bit budget)
//!
//! Every finite `f32` is `m · 2^(e - 150)` with an integer significand
//! `0 <= m < 2^24` and a biased exponent `e` in `1..=254` (subnormals have
//! `e = 0` and the same scale as `e = 1`). So every finite `f32` is an integer
//! multiple of the smallest subnormal, `2^-149`, and
//!
//! ```text
//! |x| / 2^-149  =  m · 2^(max(e, 1) - 1)  <  2^24 · 2^253  =  2^277.
//! ```
//!
//! [`ExactSum`] stores the sum in units of `2^-149` as a 384-bit two's
//! complement integer (six 64-bit limbs). A sum of `n` values has magnitude
//! below `n · 2^277`; with `n < 2^64` (a `u64` count) that is below `2^341`,
//! leaving 42 bits of headroom under the sign bit. No addition can overflow,
//! so the integer is the exact sum, and every merge of two accumulators is an
//! exact integer addition: the result cannot depend on order, chunking or
//! threads.
//!
//! # Why states read from bytes keep that true
//!
//! The argument above bounds the sum by the number of values added, so it
//! holds for any [`ExactSum`] built by [`ExactSum::add_f32`] and
//! [`ExactSum::merge`]. A state read from bytes
//! ([`MeanState::from_bytes`](crate::MeanState::from_bytes)) was built by
//! nobody knows what, so it is checked against the same bound before it is
//! accepted: its sum must satisfy
//!
//! ```text
//! |sum| <= finite_count · f32::MAX = finite_count · (2^24 - 1) · 2^253 units,
//! ```
//!
//! which a sum of `finite_count` finite `f32` cannot exceed (in particular a
//! nonzero sum with no finite value is rejected). The bound is kept by every
//! later step, by induction:
//!
//! - adding one finite `f32` adds at most `f32::MAX` to `|sum|` and one to
//!   `finite_count`;
//! - merging two states that satisfy it gives
//!   `|a + b| <= |a| + |b| <= (finite_a + finite_b) · f32::MAX`, and
//!   [`MeanState::merge`](crate::MeanState::merge) refuses (an error, the
//!   state unchanged) any merge whose counts would pass `u64::MAX`.
//!
//! So `finite_count < 2^64` always, `|sum| < 2^64 · 2^277 = 2^341`, and no
//! carry ever reaches the sign bit, whatever sequence of reads, updates and
//! merges made the state. The bound is necessary, not sufficient (a
//! `finite_count` of 1 with a sum that is no `f32` passes); such a state is
//! still a sum within the headroom, and its mean is still the correctly
//! rounded quotient of its fields.
//!
//! Limbs can only be set from outside through
//! [`MeanState::from_bytes`](crate::MeanState::from_bytes), which checks
//! them. A sum carried past the headroom by hand (say, merging an
//! [`ExactSum`] into itself hundreds of times) wraps modulo `2^384`: a wrong
//! value, never undefined behaviour or a panic; [`ExactSum::mean`] accepts
//! any limbs.
//!
//! The only rounding happens in [`ExactSum::mean`]: the quotient
//! `sum / count` is computed to at least 64 significant bits plus a sticky
//! bit (the remainder) and rounded once to the nearest `f64`, ties to even.
//! A mean of finite `f32` values lies in `[-2^128, 2^128]` and is a multiple
//! of `2^-149 / count >= 2^-213`, far inside the normal `f64` range, so the
//! result is never subnormal and never overflows.

/// Number of 64-bit limbs: 384 bits, see the bit budget in the module docs.
const LIMBS: usize = 6;

/// `f32::MAX = (2^24 - 1) · 2^104` in units of `2^-149`: the largest
/// significand times `2^(104 + 149)`.
const MAX_F32_SIGNIFICAND: u128 = (1 << 24) - 1;
const MAX_F32_SHIFT: u32 = (104 - UNIT_EXP) as u32;
const _: () = assert!(MAX_F32_SHIFT == 253);

/// Exponent of the unit in which [`ExactSum`] counts: `2^-149`, the smallest
/// `f32` subnormal.
const UNIT_EXP: i32 = -149;

/// The exact sum of finite `f32` values, as a 384-bit fixed-point integer in
/// units of `2^-149`.
///
/// # Example
///
/// ```
/// use mapmean::ExactSum;
///
/// let mut sum = ExactSum::default();
/// for x in [3e37_f32, 0.75, -3e37] {
///     sum.add_f32(x);
/// }
/// assert_eq!(sum.mean(3), 0.25);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ExactSum {
    /// Little-endian limbs of a two's complement integer.
    limbs: [u64; LIMBS],
}

impl std::fmt::Debug for ExactSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactSum(0x")?;
        for limb in self.limbs.iter().rev() {
            write!(f, "{limb:016x}")?;
        }
        write!(f, " × 2^-149)")
    }
}

impl ExactSum {
    /// The empty sum.
    pub const ZERO: ExactSum = ExactSum { limbs: [0; LIMBS] };

    /// Builds a sum from its little-endian two's complement limbs, in units of
    /// `2^-149` (the inverse of [`ExactSum::to_limbs`]).
    ///
    /// Crate-private: limbs from outside must pass
    /// [`ExactSum::is_within`] (see the module docs), which only
    /// [`MeanState::from_bytes`](crate::MeanState::from_bytes) knows how to
    /// check, since the bound depends on the state's finite count.
    pub(crate) fn from_limbs(limbs: [u64; LIMBS]) -> Self {
        ExactSum { limbs }
    }

    /// The little-endian two's complement limbs, in units of `2^-149`, as
    /// they appear in [`MeanState::to_bytes`](crate::MeanState::to_bytes)
    /// (see `docs/state-format.md`).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::ExactSum;
    /// let mut s = ExactSum::default();
    /// s.add_f32(-1.0); // -2^149 units: two's complement, all limbs above set
    /// assert_eq!(s.to_limbs(), [0, 0, u64::MAX - (1 << 21) + 1, u64::MAX, u64::MAX, u64::MAX]);
    /// ```
    pub fn to_limbs(&self) -> [u64; LIMBS] {
        self.limbs
    }

    /// Whether `|self| <= finite_count · f32::MAX`: whether some
    /// `finite_count` finite `f32` values could sum to this (the bound that
    /// keeps the headroom argument of the module docs true).
    pub(crate) fn is_within(&self, finite_count: u64) -> bool {
        let m = if self.is_negative() {
            negate(self.limbs)
        } else {
            self.limbs
        };
        // The bound is below 2^(88 + 253) = 2^341: bits from 341 up are zero.
        if m[5] >> (341 - 320) != 0 {
            return false;
        }
        // |self| <= n · S · 2^253  <=>  ceil(|self| / 2^253) <= n · S.
        let quotient = (m[3] >> 61) as u128 | (m[4] as u128) << 3 | (m[5] as u128) << 67;
        let below = m[0] | m[1] | m[2] | (m[3] & ((1 << 61) - 1)) != 0;
        quotient + below as u128 <= finite_count as u128 * MAX_F32_SIGNIFICAND
    }

    /// Whether the sum is below zero.
    pub fn is_negative(&self) -> bool {
        self.limbs[LIMBS - 1] >> 63 == 1
    }

    /// Whether the sum is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.limbs.iter().all(|&l| l == 0)
    }

    /// Adds `±magnitude · 2^shift` units. Requires `shift <= 64 * (LIMBS - 2)`
    /// so that the shifted magnitude fits in the limbs.
    #[inline]
    pub(crate) fn add_shifted(&mut self, magnitude: u64, shift: u32, negative: bool) {
        debug_assert!(shift as usize <= 64 * (LIMBS - 2));
        let word = (shift / 64) as usize;
        let wide = (magnitude as u128) << (shift % 64);
        let (lo, hi) = (wide as u64, (wide >> 64) as u64);
        if negative {
            let (r, b0) = self.limbs[word].overflowing_sub(lo);
            self.limbs[word] = r;
            let (r, b1) = self.limbs[word + 1].overflowing_sub(hi);
            let (r, b2) = r.overflowing_sub(b0 as u64);
            self.limbs[word + 1] = r;
            let mut borrow = b1 | b2;
            for limb in &mut self.limbs[word + 2..] {
                if !borrow {
                    break;
                }
                let (r, b) = limb.overflowing_sub(1);
                *limb = r;
                borrow = b;
            }
        } else {
            let (r, c0) = self.limbs[word].overflowing_add(lo);
            self.limbs[word] = r;
            let (r, c1) = self.limbs[word + 1].overflowing_add(hi);
            let (r, c2) = r.overflowing_add(c0 as u64);
            self.limbs[word + 1] = r;
            let mut carry = c1 | c2;
            for limb in &mut self.limbs[word + 2..] {
                if !carry {
                    break;
                }
                let (r, c) = limb.overflowing_add(1);
                *limb = r;
                carry = c;
            }
        }
    }

    /// Adds one finite `f32` exactly. NaN and infinities are not sums of
    /// units; the caller counts them separately (debug builds assert).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::ExactSum;
    /// let mut s = ExactSum::default();
    /// s.add_f32(f32::MAX);
    /// s.add_f32(-f32::MAX);
    /// s.add_f32(1e-45); // the smallest subnormal survives
    /// assert_eq!(s.mean(1), 1e-45_f32 as f64);
    /// ```
    #[inline]
    pub fn add_f32(&mut self, x: f32) {
        debug_assert!(x.is_finite());
        let bits = x.to_bits();
        let exp = (bits >> 23) & 0xff;
        let frac = bits & 0x7f_ffff;
        let significand = if exp == 0 { frac } else { frac | 0x80_0000 };
        self.add_shifted(significand as u64, exp.max(1) - 1, bits >> 31 == 1);
    }

    /// Adds the signed integer `value · 2^(max(biased_exp, 1) - 1)` units: the
    /// sum of significands of `f32` values that share the biased exponent
    /// `biased_exp` (`0..=254`).
    #[cfg(test)]
    pub(crate) fn add_binade(&mut self, value: i64, biased_exp: u32) {
        debug_assert!(biased_exp < 255);
        if value != 0 {
            self.add_shifted(value.unsigned_abs(), biased_exp.max(1) - 1, value < 0);
        }
    }

    /// Adds a finite `f64` that is an exact multiple of `2^-149` with
    /// magnitude below `2^300` — such as an exactly computed partial sum of
    /// `f32` values. Debug builds check both conditions.
    #[inline]
    pub(crate) fn add_f64(&mut self, x: f64) {
        if x == 0.0 {
            return;
        }
        debug_assert!(x.is_finite() && x.abs() < 2f64.powi(300));
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        debug_assert!(biased != 0, "f64 subnormals are not multiples of 2^-149");
        let significand = (bits & ((1 << 52) - 1)) | (1 << 52);
        // x = significand · 2^(biased - 1075) = significand · 2^shift units.
        let shift = biased - 1075 - UNIT_EXP;
        let negative = bits >> 63 == 1;
        if shift >= 0 {
            self.add_shifted(significand, shift as u32, negative);
        } else {
            debug_assert!(
                significand.trailing_zeros() as i32 >= -shift,
                "{x:e} is not a multiple of 2^-149"
            );
            self.add_shifted(significand >> -shift, 0, negative);
        }
    }

    /// Adds another sum exactly.
    ///
    /// Exact while the two sums together hold fewer than `2^64` values (the
    /// bit budget of the module docs); past that the integer wraps modulo
    /// `2^384` (a wrong value, never a panic). [`MeanState::merge`](crate::MeanState::merge)
    /// counts the values and refuses such merges.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::ExactSum;
    /// let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
    /// a.add_f32(1e30);
    /// b.add_f32(-1e30);
    /// b.add_f32(2.5);
    /// a.merge(&b);
    /// assert_eq!(a.mean(1), 2.5);
    /// ```
    pub fn merge(&mut self, other: &ExactSum) {
        let mut carry = false;
        for (a, &b) in self.limbs.iter_mut().zip(&other.limbs) {
            let (r, c1) = a.overflowing_add(b);
            let (r, c2) = r.overflowing_add(carry as u64);
            *a = r;
            carry = c1 | c2;
        }
    }

    /// The sum, correctly rounded to the nearest `f64` (ties to even; never
    /// `-0.0`). The sum of fewer than `2^64` finite `f32` values is a
    /// multiple of `2^-149` below `2^64 · 2^128` in magnitude, inside the
    /// normal range of `f64`: it never overflows and never rounds to a
    /// subnormal. (It is [`mean`](Self::mean) with a count of one, whose
    /// rounding argument does not depend on the magnitude.)
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::ExactSum;
    /// let mut s = ExactSum::default();
    /// for x in [1e30_f32, 1.0, -1e30] {
    ///     s.add_f32(x);
    /// }
    /// assert_eq!(s.to_f64(), 1.0);
    /// ```
    pub fn to_f64(&self) -> f64 {
        self.mean(1)
    }

    /// `sum / count`, correctly rounded to the nearest `f64` (ties to even).
    /// A zero `count` gives NaN, as `0.0 / 0.0` does.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::ExactSum;
    /// let mut s = ExactSum::default();
    /// for _ in 0..3 {
    ///     s.add_f32(1.0);
    /// }
    /// s.add_f32(0.0);
    /// assert_eq!(s.mean(3), 1.0);
    /// assert_eq!(s.mean(2), 1.5);
    /// ```
    pub fn mean(&self, count: u64) -> f64 {
        if count == 0 {
            return f64::NAN;
        }
        if self.is_zero() {
            return 0.0;
        }
        let negative = self.is_negative();
        let magnitude = if negative {
            negate(self.limbs)
        } else {
            self.limbs
        };
        // Dividend: magnitude · 2^128, so that the quotient of a magnitude of
        // at least one unit by a count below 2^64 has more than 64 bits.
        let mut dividend = [0u64; LIMBS + 2];
        dividend[2..].copy_from_slice(&magnitude);
        let mut quotient = [0u64; LIMBS + 2];
        let mut remainder: u128 = 0;
        // Long division from the highest nonzero word (above it the quotient
        // is zero); the remainder from the quotient, one division per word.
        let highest = dividend.iter().rposition(|&w| w != 0).unwrap_or(0);
        let divisor = u128::from(count);
        for i in (0..=highest).rev() {
            let current = (remainder << 64) | u128::from(dividend[i]);
            let q = current / divisor;
            quotient[i] = q as u64;
            remainder = current - q * divisor;
        }
        // quotient · 2^(-128 - 149) is the truncated mean; its top bit is at
        // `top >= 64`.
        let Some(top_word) = quotient.iter().rposition(|&w| w != 0) else {
            unreachable!("the quotient of a nonzero magnitude · 2^128 by a u64 is nonzero");
        };
        let top = top_word as u32 * 64 + 63 - quotient[top_word].leading_zeros();
        let low = top - 63; // the 64-bit window [low, top]
        let window = extract_u64(&quotient, low);
        let below_window =
            (0..low).any(|bit| (quotient[(bit / 64) as usize] >> (bit % 64)) & 1 == 1);
        let sticky = remainder != 0 || below_window;
        // Round the 64-bit window to 53 bits, ties to even.
        let mut significand = window >> 11;
        let dropped = window & 0x7ff;
        const HALF: u64 = 0x400;
        if dropped > HALF || (dropped == HALF && (sticky || significand & 1 == 1)) {
            significand += 1; // may become 2^53: still exact in an f64
        }
        let exponent = low as i32 + 11 - 128 + UNIT_EXP;
        let scale = f64::from_bits(((exponent + 1023) as u64) << 52);
        let magnitude = significand as f64 * scale; // exact: scaling by a power of two
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// Two's complement negation of a limb array.
fn negate(mut limbs: [u64; LIMBS]) -> [u64; LIMBS] {
    let mut carry = true;
    for limb in &mut limbs {
        let (r, c) = (!*limb).overflowing_add(carry as u64);
        *limb = r;
        carry = c;
    }
    limbs
}

/// The 64 bits of `words` starting at bit `low`.
fn extract_u64(words: &[u64], low: u32) -> u64 {
    let (word, bit) = ((low / 64) as usize, low % 64);
    let lo = words[word] >> bit;
    if bit == 0 {
        lo
    } else {
        let hi = words.get(word + 1).copied().unwrap_or(0);
        lo | (hi << (64 - bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f32]) -> ExactSum {
        let mut s = ExactSum::ZERO;
        for &v in values {
            s.add_f32(v);
        }
        s
    }

    #[test]
    fn cancellation_keeps_the_small_term() {
        let values: Vec<f32> = [3e37_f32, 0.75, -3e37].repeat(1000);
        assert_eq!(sum_of(&values).mean(values.len() as u64), 0.25);
    }

    #[test]
    fn extremes_of_the_f32_range_are_exact() {
        let s = sum_of(&[f32::MAX; 1000]);
        assert_eq!(s.mean(1000), f32::MAX as f64);
        let s = sum_of(&[-f32::MAX; 1000]);
        assert_eq!(s.mean(1000), -(f32::MAX as f64));
        let tiny = f32::from_bits(1);
        assert_eq!(sum_of(&[tiny]).mean(1), tiny as f64);
        assert_eq!(sum_of(&[tiny, tiny, tiny]).mean(2), 1.5 * tiny as f64);
    }

    #[test]
    fn division_rounds_to_nearest_even() {
        // 1/3 is not a tie; compare with the f64 division of exact operands.
        assert_eq!(sum_of(&[1.0]).mean(3), 1.0 / 3.0);
        assert_eq!(sum_of(&[2.0]).mean(7), 2.0 / 7.0);
        // Sum = 2^53 + 1 units of 1 over count 1: a tie between 2^53 and
        // 2^53 + 2; nearest even is 2^53.
        let mut s = ExactSum::ZERO;
        s.add_f64(2f64.powi(53));
        s.add_f32(1.0);
        assert_eq!(s.mean(1), 2f64.powi(53));
        // 2^53 + 3 ties between 2^53 + 2 and 2^53 + 4: even significand is + 4.
        s.add_f32(2.0);
        assert_eq!(s.mean(1), 2f64.powi(53) + 4.0);
        // Just above the tie rounds up: (2^54 + 2 + 1/2^20) / 2.
        let mut s = ExactSum::ZERO;
        s.add_f64(2f64.powi(54));
        s.add_f32(2.0);
        s.add_f32(2f32.powi(-20));
        assert_eq!(s.mean(2), 2f64.powi(53) + 2.0);
        s.add_f32(-2f32.powi(-20));
        s.add_f32(-2.0);
        s.add_f32(1.0);
        assert_eq!(s.mean(1), 2f64.powi(54)); // 2^54 + 1: tie to even
    }

    #[test]
    fn merge_equals_sequential_sum() {
        let values: Vec<f32> = (0..1000)
            .map(|i| (i as f32 * 1.37).sin() * 10f32.powi(i % 70 - 35))
            .collect();
        let whole = sum_of(&values);
        let mut merged = sum_of(&values[..333]);
        merged.merge(&sum_of(&values[333..]));
        assert_eq!(whole, merged);
    }

    #[test]
    fn negative_sums_round_symmetrically() {
        assert_eq!(sum_of(&[-1.0]).mean(3), -(1.0 / 3.0));
        assert_eq!(sum_of(&[-0.0, -0.0]).mean(2), 0.0);
    }

    #[test]
    fn zero_count_is_nan() {
        assert!(ExactSum::ZERO.mean(0).is_nan());
    }

    #[test]
    fn the_headroom_bound_is_n_times_f32_max_exactly() {
        let n = 1000;
        let at_max = sum_of(&vec![f32::MAX; n as usize]);
        assert!(at_max.is_within(n));
        assert!(!at_max.is_within(n - 1));
        let mut above = at_max;
        above.add_f32(f32::from_bits(1)); // one unit more
        assert!(!above.is_within(n));
        assert!(above.is_within(n + 1));
        let below = sum_of(&vec![-f32::MAX; n as usize]);
        assert!(below.is_within(n) && !below.is_within(n - 1));
        assert!(ExactSum::ZERO.is_within(0));
        assert!(!sum_of(&[1e-45]).is_within(0));
        let mut most_negative = [0; LIMBS];
        most_negative[LIMBS - 1] = 1 << 63;
        assert!(!ExactSum::from_limbs(most_negative).is_within(u64::MAX));
        assert!(!ExactSum::from_limbs([u64::MAX >> 1; LIMBS]).is_within(u64::MAX));
    }

    #[test]
    fn the_largest_possible_sum_is_within_the_bound_for_u64_max_values() {
        // u64::MAX · f32::MAX units, built as (2^64 - 1) · S · 2^253.
        let product = u64::MAX as u128 * MAX_F32_SIGNIFICAND; // < 2^88
        let limbs = [
            0,
            0,
            0,
            (product as u64) << (MAX_F32_SHIFT - 192),
            (product >> (256 - MAX_F32_SHIFT)) as u64,
            (product >> (320 - MAX_F32_SHIFT)) as u64,
        ];
        let s = ExactSum::from_limbs(limbs);
        assert!(!s.is_negative());
        assert!(s.is_within(u64::MAX));
        assert!(!s.is_within(u64::MAX - 1));
        assert_eq!(s.mean(u64::MAX), f32::MAX as f64);
        let negative = ExactSum::from_limbs(negate(limbs));
        assert!(negative.is_within(u64::MAX));
        assert_eq!(negative.mean(u64::MAX), -(f32::MAX as f64));
    }

    #[test]
    fn mean_accepts_any_limbs_without_panicking() {
        for limbs in [
            [u64::MAX; LIMBS],
            [0, 0, 0, 0, 0, 1 << 63],
            [1, 0, 0, 0, 0, u64::MAX >> 1],
        ] {
            for count in [1, 3, u64::MAX] {
                let mean = ExactSum::from_limbs(limbs).mean(count);
                assert!(mean.is_finite());
            }
        }
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let mut s = ExactSum::ZERO;
        // 2^39 copies of f32::MAX, added as binade sums of 2^24 significands.
        for _ in 0..(1u64 << 39) / (1 << 24) {
            s.add_binade(((1i64 << 24) - 1) << 24, 254);
        }
        assert!(!s.is_negative());
        let m = s.mean(1u64 << 39);
        assert_eq!(m, f32::MAX as f64);
    }
}
