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

use super::square_sum::{ExactSquareSum, SquareBlocks, SQUARE_LIMBS, SQUARE_UNIT_EXP};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarianceOptions {
    /// Delta degrees of freedom: the divisor is `count - ddof` (0, the
    /// default, gives the population variance; 1 the sample variance). The
    /// result is null when `count <= ddof`.
    pub ddof: i32,
    /// Ignore nulls (`true`, pyarrow's default) or give a null result when
    /// any value is null (`false`).
    pub skip_nulls: bool,
    /// Give a null result when fewer than this many values are valid
    /// (pyarrow's default: 0).
    pub min_count: u64,
}

impl Default for VarianceOptions {
    /// pyarrow's defaults: `ddof = 0`, `skip_nulls = true`, `min_count = 0`.
    fn default() -> Self {
        VarianceOptions::new(0)
    }
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
/// [`MomentsState::to_bytes`] and [`MomentsState::from_bytes`] carry a state
/// between processes, machines and languages in one fixed, versioned form
/// (`docs/state-format.md`).
///
/// # Invariants
///
/// As [`MeanState`]'s, plus: `Σx² <= finite_count · f32::MAX²` and
/// `(Σx)² <= finite_count · Σx²` (Cauchy–Schwarz). States made by
/// [`update`](MomentsState::update), [`merge`](MomentsState::merge) and
/// [`from_bytes`](MomentsState::from_bytes) always pass
/// [`validate`](MomentsState::validate); a state whose fields were set by
/// hand is checked by it.
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::{MomentsState, VarianceOptions};
///
/// // A large offset: a float32 or float64 running sum would lose the spread.
/// let values = Float32Array::from(vec![Some(3e7 + 2.0), Some(3e7 + 4.0), None]);
/// let mut state = MomentsState::default();
/// state.update(&values)?;
/// assert_eq!(state.variance(), Some(1.0));
/// assert_eq!(state.stddev_with(&VarianceOptions::new(1)), Some(2f64.sqrt()));
/// assert_eq!(state.sum(), Some(6e7 + 6.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MomentsState {
    /// Counts and the exact sum `Σx` of the valid finite values.
    pub mean: MeanState,
    /// Exact sum `Σx²` of the valid finite values.
    pub squares: ExactSquareSum,
}

/// Offset of the limbs of the sum of squares in the byte form: after the
/// header, the five counts and the six limbs of the sum, laid out as in
/// [`MeanState::to_bytes`].
const SQUARES_AT: usize = MeanState::BYTES;
const _: () = assert!(SQUARES_AT + SQUARE_LIMBS * 8 == MomentsState::BYTES);

impl MomentsState {
    /// Length of [`MomentsState::to_bytes`]: 176 bytes in every version-1
    /// state.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let bytes = MomentsState::default().to_bytes();
    /// assert_eq!(bytes.len(), MomentsState::BYTES);
    /// assert_eq!(bytes[..4], MomentsState::MAGIC);
    /// ```
    pub const BYTES: usize = 176;

    /// The four bytes every moments state starts with, ASCII `MMmo` (see
    /// [`MomentsState::BYTES`] for an example).
    pub const MAGIC: [u8; 4] = *b"MMmo";

    /// The format version that [`MomentsState::to_bytes`] writes and the
    /// only one [`MomentsState::from_bytes`] reads.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let bytes = MomentsState::default().to_bytes();
    /// assert_eq!(bytes[4..6], MomentsState::FORMAT_VERSION.to_le_bytes());
    /// ```
    pub const FORMAT_VERSION: u16 = 1;

