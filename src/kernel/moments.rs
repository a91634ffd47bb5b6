//! [`MomentsState`]: the counts, the exact sum and the exact sum of squares of
//! Float32 data, in one pass, mergeable exactly; and from it the correctly
//! rounded sum, mean, variance and standard deviation.
//!
//! # One rounding
//!
//! With `n` finite values, `Σx = S · 2^-149` ([`ExactSum`], `S` a signed
//! integer) and `Σx² = Q · 2^-298` ([`ExactSquareSum`], `Q >= 0`), the
//! variance with `ddof` delta degrees of freedom is
//!
//! ```text
//! var = (n·Σx² - (Σx)²) / (n·(n - ddof)) = (n·Q - S²) / (n·(n - ddof)) · 2^-298,
//! ```
//!
//! a quotient of integers that are computed exactly (`n·Q - S² >= 0` by
//! Cauchy–Schwarz; it is zero exactly when all values are equal). It is
//! rounded once to the nearest `f64` (see [`rounding`](super::rounding)).
//! The standard deviation is the correctly rounded square root of that
//! exact rational, not the square root of the rounded variance.
//!
//! The results are normal `f64`s: a nonzero variance is at least
//! `2^-298 / (n·(n - ddof)) > 2^-298 · 2^-160` (with `n < 2^64` and
//! `|ddof| < 2^31`) and at most `n · (2^128)^2 < 2^320`; a nonzero sum is
//! a multiple of `2^-149` below `2^64 · 2^128`.

use arrow_array::Float32Array;
use num_bigint::{BigInt, BigUint};

use super::square_sum::{ExactSquareSum, SquareBins, SQUARE_LIMBS, SQUARE_UNIT_EXP};
use super::{rounding, validity_of, ExactSum, MeanOptions, MeanState, Validity};
use crate::error::{Error, Result};

/// Options that decide how a [`MomentsState`] becomes a variance or a
/// standard deviation, as in `pyarrow.compute.variance` and
/// `pyarrow.compute.stddev`.
///
/// # Example
///
/// ```
/// use mapmean::VarianceOptions;
/// let sample = VarianceOptions { ddof: 1, ..VarianceOptions::default() };
/// assert_eq!((sample.skip_nulls, sample.min_count), (true, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VarianceOptions {
    /// Delta degrees of freedom: the divisor is `count - ddof` (0, the
    /// default, gives the population variance; 1 the sample variance). The
    /// result is null when `count <= ddof`.
    pub ddof: i32,
    /// Ignore nulls (`true`) or give a null result when any value is null
    /// (`false`). `Default` gives `false`; use [`VarianceOptions::new`] or
    /// struct update syntax from it for pyarrow's default of `true`.
    pub skip_nulls: bool,
    /// Give a null result when fewer than this many values are valid
    /// (pyarrow's default: 0).
    pub min_count: u64,
}

impl VarianceOptions {
    /// pyarrow's defaults (`skip_nulls = true`, `min_count = 0`) with the
    /// given `ddof`.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::VarianceOptions;
    /// assert!(VarianceOptions::new(1).skip_nulls);
    /// ```
    pub fn new(ddof: i32) -> Self {
        VarianceOptions {
            ddof,
            skip_nulls: true,
            min_count: 0,
        }
    }
}

/// The mergeable state of the first two moments: the counts and exact sum of
/// a [`MeanState`], plus the exact sum of squares of the valid finite values.
///
/// Every field is an exact integer, so states computed over any split of the
/// data merge into bitwise the same state as one pass over all of it.
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::{MomentsState, VarianceOptions};
///
/// // A large offset: a float32 or float64 running sum would lose the spread.
/// let values = Float32Array::from(vec![Some(3e7 + 1.0), Some(3e7 + 3.0), None]);
/// let mut state = MomentsState::default();
/// state.update(&values);
/// assert_eq!(state.variance(), Some(1.0));
/// assert_eq!(state.stddev_with(&VarianceOptions::new(1)), Some(2f64.sqrt()));
/// assert_eq!(state.sum(), Some(6e7 + 4.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MomentsState {
    /// Counts and the exact sum `Σx` of the valid finite values.
    pub mean: MeanState,
    /// Exact sum `Σx²` of the valid finite values.
    pub squares: ExactSquareSum,
}

