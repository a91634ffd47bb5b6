//! The exact mean kernel: [`MeanState`] (update, merge, finish) over Float32
//! arrays.
//!
//! The kernel knows nothing of files, Python or threads.
//! [`MeanState::update_values`] is its one entry point; it hands the values
//! and validity bitmap to the block kernel (`kernel::blocks`, with one pass
//! per instruction set in `kernel::arch` and the block and window geometry
//! in `kernel::geometry`), which computes exactly what the scalar reference
//! (`kernel::reference`) computes, only faster. The exactness argument lives
//! beside the accumulator, [`ExactSum`]. Those modules are internal (public
//! only with the `internals` feature).
//!
//! [`MomentsState`] adds the exact sum of squares ([`ExactSquareSum`]) for
//! the correctly rounded sum, variance and standard deviation; the mean
//! alone never pays for it.

internal_mod!(arch);
internal_mod!(blocks);
mod exact_sum;
mod exponent_bins;
internal_mod!(geometry);
mod moments;
pub(crate) mod native;
internal_mod!(reference);
mod rounding;
internal_mod!(square_sum);
mod state;
mod state_bytes;
mod state_format;
mod statistic;
mod wide;

use arrow_array::{Array, Float32Array};
use arrow_buffer::NullBuffer;

use crate::error::{Error, Result};
pub use exact_sum::ExactSum;
pub use moments::{MomentsState, VarianceOptions};
pub use native::{Domain, Extremes, Native};
pub use square_sum::ExactSquareSum;
pub use state::{is_numeric, Counts, ExactState, Parts};
pub use statistic::{Statistic, StatisticOptions, Value};
pub use wide::Wide;

/// A validity bitmap as the kernel sees it: bit `offset + i` of `bits`
/// (least significant bit first, as in Arrow) is set when value `i` is valid.
///
/// Unlike [`NullBuffer`], sub-ranges cost nothing (no null count), so
/// drivers can split an array into tasks freely.
///
/// # Example
///
/// ```
/// use mapmean::kernel::Validity;
/// let v = Validity { bits: &[0b0000_0101], offset: 0 };
/// assert!(v.is_valid(0) && !v.is_valid(1) && v.is_valid(2));
/// assert!(v.shifted(2).is_valid(0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity<'a> {
    /// The bitmap's bytes.
    pub bits: &'a [u8],
    /// Bit index of the first value's validity.
    pub offset: usize,
}

impl<'a> Validity<'a> {
    /// The validity of an Arrow null buffer.
    pub fn from_nulls(nulls: &'a NullBuffer) -> Self {
        Validity {
            bits: nulls.validity(),
            offset: nulls.offset(),
        }
    }

    /// The validity of the values from `start` on.
    pub fn shifted(self, start: usize) -> Self {
        Validity {
            bits: self.bits,
            offset: self.offset + start,
        }
    }

    /// Whether value `i` is valid. Panics if the bitmap is too short.
    pub fn is_valid(&self, i: usize) -> bool {
        let bit = self.offset + i;
        (self.bits[bit / 8] >> (bit % 8)) & 1 == 1
    }
}

/// The validity of `array` (of any type), or `None` when every value is
/// valid.
pub fn validity_of<A: Array + ?Sized>(array: &A) -> Option<Validity<'_>> {
    array
        .nulls()
        .filter(|n| n.null_count() > 0)
        .map(Validity::from_nulls)
}

/// Options that decide how a [`MeanState`] becomes a mean, as in
/// `pyarrow.compute.mean`.
///
/// # Example
///
/// ```
/// use mapmean::MeanOptions;
/// let strict = MeanOptions { skip_nulls: false, ..MeanOptions::default() };
/// assert_eq!(strict.min_count, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeanOptions {
    /// Ignore nulls (`true`, the default) or give a null mean when any value
    /// is null (`false`).
    pub skip_nulls: bool,
    /// Give a null mean when fewer than this many values are valid (default 1,
    /// so an empty or all-null input has a null mean).
    pub min_count: u64,
}

impl Default for MeanOptions {
    fn default() -> Self {
        MeanOptions {
            skip_nulls: true,
            min_count: 1,
        }
    }
}