    /// Adds every value of `array` (at any offset, with or without a validity
    /// bitmap). Values under null slots are never read into the result.
    ///
    /// # Errors
    ///
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX` (only for a
    /// state that already holds nearly `2^64` rows); the state is then
    /// unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![Some(2.0), None, Some(4.0)]))?;
    /// assert_eq!(state.variance(), Some(1.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn update(&mut self, array: &Float32Array) -> Result<()> {
        self.update_values(array.values(), validity_of(array))
    }

    /// Adds `values`, where `validity` (if any) covers exactly these values:
    /// one pass, block by block, the mean kernel's sum and the squares of
    /// the same block while it is in cache.
    ///
    /// # Errors
    ///
    /// As [`MomentsState::update`]: [`Error::StateOverflow`], the state
    /// unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{kernel::Validity, MomentsState};
    /// let mut state = MomentsState::default();
    /// let validity = Validity { bits: &[0b110], offset: 0 };
    /// state.update_values(&[1e30, 1.0, 3.0], Some(validity))?;
    /// assert_eq!(state.variance(), Some(1.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn update_values(&mut self, values: &[f32], validity: Option<Validity<'_>>) -> Result<()> {
        // A fresh part's counts are bounded by `values.len()`; the one
        // checked merge covers a `self` that is nearly full.
        let mut part = MomentsState::default();
        let mut squares = SquareBlocks::new();
        squares.add_with_mean(values, validity, &mut part.mean, &mut part.squares);
        squares.flush(&mut part.squares);
        self.merge(&part)
    }

    /// Merges the state of another part of the data into this one, exactly:
    /// the counts add, the exact sums and sums of squares add.
    ///
    /// # Errors
    ///
    /// [`Error::StateOverflow`], naming the count, if a count or the rows in
    /// all (`count + null_count`) would pass `u64::MAX`. `self` is then
    /// unchanged: a merge is all or nothing.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::{Error, MeanState, MomentsState};
    /// let (mut a, mut b) = (MomentsState::default(), MomentsState::default());
    /// a.update(&Float32Array::from(vec![1.0, 2.0]))?;
    /// b.update(&Float32Array::from(vec![3.0]))?;
    /// a.merge(&b)?;
    /// assert_eq!(a.variance(), Some(2.0 / 3.0));
    ///
    /// let full = MomentsState {
    ///     mean: MeanState { null_count: u64::MAX, ..MeanState::default() },
    ///     ..MomentsState::default()
    /// };
    /// assert!(matches!(a.merge(&full), Err(Error::StateOverflow { .. })));
    /// assert_eq!(a.mean.count, 3); // unchanged
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn merge(&mut self, other: &MomentsState) -> Result<()> {
        let mut mean = self.mean;
        mean.merge(&other.mean)?;
        // Within the headroom: with fewer than 2^64 finite values in all,
        // the sum of squares stays below 2^618 (see `square_sum`).
        self.squares.merge(&other.squares);
        self.mean = mean;
        Ok(())
    }

    /// Checks that the state is one that mapmean can have computed:
    /// [`MeanState::validate`] for the counts and the sum, then
    /// `Σx² <= finite_count · f32::MAX²` and `(Σx)² <= finite_count · Σx²`
    /// (Cauchy–Schwarz, which also keeps the variance's numerator from
    /// going negative). [`MomentsState::from_bytes`] runs it; call it on a
    /// state whose fields were set by hand.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] naming the rule that fails.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{Error, MomentsState};
    /// let mut state = MomentsState::default();
    /// state.update_values(&[1.0, 3.0], None)?;
    /// state.validate()?;
    /// state.squares = Default::default(); // a sum with no squares
    /// assert!(matches!(state.validate(), Err(Error::InvalidState { .. })));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.mean.validate()?;
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        let finite_count = self.mean.finite_count();
        let finite = BigUint::from(finite_count);
        let q = unsigned_squares(&self.squares);
        let max_square = BigUint::from((1u64 << 24) - 1).pow(2) << 506u32;
        if q > &finite * max_square {
            return invalid(format!(
                "the sum of squares {:?} exceeds what {finite_count} finite f32 values \
                 can have ({finite_count} · f32::MAX² )",
                self.squares
            ));
        }
        let s = signed_sum(&self.mean.exact_sum).magnitude().clone();
        if &s * &s > finite * q {
            return invalid(format!(
                "the sum {:?} and the sum of squares {:?} break Cauchy–Schwarz \
                 ((Σx)² <= finite_count · Σx²)",
                self.mean.exact_sum, self.squares
            ));
        }
        Ok(())
    }

    /// The sum under pyarrow's defaults (skip nulls, `min_count = 1`).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// assert_eq!(state.sum(), None); // no values: null, as pyarrow
    /// state.update_values(&[1e30, 1.0, -1e30], None)?;
    /// assert_eq!(state.sum(), Some(1.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn sum(&self) -> Option<f64> {
        self.sum_with(&MeanOptions::default())
    }

    /// The sum under `options`, as [`MeanState::sum_with`] (it reads only
    /// the counts and `Σx`), following `pyarrow.compute.sum`:
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
        self.mean.sum_with(options)
    }

    /// The mean under `options`, as [`MeanState::finish_with`].
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{MeanOptions, MomentsState};
    /// let mut state = MomentsState::default();
    /// state.update_values(&[3e37, 0.75, -3e37], None)?;
    /// assert_eq!(state.mean_with(&MeanOptions::default()), Some(0.25));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn mean_with(&self, options: &MeanOptions) -> Option<f64> {
        self.mean.finish_with(options)
    }

    /// The population variance under pyarrow's defaults (`ddof = 0`, skip
    /// nulls, `min_count = 0`).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update_values(&[1.0, 2.0, 3.0, 4.0], None)?;
    /// assert_eq!(state.variance(), Some(1.25));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
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
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update_values(&[3e7 + 2.0, 3e7 + 6.0], None)?;
    /// assert_eq!(state.stddev(), Some(2.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
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
        if m.count == 0 {
            // Only reachable with a negative `ddof`: pyarrow gives 0.0.
            return Some(Exact::Special(0.0));
        }
        let n = BigInt::from(m.count);
        let s = signed_sum(&m.exact_sum);
        let q = BigInt::from(unsigned_squares(&self.squares));
        let num = &n * q - &s * &s;
        // n·Q - S² >= 0 (Cauchy–Schwarz) for every state built from data, and
        // `from_bytes` rejects states that break it.
        let num = num.to_biguint().unwrap_or_default();
        let den = (&n * (n.clone() - BigInt::from(options.ddof))).to_biguint()?;
        Some(Exact::Ratio { num, den })
    }

    /// The state's byte form: [`MomentsState::BYTES`] (176) bytes, laid out
    /// as in `docs/state-format.md`: the 96 bytes of
    /// [`MeanState::to_bytes`] with the magic [`MomentsState::MAGIC`]
    /// (`MMmo`) instead of `MMst`, then the sum of squares as ten `u64`
    /// limbs, least significant first, an unsigned integer in units of
    /// `2^-298`. Equal states give equal bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::MomentsState;
    /// let mut state = MomentsState::default();
    /// state.update(&Float32Array::from(vec![1.0, f32::NAN]))?;
    /// let bytes = state.to_bytes();
    /// assert_eq!(&bytes[..8], b"MMmo\x01\x00\x00\x00");
    /// assert_eq!(MomentsState::from_bytes(&bytes)?, state);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn to_bytes(&self) -> [u8; MomentsState::BYTES] {
        let mut out = [0u8; MomentsState::BYTES];
        out[..SQUARES_AT].copy_from_slice(&self.mean.to_bytes());
        out[..4].copy_from_slice(&MomentsState::MAGIC);
        for (slot, limb) in out[SQUARES_AT..]
            .chunks_exact_mut(8)
            .zip(self.squares.to_limbs())
        {
            slot.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// Reads a state from its byte form ([`MomentsState::to_bytes`]),
    /// checking everything a reader can check: every accepted byte string is
    /// exactly the `to_bytes` of the state returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`], with the reason, if the bytes are shorter
    /// than the header, do not start with [`MomentsState::MAGIC`] (a
    /// [`MeanState`]'s bytes are named as such), have a version other than
    /// [`MomentsState::FORMAT_VERSION`], set reserved flags, are not exactly
    /// [`MomentsState::BYTES`] long, or hold a state that fails
    /// [`MomentsState::validate`].
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{Error, MomentsState};
    /// let mut state = MomentsState::default();
    /// state.update_values(&[1.5, -2.0], None)?;
    /// let mut bytes = state.to_bytes();
    /// assert_eq!(MomentsState::from_bytes(&bytes)?, state);
    /// bytes[24] = 3; // three NaN among two values
    /// assert!(matches!(MomentsState::from_bytes(&bytes), Err(Error::InvalidState { .. })));
    /// assert!(MomentsState::from_bytes(&bytes[..175]).is_err());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<MomentsState> {
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        if bytes.len() < 8 {
            return invalid(format!(
                "{} bytes, shorter than the 8-byte header",
                bytes.len()
            ));
        }
        if bytes[..4] == MeanState::MAGIC {
            return invalid(
                "these are a mean state's bytes (magic \"MMst\"), not a moments state's \
                 (\"MMmo\"): a mean state has no sum of squares"
                    .into(),
            );
        }
        if bytes[..4] != MomentsState::MAGIC {
            return invalid(format!(
                "the bytes start with {:?}, not the magic {:?}",
                bytes[..4].escape_ascii().to_string(),
                MomentsState::MAGIC.escape_ascii().to_string()
            ));
        }
        // The rest of the header and the mean's part read as a mean state's.
        let mut mean_bytes = bytes[..bytes.len().min(SQUARES_AT)].to_vec();
        mean_bytes[..4].copy_from_slice(&MeanState::MAGIC);
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version == MomentsState::FORMAT_VERSION && bytes.len() != MomentsState::BYTES {
            return invalid(format!(
                "{} bytes; a version-1 moments state has exactly {}",
                bytes.len(),
                MomentsState::BYTES
            ));
        }
        let mean = MeanState::from_bytes(&mean_bytes).map_err(|e| match e {
            Error::InvalidState { reason } => Error::InvalidState {
                reason: reason.replace("a version-1 state", "a version-1 moments state"),
            },
            other => other,
        })?;
        let mut limbs = [0u64; SQUARE_LIMBS];
        for (limb, chunk) in limbs.iter_mut().zip(bytes[SQUARES_AT..].chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(le);
        }
        let state = MomentsState {
            mean,
            squares: ExactSquareSum::from_limbs(limbs),
        };
        state.validate()?;
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
        state.update(&Float32Array::from(values.to_vec())).unwrap();
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
        let right = (m * den) << (e - low) as u64;
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
        // No values and a negative ddof: 0.0, as pyarrow.
        assert_eq!(
            state_of(&[]).variance_with(&VarianceOptions::new(-1)),
            Some(0.0)
        );
        assert_eq!(
            state_of(&[]).stddev_with(&VarianceOptions::new(-2)),
            Some(0.0)
        );
        let mut state = MomentsState::default();
        state
            .update(&Float32Array::from(vec![Some(1.0), None, Some(3.0)]))
            .unwrap();
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
        one.update(&Float32Array::from(vec![None::<f32>])).unwrap();
        let before = big;
        assert!(matches!(big.merge(&one), Err(Error::StateOverflow { .. })));
        let mut full = MomentsState::default();
        full.update_values(&[1.0], None).unwrap();
        full.mean.count = u64::MAX;
        assert!(matches!(
            full.update_values(&[2.0], None),
            Err(Error::StateOverflow { field: "count" })
        ));
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
        let mut wrong = bytes;
        wrong[6] = 1; // a reserved flag
        assert!(MomentsState::from_bytes(&wrong).is_err());
        // A mean state's bytes are not a moments state's, and say so.
        let err = MomentsState::from_bytes(&state.mean.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("mean state"), "{err}");
        // The first 96 bytes are the mean state's, but for the magic.
        assert_eq!(bytes[4..96], state.mean.to_bytes()[4..]);
        assert!(bytes[..4] == *b"MMmo");
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