/// Values per step of [`MomentsState::update_values`]: one block of the mean
/// kernel, so the squares are taken while it is in L1.
const STEP: usize = super::blocks::BLOCK;

/// `b"MMMO"`: the first bytes of [`MomentsState::to_bytes`].
const MAGIC: [u8; 4] = *b"MMMO";
/// The byte form's version; a new layout gets a new number.
const VERSION: u32 = 1;
/// Size of the byte form: magic, version, five counts, 6 + 10 limbs.
const BYTES: usize = 4 + 4 + 5 * 8 + (6 + SQUARE_LIMBS) * 8;

impl MomentsState {
    /// Adds every value of `array` (at any offset, with or without a validity
    /// bitmap). Values under null slots are never read into the result.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![Some(2.0), None, Some(4.0)]));
    /// assert_eq!(state.variance(), Some(1.0));
    /// ```
    pub fn update(&mut self, array: &Float32Array) {
        self.update_values(array.values(), validity_of(array));
    }

    /// Adds `values`, where `validity` (if any) covers exactly these values:
    /// one pass, block by block, the mean kernel's sum and the squares of
    /// the same block while it is in cache.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{kernel::Validity, MomentsState};
    /// let mut state = MomentsState::default();
    /// let validity = Validity { bits: &[0b110], offset: 0 };
    /// state.update_values(&[1e30, 1.0, 3.0], Some(validity));
    /// assert_eq!(state.variance(), Some(1.0));
    /// ```
    pub fn update_values(&mut self, values: &[f32], validity: Option<Validity<'_>>) {
        let mut bins = SquareBins::new();
        for (i, step) in values.chunks(STEP).enumerate() {
            let validity = validity.map(|v| v.shifted(i * STEP));
            let before = self.mean.count;
            self.mean.update_values(step, validity);
            if self.mean.count != before {
                bins.add(step, validity, &mut self.squares);
            }
        }
        bins.flush(&mut self.squares);
    }