/// The mergeable state of an exact mean: counts and the exact sum of the
/// finite valid values.
///
/// States computed over any split of the data (batches, blocks, threads,
/// files, machines) merge into bitwise the same state as one pass over all of
/// it, because every field is an exact integer. [`MeanState::to_bytes`] and
/// [`MeanState::from_bytes`] carry a state between processes, machines and
/// languages in one fixed, versioned form (`docs/state-format.md`).
///
/// # Invariants
///
/// States made by [`update`](MeanState::update), [`merge`](MeanState::merge)
/// and [`from_bytes`](MeanState::from_bytes) always pass
/// [`validate`](MeanState::validate): `nan_count + pos_inf_count +
/// neg_inf_count <= count`, `count + null_count <= u64::MAX`, and the sum
/// is one that `finite_count()` finite `f32` values can have, which keeps
/// the accumulator's headroom argument true (see [`ExactSum`]). The fields
/// are public for reading; a state whose fields were set by hand is checked
/// by [`validate`](MeanState::validate), and merges check their counts
/// whatever the inputs.
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::MeanState;
///
/// let a = Float32Array::from(vec![Some(3e37), Some(0.75), None]);
/// let b = Float32Array::from(vec![-3e37_f32]);
/// let mut state = MeanState::default();
/// state.update(&a)?;
/// let mut other = MeanState::default();
/// other.update(&b)?;
/// state.merge(&other)?;
/// assert_eq!(state.count, 3);
/// assert_eq!(state.null_count, 1);
/// assert_eq!(state.finish(), Some(0.25));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MeanState {
    /// Valid (non-null) values seen, NaN and infinities included.
    pub count: u64,
    /// Null values seen.
    pub null_count: u64,
    /// Valid NaN values seen.
    pub nan_count: u64,
    /// Valid `+inf` values seen.
    pub pos_inf_count: u64,
    /// Valid `-inf` values seen.
    pub neg_inf_count: u64,
    /// Exact sum of the valid finite values ([`MeanState::sum`] rounds it,
    /// with pyarrow's rules for nulls and non-finite values).
    pub exact_sum: ExactSum,
}