    /// Merges the state of another part of the data into this one, exactly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if a count would exceed `u64::MAX` (states
    /// of more than 2^64 values); `self` is then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let (mut a, mut b) = (MomentsState::default(), MomentsState::default());
    /// a.update(&Float32Array::from(vec![1.0, 2.0]));
    /// b.update(&Float32Array::from(vec![3.0]));
    /// a.merge(&b)?;
    /// assert_eq!(a.variance(), Some(2.0 / 3.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn merge(&mut self, other: &MomentsState) -> Result<()> {
        let (a, b) = (&self.mean, &other.mean);
        let add = |x: u64, y: u64| {
            x.checked_add(y).ok_or_else(|| {
                Error::InvalidArgument("merged states would count more than 2^64 values".into())
            })
        };
        let mean = MeanState {
            count: add(a.count, b.count)?,
            null_count: add(a.null_count, b.null_count)?,
            nan_count: add(a.nan_count, b.nan_count)?,
            pos_inf_count: add(a.pos_inf_count, b.pos_inf_count)?,
            neg_inf_count: add(a.neg_inf_count, b.neg_inf_count)?,
            sum: {
                let mut sum = a.sum;
                sum.merge(&b.sum);
                sum
            },
        };
        self.mean = mean;
        self.squares.merge(&other.squares);
        Ok(())
    }

    /// The sum under pyarrow's defaults (skip nulls, `min_count = 1`).
    pub fn sum(&self) -> Option<f64> {
        self.sum_with(&MeanOptions::default())
    }

    /// The sum under `options`, following `pyarrow.compute.sum`:
    ///
    /// - `None` (null) if `skip_nulls` is false and any value is null, or if
    ///   fewer than `min_count` values are valid;
    /// - NaN if a valid value is NaN, or if both `+inf` and `-inf` occur;
    /// - `±inf` if only infinities of one sign occur;
    /// - otherwise the exact sum of the valid values correctly rounded to
    ///   `f64` (`0.0` for no values with `min_count = 0`; never `-0.0`).
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::{MeanOptions, MomentsState};
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![3e37, 0.75, -3e37]));
    /// assert_eq!(state.sum(), Some(0.75));
    /// let strict = MeanOptions { skip_nulls: true, min_count: 4 };
    /// assert_eq!(state.sum_with(&strict), None);
    /// ```
    pub fn sum_with(&self, options: &MeanOptions) -> Option<f64> {
        let m = &self.mean;
        if (!options.skip_nulls && m.null_count > 0) || m.count < options.min_count {
            return None;
        }
        Some(special_sum(m).unwrap_or_else(|| m.sum.to_f64()))
    }

    /// The mean under `options`, as [`MeanState::finish_with`].
    pub fn mean_with(&self, options: &MeanOptions) -> Option<f64> {
        self.mean.finish_with(options)
    }

    /// The population variance under pyarrow's defaults (`ddof = 0`, skip
    /// nulls, `min_count = 0`).
    pub fn variance(&self) -> Option<f64> {
        self.variance_with(&VarianceOptions::new(0))
    }

    /// The variance under `options`, following `pyarrow.compute.variance`:
    ///
    /// - `None` (null) if `skip_nulls` is false and any value is null, if
    ///   fewer than `min_count` values are valid, or if `count <= ddof`;
    /// - NaN if a valid value is NaN or infinite;
    /// - otherwise `(n·Σx² - (Σx)²) / (n·(n - ddof))`, computed exactly and
    ///   correctly rounded to `f64` once (exactly `0.0` for constant data).
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::{MomentsState, VarianceOptions};
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![0.1_f32; 1000]));
    /// assert_eq!(state.variance(), Some(0.0));
    /// assert_eq!(state.variance_with(&VarianceOptions::new(1000)), None);
    /// ```
    pub fn variance_with(&self, options: &VarianceOptions) -> Option<f64> {
        self.exact_variance(options).map(|v| match v {
            Exact::Special(x) => x,
            Exact::Ratio { num, den } => rounding::quotient(&num, &den, SQUARE_UNIT_EXP as i64),
        })
    }

    /// The population standard deviation under pyarrow's defaults.
    pub fn stddev(&self) -> Option<f64> {
        self.stddev_with(&VarianceOptions::new(0))
    }

    /// The standard deviation under `options`, following
    /// `pyarrow.compute.stddev` (nulls and NaN as in
    /// [`variance_with`](Self::variance_with)): the correctly rounded square
    /// root of the *exact* variance — one rounding, not two.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![1.0, 2.0]));
    /// assert_eq!(state.stddev(), Some(0.5));
    /// ```
    pub fn stddev_with(&self, options: &VarianceOptions) -> Option<f64> {
        self.exact_variance(options).map(|v| match v {
            Exact::Special(x) => x,
            Exact::Ratio { num, den } => {
                rounding::sqrt_quotient(&num, &den, SQUARE_UNIT_EXP as i64)
            }
        })
    }

    /// The exact variance (before rounding), or the special value or null
    /// that pyarrow's rules give.
    fn exact_variance(&self, options: &VarianceOptions) -> Option<Exact> {
        let m = &self.mean;
        if (!options.skip_nulls && m.null_count > 0)
            || m.count < options.min_count
            || i128::from(m.count) <= i128::from(options.ddof)
        {
            return None;
        }
        if m.nan_count > 0 || m.pos_inf_count > 0 || m.neg_inf_count > 0 {
            return Some(Exact::Special(f64::NAN));
        }
        let n = BigInt::from(m.count);
        let s = signed_sum(&m.sum);
        let q = BigInt::from(unsigned_squares(&self.squares));
        let num = &n * q - &s * &s;
        // n·Q - S² >= 0 (Cauchy–Schwarz) for every state built from data, and
        // `from_bytes` rejects states that break it.
        let num = num.to_biguint().unwrap_or_default();
        let den = (&n * (n.clone() - BigInt::from(options.ddof))).to_biguint()?;
        Some(Exact::Ratio { num, den })
    }

    /// The state as 176 bytes: the magic `b"MMMO"`, the version (`u32`, 1),
    /// then `count`, `null_count`, `nan_count`, `pos_inf_count`,
    /// `neg_inf_count` (`u64` each), the 6 limbs of the sum and the 10 limbs
    /// of the sum of squares, all little endian. Stable across versions of
    /// mapmean: states can be stored and merged later or elsewhere.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![1.0, f32::NAN]));
    /// let bytes = state.to_bytes();
    /// assert_eq!(MomentsState::from_bytes(&bytes)?, state);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn to_bytes(&self) -> [u8; BYTES] {
        let m = &self.mean;
        let mut out = [0u8; BYTES];
        let words = [
            m.count,
            m.null_count,
            m.nan_count,
            m.pos_inf_count,
            m.neg_inf_count,
        ]
        .into_iter()
        .chain(m.sum.to_limbs())
        .chain(self.squares.to_limbs());
        out[..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&VERSION.to_le_bytes());
        for (slot, word) in out[8..].chunks_exact_mut(8).zip(words) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The state of [`to_bytes`](Self::to_bytes), validated: the counts must
    /// be consistent, and the sums must be ones that finite `f32` data can
    /// produce: `Σx² <= finite_count · f32::MAX²` and
    /// `(Σx)² <= finite_count · Σx²` (Cauchy–Schwarz).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `bytes` has the wrong length, magic or
    /// version, or breaks one of the rules above.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let mut bytes = MomentsState::default().to_bytes();
    /// assert!(MomentsState::from_bytes(&bytes).is_ok());
    /// bytes[8] = 1; // count 1 with a NaN count of 0, but no sum of squares: fine
    /// assert!(MomentsState::from_bytes(&bytes).is_ok());
    /// bytes[24] = 2; // 2 NaNs among 1 value
    /// assert!(MomentsState::from_bytes(&bytes).is_err());
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<MomentsState> {
        let invalid = |why: &str| Error::InvalidArgument(format!("not a moments state: {why}"));
        if bytes.len() != BYTES {
            return Err(invalid(&format!("{} bytes, expected {BYTES}", bytes.len())));
        }
        if bytes[..4] != MAGIC {
            return Err(invalid("wrong magic bytes"));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if version != VERSION {
            return Err(invalid(&format!(
                "version {version}, this mapmean reads version {VERSION}"
            )));
        }
        let words: Vec<u64> = bytes[8..]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
            .collect();
        let mut sum = [0u64; 6];
        sum.copy_from_slice(&words[5..11]);
        let mut squares = [0u64; SQUARE_LIMBS];
        squares.copy_from_slice(&words[11..]);
        let state = MomentsState {
            mean: MeanState {
                count: words[0],
                null_count: words[1],
                nan_count: words[2],
                pos_inf_count: words[3],
                neg_inf_count: words[4],
                sum: ExactSum::from_limbs(sum),
            },
            squares: ExactSquareSum::from_limbs(squares),
        };
        let m = &state.mean;
        let specials = m
            .nan_count
            .checked_add(m.pos_inf_count)
            .and_then(|s| s.checked_add(m.neg_inf_count));
        if specials.is_none_or(|s| s > m.count) {
            return Err(invalid("more NaN and infinite values than values"));
        }
        let finite = BigUint::from(m.finite_count());
        let q = unsigned_squares(&state.squares);
        let max_square = BigUint::from((1u64 << 24) - 1).pow(2) << 506u32;
        if q > &finite * max_square {
            return Err(invalid("sum of squares above count · f32::MAX²"));
        }
        let s = signed_sum(&m.sum).magnitude().clone();
        if &s * &s > finite * q {
            return Err(invalid("sum and sum of squares break Cauchy–Schwarz"));
        }
        Ok(state)
    }
}