impl MeanState {
    /// Adds every value of `array` (at any offset, with or without a validity
    /// bitmap). Values under null slots are never read into the result.
    ///
    /// # Errors
    ///
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX` (only
    /// possible for a state that already holds nearly `2^64` rows, such as
    /// one read by [`MeanState::from_bytes`]); the state is then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::{Array, Float32Array};
    /// use mapmean::MeanState;
    ///
    /// let array = Float32Array::from(vec![Some(1.0), None, Some(f32::NAN), Some(2.0)]);
    /// let mut state = MeanState::default();
    /// state.update(&array.slice(1, 3))?; // null, NaN, 2.0
    /// assert_eq!((state.count, state.null_count, state.nan_count), (2, 1, 1));
    /// assert!(state.finish().unwrap().is_nan());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn update(&mut self, array: &Float32Array) -> Result<()> {
        self.update_values(array.values(), validity_of(array))
    }

    /// Adds `values`, where `validity` (if any) covers exactly these values.
    /// This is the kernel's one entry point: every front end and driver ends
    /// here.
    ///
    /// # Errors
    ///
    /// As [`MeanState::update`]: [`Error::StateOverflow`], the state
    /// unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{kernel::Validity, MeanState};
    /// let mut state = MeanState::default();
    /// let validity = Validity { bits: &[0b110], offset: 0 };
    /// state.update_values(&[f32::NAN, 1.0, 2.0], Some(validity))?;
    /// assert_eq!(state.finish(), Some(1.5));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn update_values(&mut self, values: &[f32], validity: Option<Validity<'_>>) -> Result<()> {
        // A fresh state's counts are bounded by `values.len() <= isize::MAX`,
        // so the block kernel's unchecked additions cannot wrap there; the
        // one checked merge then covers a `self` that is nearly full.
        let mut part = MeanState::default();
        blocks::update(&mut part, values, validity);
        self.merge(&part)
    }

    /// [`MeanState::update_values`] for Float16 values (the block pass of
    /// [`blocks::update_f16`]).
    pub(crate) fn update_f16_values(
        &mut self,
        values: &[half::f16],
        validity: Option<Validity<'_>>,
    ) -> Result<()> {
        let mut part = MeanState::default();
        blocks::update_f16(arch::Isa::detect(), &mut part, values, validity);
        self.merge(&part)
    }

    /// Merges the state of another part of the data into this one, exactly:
    /// the counts add, the exact sums add.
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
    /// use mapmean::{Error, MeanState};
    /// let (mut a, mut b) = (MeanState::default(), MeanState::default());
    /// a.update_values(&[1.0, 2.0], None)?;
    /// b.update_values(&[6.0], None)?;
    /// a.merge(&b)?;
    /// assert_eq!(a.finish(), Some(3.0));
    ///
    /// let full = MeanState { null_count: u64::MAX, ..MeanState::default() };
    /// assert!(matches!(a.merge(&full), Err(Error::StateOverflow { .. })));
    /// assert_eq!(a.count, 3); // unchanged
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn merge(&mut self, other: &MeanState) -> Result<()> {
        let counts = state::Counts::of_mean(self).merged(&state::Counts::of_mean(other))?;
        let mut sum = self.exact_sum;
        // Within the headroom for states that pass `validate`: see the
        // exact_sum module docs.
        sum.merge(&other.exact_sum);
        *self = MeanState {
            count: counts.count,
            null_count: counts.null_count,
            nan_count: counts.nan_count,
            pos_inf_count: counts.pos_inf_count,
            neg_inf_count: counts.neg_inf_count,
            exact_sum: sum,
        };
        Ok(())
    }

    /// Checks that the state is one that mapmean can have computed: the
    /// special counts fit in `count`, the rows in all (`count + null_count`)
    /// fit in a `u64`, and `|sum| <= finite_count() · f32::MAX` (so a
    /// nonzero sum needs a finite value). [`MeanState::from_bytes`] runs it;
    /// call it on a state whose fields were set by hand.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] naming the rule that fails.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{Error, MeanState};
    /// let mut state = MeanState::default();
    /// state.update_values(&[1.0, f32::NAN], None)?;
    /// state.validate()?;
    /// state.count = 0; // one NaN but no value: contradictory
    /// assert!(matches!(state.validate(), Err(Error::InvalidState { .. })));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        state::Counts::of_mean(self).check()?;
        let finite_count = self.finite_count();
        if !self.exact_sum.is_within(finite_count) {
            return invalid(format!(
                "the sum {:?} exceeds what {finite_count} finite f32 values can sum to \
                 ({finite_count} · f32::MAX in magnitude)",
                self.exact_sum
            ));
        }
        Ok(())
    }

    /// The mean under the default [`MeanOptions`] (skip nulls, `min_count = 1`):
    /// `None` for an empty or all-null input.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MeanState;
    /// let mut state = MeanState::default();
    /// assert_eq!(state.finish(), None);
    /// state.update_values(&[1.0, 2.0], None)?;
    /// assert_eq!(state.finish(), Some(1.5));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn finish(&self) -> Option<f64> {
        self.finish_with(&MeanOptions::default())
    }

    /// The mean under `options`, following `pyarrow.compute.mean`:
    ///
    /// - `None` (null) if `skip_nulls` is false and any value is null, or if
    ///   fewer than `min_count` values are valid;
    /// - NaN if a valid value is NaN, or if both `+inf` and `-inf` occur;
    /// - `±inf` if only infinities of one sign occur;
    /// - otherwise the exact mean of the valid values, correctly rounded to
    ///   `f64` (NaN for zero values with `min_count = 0`, as `0 / 0`).
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_array::Float32Array;
    /// use mapmean::{MeanOptions, MeanState};
    ///
    /// let mut state = MeanState::default();
    /// state.update(&Float32Array::from(vec![Some(1.0), None]))?;
    /// assert_eq!(state.finish(), Some(1.0));
    /// let strict = MeanOptions { skip_nulls: false, min_count: 1 };
    /// assert_eq!(state.finish_with(&strict), None);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn finish_with(&self, options: &MeanOptions) -> Option<f64> {
        if (!options.skip_nulls && self.null_count > 0) || self.count < options.min_count {
            return None;
        }
        Some(
            self.special()
                .unwrap_or_else(|| self.exact_sum.mean(self.count)),
        )
    }

    /// The sum under pyarrow's defaults (skip nulls, `min_count = 1`): the
    /// exact sum correctly rounded to `f64`, from this state alone (a sum
    /// needs no sum of squares).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MeanState;
    /// let mut state = MeanState::default();
    /// assert_eq!(state.sum(), None); // no values: null, as pyarrow
    /// state.update_values(&[1e30, 1.0, -1e30], None)?;
    /// assert_eq!(state.sum(), Some(1.0));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
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
    /// use mapmean::{MeanOptions, MeanState};
    /// let mut state = MeanState::default();
    /// state.update(&Float32Array::from(vec![3e37, 0.75, -3e37]))?;
    /// assert_eq!(state.sum(), Some(0.75));
    /// let strict = MeanOptions { skip_nulls: true, min_count: 4 };
    /// assert_eq!(state.sum_with(&strict), None);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn sum_with(&self, options: &MeanOptions) -> Option<f64> {
        if (!options.skip_nulls && self.null_count > 0) || self.count < options.min_count {
            return None;
        }
        Some(self.special().unwrap_or_else(|| self.exact_sum.to_f64()))
    }

    /// NaN or `±inf` when the special values decide the sum and the mean, as
    /// in pyarrow: NaN if a valid value is NaN or both infinities occur.
    fn special(&self) -> Option<f64> {
        if self.nan_count > 0 || (self.pos_inf_count > 0 && self.neg_inf_count > 0) {
            Some(f64::NAN)
        } else if self.pos_inf_count > 0 {
            Some(f64::INFINITY)
        } else if self.neg_inf_count > 0 {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }

    /// Number of valid values that are finite (neither NaN nor infinite).
    ///
    /// For a state that fails [`MeanState::validate`] (fields set by hand so
    /// that the special counts exceed `count`), 0 rather than a wrapped
    /// count.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MeanState;
    /// let mut state = MeanState::default();
    /// state.update_values(&[1.0, f32::INFINITY, 2.0], None)?;
    /// assert_eq!(state.finite_count(), 2);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn finite_count(&self) -> u64 {
        self.count
            .saturating_sub(self.nan_count)
            .saturating_sub(self.pos_inf_count)
            .saturating_sub(self.neg_inf_count)
    }
}

/// A mergeable state the drivers compute over any split of the data, from
/// values of the native type `T`: [`MeanState`] and [`MomentsState`]
/// (Float32), or [`ExactState`] (any numeric type). The engine and dataset
/// drivers are generic over it, so every source the mean reads, every other
/// statistic reads too.
///
/// The methods follow [`MeanState`]'s conventions: they return a `Result`
/// and leave the state unchanged on error.
///
/// # Example
///
/// ```
/// use mapmean::{kernel::Accumulate, MomentsState};
/// fn of<S: Accumulate + Default>(values: &[f32]) -> mapmean::Result<S> {
///     let (mut a, mut b) = (S::default(), S::default());
///     Accumulate::update_values(&mut a, &values[..1], None)?;
///     Accumulate::update_values(&mut b, &values[1..], None)?;
///     Accumulate::merge(&mut a, &b)?;
///     Ok(a)
/// }
/// let state: MomentsState = of(&[1.0, 3.0])?;
/// assert_eq!(state.variance(), Some(1.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub trait Accumulate<T: Native = f32>: Clone + Send + Sync + 'static {
    /// An empty state of the same kind (for [`ExactState`]: the same input
    /// type and parts).
    fn empty_like(&self) -> Self;

    /// Adds `values`, where `validity` (if any) covers exactly these values.
    ///
    /// # Errors
    ///
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX`; the state
    /// is then unchanged.
    fn update_values(&mut self, values: &[T], validity: Option<Validity<'_>>) -> Result<()>;

    /// Merges another state exactly.
    ///
    /// # Errors
    ///
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX`; the state
    /// is then unchanged.
    fn merge(&mut self, other: &Self) -> Result<()>;
}

impl Accumulate for MeanState {
    fn empty_like(&self) -> Self {
        MeanState::default()
    }

    fn update_values(&mut self, values: &[f32], validity: Option<Validity<'_>>) -> Result<()> {
        MeanState::update_values(self, values, validity)
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        MeanState::merge(self, other)
    }
}

impl Accumulate for MomentsState {
    fn empty_like(&self) -> Self {
        MomentsState::default()
    }

    fn update_values(&mut self, values: &[f32], validity: Option<Validity<'_>>) -> Result<()> {
        MomentsState::update_values(self, values, validity)
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        MomentsState::merge(self, other)
    }
}

impl<T: Native> Accumulate<T> for ExactState {
    fn empty_like(&self) -> Self {
        ExactState::empty_like(self)
    }

    fn update_values(&mut self, values: &[T], validity: Option<Validity<'_>>) -> Result<()> {
        ExactState::update_values(self, values, validity)
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        ExactState::merge(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyarrow_special_value_rules() {
        let state = |v: Vec<f32>| {
            let mut s = MeanState::default();
            s.update(&Float32Array::from(v)).unwrap();
            s.finish()
        };
        assert_eq!(state(vec![1.0, f32::INFINITY]), Some(f64::INFINITY));
        assert_eq!(state(vec![1.0, f32::NEG_INFINITY]), Some(f64::NEG_INFINITY));
        assert!(state(vec![f32::INFINITY, f32::NEG_INFINITY])
            .unwrap()
            .is_nan());
        assert!(state(vec![1.0, f32::NAN]).unwrap().is_nan());
        assert_eq!(state(vec![]), None);
    }

    #[test]
    fn min_count_and_skip_nulls() {
        let mut s = MeanState::default();
        s.update(&Float32Array::from(vec![Some(2.0), None, Some(4.0)]))
            .unwrap();
        let opts = |skip_nulls, min_count| MeanOptions {
            skip_nulls,
            min_count,
        };
        assert_eq!(s.finish_with(&opts(true, 2)), Some(3.0));
        assert_eq!(s.finish_with(&opts(true, 3)), None);
        assert_eq!(s.finish_with(&opts(false, 0)), None);
        let empty = MeanState::default();
        assert!(empty.finish_with(&opts(true, 0)).unwrap().is_nan());
    }
}