/// The exact variance, or a value that pyarrow's rules give instead.
enum Exact {
    /// NaN.
    Special(f64),
    /// `num / den · 2^-298`.
    Ratio { num: BigUint, den: BigUint },
}

/// NaN or `±inf` when the special values decide a sum, as in pyarrow.
fn special_sum(m: &MeanState) -> Option<f64> {
    if m.nan_count > 0 || (m.pos_inf_count > 0 && m.neg_inf_count > 0) {
        Some(f64::NAN)
    } else if m.pos_inf_count > 0 {
        Some(f64::INFINITY)
    } else if m.neg_inf_count > 0 {
        Some(f64::NEG_INFINITY)
    } else {
        None
    }
}

/// The sum as a signed integer in units of `2^-149`.
fn signed_sum(sum: &ExactSum) -> BigInt {
    let bytes: Vec<u8> = sum
        .to_limbs()
        .iter()
        .flat_map(|l| l.to_le_bytes())
        .collect();
    BigInt::from_signed_bytes_le(&bytes)
}

/// The sum of squares as an integer in units of `2^-298`.
fn unsigned_squares(squares: &ExactSquareSum) -> BigUint {
    let bytes: Vec<u8> = squares
        .to_limbs()
        .iter()
        .flat_map(|l| l.to_le_bytes())
        .collect();
    BigUint::from_bytes_le(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_traits::{Signed, Zero};
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn state_of(values: &[f32]) -> MomentsState {
        let mut state = MomentsState::default();
        state.update(&Float32Array::from(values.to_vec()));
        state
    }

    /// `x = m · 2^e` exactly, as integers.
    fn dyadic(x: f64) -> (BigInt, i64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let frac = (bits & ((1 << 52) - 1)) as i64;
        let (m, e) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), biased - 1075)
        };
        let m = BigInt::from(m);
        (if x < 0.0 { -m } else { m }, e)
    }

    /// Compares `num / den · 2^exp` (den > 0) with `m · 2^e`.
    fn compare(num: &BigInt, den: &BigInt, exp: i64, m: &BigInt, e: i64) -> Ordering {
        let low = exp.min(e);
        let left = num << (exp - low) as u64;
        let right = m * den << (e - low) as u64;
        left.cmp(&right)
    }

    /// The exact midpoint of two f64s, as `m · 2^e`.
    fn midpoint(a: f64, b: f64) -> (BigInt, i64) {
        let ((ma, ea), (mb, eb)) = (dyadic(a), dyadic(b));
        let low = ea.min(eb);
        (
            (ma << (ea - low) as u64) + (mb << (eb - low) as u64),
            low - 1,
        )
    }

    /// Whether `r` is the f64 nearest to `value(m, e)` for a monotone map
    /// `value` (the exact rational, or its square for square roots), ties to
    /// even: `cmp_at(m, e)` compares the exact result with `m · 2^e`.
    fn is_nearest(r: f64, cmp_at: impl Fn(&BigInt, i64) -> Ordering) -> bool {
        let (below, above) = (midpoint(r.next_down(), r), midpoint(r, r.next_up()));
        let (lo, hi) = (cmp_at(&below.0, below.1), cmp_at(&above.0, above.1));
        let even = dyadic(r).0.is_zero() || (r.to_bits() & 1) == 0;
        let inside_lo = lo == Ordering::Greater || (lo == Ordering::Equal && even);
        let inside_hi = hi == Ordering::Less || (hi == Ordering::Equal && even);
        inside_lo && inside_hi
    }

    /// `x` as an integer number of units 2^-149 (exact for every finite f32).
    fn units(x: f32) -> BigInt {
        let (m, e) = dyadic(x as f64);
        let shift = e + 149;
        if shift >= 0 {
            m << shift as u64
        } else {
            m >> (-shift) as u64
        }
    }

    /// The variance from its definition, `Σ(x - μ)² / (n - ddof)`, with
    /// every value an integer `X` of units 2^-149:
    /// `Σ(n·X - ΣX)² / (n²·(n - ddof)) · 2^-298`.
    fn oracle_variance(values: &[f32], ddof: i32) -> (BigInt, BigInt) {
        let units: Vec<BigInt> = values.iter().map(|&x| units(x)).collect();
        let n = BigInt::from(values.len());
        let total: BigInt = units.iter().sum();
        let num: BigInt = units.iter().map(|x| (&n * x - &total).pow(2)).sum();
        (num, &n * &n * (&n - BigInt::from(ddof)))
    }

    fn assert_correct(values: &[f32], ddof: i32) {
        let state = state_of(values);
        let options = VarianceOptions::new(ddof);
        let (num, den) = oracle_variance(values, ddof);
        let var = state.variance_with(&options).unwrap();
        assert!(
            is_nearest(var, |m, e| compare(&num, &den, -298, m, e)),
            "variance {var:e} of {values:?} is not correctly rounded"
        );
        // The check can fail: the neighbour of a nonzero result is rejected.
        assert!(var == 0.0 || !is_nearest(var.next_up(), |m, e| compare(&num, &den, -298, m, e)));
        let sd = state.stddev_with(&options).unwrap();
        let squared = |m: &BigInt, e: i64| compare(&num, &den, -298, &(m * m), 2 * e);
        assert!(
            is_nearest(sd, |m, e| if m.is_negative() {
                Ordering::Greater
            } else {
                squared(m, e)
            }),
            "stddev {sd:e} of {values:?} is not correctly rounded"
        );
        let sum = state.sum().unwrap();
        let total: BigInt = values.iter().map(|&x| units(x)).sum();
        assert!(
            is_nearest(sum, |m, e| compare(&total, &BigInt::from(1), -149, m, e)),
            "sum {sum:e} of {values:?} is not correctly rounded"
        );
    }

    #[test]
    fn constant_data_has_exactly_zero_variance() {
        for x in [0.1_f32, 3e7, -1e-40, f32::MAX] {
            let state = state_of(&vec![x; 5000]);
            assert_eq!(state.variance(), Some(0.0));
            assert_eq!(state.stddev_with(&VarianceOptions::new(1)), Some(0.0));
        }
    }

    #[test]
    fn large_offsets_keep_the_spread() {
        let values: Vec<f32> = (0..10_000)
            .map(|i| 1e4 + ((i as f32) * 0.7).sin())
            .collect();
        assert_correct(&values, 0);
        assert_correct(&values, 1);
        let values: Vec<f32> = (0..4000).map(|i| 3e7 + (i % 7) as f32 * 2.0).collect();
        assert_correct(&values, 1);
    }

    #[test]
    fn extremes_and_cancelling_magnitudes_are_correctly_rounded() {
        assert_correct(&[f32::MAX, -f32::MAX, f32::MAX], 0);
        assert_correct(&[f32::MAX, f32::MAX, f32::MAX.next_down()], 1);
        assert_correct(&[3e37, 0.75, -3e37, 1e-45], 0);
        assert_correct(&[f32::from_bits(1), f32::from_bits(2), 0.0], 1);
        let decades: Vec<f32> = (-30..30).map(|k| 10f32.powi(k)).collect();
        assert_correct(&decades, 0);
        assert_correct(&[1.0, 2.0], 1);
    }

    #[test]
    fn pyarrow_rules_for_nulls_nan_infinities_and_ddof() {
        let nan = f32::NAN;
        assert!(state_of(&[1.0, f32::INFINITY]).variance().unwrap().is_nan());
        assert_eq!(state_of(&[1.0, f32::INFINITY]).sum(), Some(f64::INFINITY));
        assert!(state_of(&[f32::INFINITY, f32::NEG_INFINITY])
            .sum()
            .unwrap()
            .is_nan());
        assert!(state_of(&[1.0, nan]).stddev().unwrap().is_nan());
        // count <= ddof is null, NaN included in the count.
        assert_eq!(
            state_of(&[nan]).variance_with(&VarianceOptions::new(1)),
            None
        );
        assert_eq!(state_of(&[]).variance(), None);
        assert_eq!(state_of(&[1.0]).variance(), Some(0.0));
        assert_eq!(
            state_of(&[1.0]).variance_with(&VarianceOptions::new(1)),
            None
        );
        assert_eq!(
            state_of(&[1.0, 2.0]).variance_with(&VarianceOptions::new(-1)),
            Some(1.0 / 6.0)
        );
        let mut state = MomentsState::default();
        state.update(&Float32Array::from(vec![Some(1.0), None, Some(3.0)]));
        assert_eq!(state.variance(), Some(1.0));
        let strict = VarianceOptions {
            skip_nulls: false,
            ..VarianceOptions::new(0)
        };
        assert_eq!(state.variance_with(&strict), None);
        let at_least_3 = VarianceOptions {
            min_count: 3,
            ..VarianceOptions::new(0)
        };
        assert_eq!(state.variance_with(&at_least_3), None);
        assert_eq!(
            state.sum_with(&MeanOptions {
                skip_nulls: false,
                min_count: 0
            }),
            None
        );
        assert_eq!(state_of(&[]).sum(), None);
        assert_eq!(
            state_of(&[]).sum_with(&MeanOptions {
                skip_nulls: true,
                min_count: 0
            }),
            Some(0.0)
        );
        assert_eq!(state_of(&[-0.0, -0.0]).sum().map(f64::to_bits), Some(0));
    }

    #[test]
    fn splits_and_merges_give_bitwise_the_same_state() {
        let values: Vec<f32> = (0..20_000)
            .map(|i| ((i as f32) * 0.618).sin() * 10f32.powi((i % 60) - 30))
            .collect();
        let whole = state_of(&values);
        for split in [1, 2047, 2048, 9999] {
            let mut merged = state_of(&values[..split]);
            merged.merge(&state_of(&values[split..])).unwrap();
            assert_eq!(merged, whole);
        }
    }

    #[test]
    fn merging_past_u64_counts_is_an_error() {
        let mut big = MomentsState::default();
        big.mean.null_count = u64::MAX;
        let mut one = MomentsState::default();
        one.update(&Float32Array::from(vec![None::<f32>]));
        let before = big;
        assert!(big.merge(&one).is_err());
        assert_eq!(big, before);
    }

    #[test]
    fn byte_form_round_trips_and_rejects_impossible_states() {
        let state = state_of(&[1.5, -2.0, f32::NAN, 3e38, 1e-42]);
        let bytes = state.to_bytes();
        assert_eq!(MomentsState::from_bytes(&bytes).unwrap(), state);
        assert!(MomentsState::from_bytes(&bytes[1..]).is_err());
        let mut wrong = bytes;
        wrong[0] = b'X';
        assert!(MomentsState::from_bytes(&wrong).is_err());
        let mut wrong = bytes;
        wrong[4] = 2;
        assert!(MomentsState::from_bytes(&wrong).is_err());
        // A sum without the squares to match breaks Cauchy–Schwarz.
        let mut wrong = state;
        wrong.squares = ExactSquareSum::ZERO;
        assert!(MomentsState::from_bytes(&wrong.to_bytes()).is_err());
        // Squares too large for the count.
        let mut wrong = state;
        wrong.squares = ExactSquareSum::from_limbs([u64::MAX; SQUARE_LIMBS]);
        assert!(MomentsState::from_bytes(&wrong.to_bytes()).is_err());
    }

    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>()
                .prop_map(f32::from_bits)
                .prop_filter("finite", |x| x.is_finite()),
            (0u32..1 << 23).prop_map(f32::from_bits),
            (-1e3f32..1e3),
            (0x7f00_0000u32..0x7f80_0000).prop_map(f32::from_bits),
            (1e4f32..1e4 + 8.0),
        ]
    }

    proptest! {
        #[test]
        fn variance_stddev_and_sum_are_correctly_rounded(
            values in proptest::collection::vec(any_f32(), 1..300),
            ddof in -2i32..2,
        ) {
            prop_assume!(values.len() as i64 > ddof as i64);
            assert_correct(&values, ddof);
        }

        #[test]
        fn narrow_data_is_correctly_rounded(
            values in proptest::collection::vec(1e4f32..1e4 + 1.0, 2..5000),
        ) {
            assert_correct(&values, 1);
        }
    }
}
