//! What each aggregate computes: the [`Statistic`] (mean, sum, variance or
//! standard deviation) and the Float32 [`GroupState`] of the one-group
//! accumulator.
//!
//! The accumulators ([`ExactAccumulator`](super::ExactAccumulator),
//! [`ExactGroupsAccumulator`](super::ExactGroupsAccumulator),
//! [`ExactStateAccumulator`](super::ExactStateAccumulator)) and the
//! aggregate ([`ExactAggregate`](super::ExactAggregate)) are written once,
//! generic over the statistic. The statistic names the aggregate, says
//! what the registry finishes ([`Statistic::registry`]: the kernel's
//! statistic and SQL's options) — how `GROUP BY` and every input type but
//! Float32 are finished — and, for the one-group Float32 accumulator, which
//! state it keeps and how that state is finished:
//!
//! | statistic            | SQL names                                  | Float32 state  | partial state |
//! |----------------------|--------------------------------------------|----------------|---------------|
//! | [`Mean`]             | `exact_mean`                               | [`MeanState`]    | 96 bytes  |
//! | [`Sum`]              | `exact_sum`                                | [`MeanState`]    | 96 bytes  |
//! | [`Variance`]         | `exact_var` (`exact_var_samp`), `exact_var_pop` | [`MomentsState`] | 176 bytes |
//! | [`Stddev`]           | `exact_stddev` (`exact_stddev_samp`), `exact_stddev_pop` | [`MomentsState`] | 176 bytes |
//!
//! The sum needs no sum of squares, so it keeps the smaller, faster
//! [`MeanState`] (whose exact sum is the same integer a [`MomentsState`]
//! holds); only the variance and the standard deviation pay for `Σx²`. The
//! Float32 partial state is the state's byte form, which is also
//! [`ExactState::to_bytes`](crate::kernel::ExactState::to_bytes) of the same
//! state: the one-group and the `GROUP BY` accumulators read each other's.

use std::fmt::Debug;
use std::hash::Hash;

use arrow_array::Float32Array;

use crate::{MeanState, MomentsState, VarianceOptions};

/// The state that the one-group accumulator
/// ([`ExactAccumulator`](super::ExactAccumulator)) keeps for Float32 input:
/// [`MeanState`] or [`MomentsState`]. Both are exact integers, so every split
/// of the rows into batches, partitions and partial states merges to the same
/// bits. (`GROUP BY` keeps the same states inside the grouped core.)
///
/// The trait is sealed; what the accumulator calls on a state (adding an
/// array, the byte form, merging bytes) is internal.
///
/// # Example
///
/// ```
/// use mapmean::datafusion::{GroupState, Statistic, Variance};
/// use mapmean::MomentsState;
///
/// fn keeps<T: Statistic<State = S>, S: GroupState>(_: T) {}
/// keeps::<Variance, MomentsState>(Variance::Sample);
/// ```
pub trait GroupState: sealed::State {}

impl GroupState for MeanState {}
impl GroupState for MomentsState {}

/// An exact statistic: [`Mean`], [`Sum`], [`Variance`] or [`Stddev`] (the
/// trait is sealed). It names its aggregate, finishes a Float32
/// [`GroupState`], and says what the registry finishes every other state
/// with ([`Statistic::registry`]).
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::datafusion::{Statistic, Stddev};
/// use mapmean::MomentsState;
///
/// let mut state = MomentsState::default();
/// state.update(&Float32Array::from(vec![3e7 + 2.0, 3e7 + 6.0]))?;
/// assert_eq!(Stddev::Population.name(), "exact_stddev_pop");
/// assert_eq!(Stddev::Population.finish(&state), Some(2.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub trait Statistic:
    sealed::Sealed + Debug + Clone + Copy + PartialEq + Eq + Hash + Send + Sync + 'static
{
    /// The state the one-group accumulator keeps for Float32 input.
    type State: GroupState;

    /// The SQL name of the aggregate, such as `exact_var`.
    fn name(&self) -> &'static str;

    /// Other SQL names of the same aggregate, such as `exact_var_samp`.
    fn aliases(&self) -> &'static [&'static str];

    /// The result from a Float32 state: `None` is SQL NULL.
    fn finish(&self, state: &Self::State) -> Option<f64>;

    /// The registry's statistic and the SQL options this aggregate finishes
    /// with (nulls skipped; `min_count` 1 for the mean and sum, 0 for the
    /// variance and standard deviation; `ddof` 1 for the sample ones): what
    /// every [`ExactState`](crate::kernel::ExactState) is finished by — each
    /// group of a `GROUP BY`, and the one state of any input type but
    /// Float32 without one.
    fn registry(&self) -> (crate::kernel::Statistic, crate::kernel::StatisticOptions);
}

fn sql_options(statistic: crate::kernel::Statistic, ddof: i64) -> crate::kernel::StatisticOptions {
    crate::kernel::StatisticOptions {
        ddof,
        ..crate::kernel::StatisticOptions::for_statistic(statistic)
    }
}

/// The mean, correctly rounded, with the rules of [`MeanState::finish`]
/// (those of `pyarrow.compute.mean`): null without valid values, NaN when a
/// value is NaN or both infinities occur, `±inf` for infinities of one sign.
///
/// # Example
///
/// ```
/// use mapmean::datafusion::{Mean, Statistic};
/// use mapmean::MeanState;
///
/// let mut state = MeanState::default();
/// state.update_values(&[3e37, 0.75, -3e37], None)?;
/// assert_eq!(Mean.finish(&state), Some(0.25));
/// assert_eq!(Mean.finish(&MeanState::default()), None);
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mean;

/// The sum, correctly rounded to `f64`, with the rules of
/// [`MomentsState::sum`] (those of `pyarrow.compute.sum` and of SQL `SUM`
/// over no values): null without valid values, NaN when a value is NaN or
/// both infinities occur, `±inf` for infinities of one sign, never `-0.0`.
///
/// # Example
///
/// ```
/// use mapmean::datafusion::{Statistic, Sum};
/// use mapmean::MeanState;
///
/// let mut state = MeanState::default();
/// state.update_values(&[3e37, 0.75, -3e37], None)?;
/// assert_eq!(Sum.finish(&state), Some(0.75)); // a float sum says 0.0
/// assert_eq!(Sum.finish(&MeanState::default()), None);
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sum;

/// The variance, `(n·Σx² - (Σx)²) / (n·(n - ddof))` computed exactly and
/// correctly rounded once, with the rules of [`MomentsState::variance_with`]
/// (those of `pyarrow.compute.variance`): null when `count <= ddof` (as SQL
/// `var_samp` and `var_pop` give), NaN when any valid value is NaN or
/// infinite, exactly `0.0` for constant data.
///
/// # Example
///
/// ```
/// use mapmean::datafusion::{Statistic, Variance};
/// use mapmean::MomentsState;
///
/// let mut state = MomentsState::default();
/// state.update_values(&[3e7 + 2.0, 3e7 + 4.0], None)?;
/// assert_eq!(Variance::Sample.finish(&state), Some(2.0));
/// assert_eq!(Variance::Population.finish(&state), Some(1.0));
/// state.update_values(&[f32::INFINITY], None)?;
/// assert!(Variance::Sample.finish(&state).is_some_and(f64::is_nan));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variance {
    /// The sample variance (`ddof = 1`): `exact_var`, alias `exact_var_samp`.
    Sample,
    /// The population variance (`ddof = 0`): `exact_var_pop`.
    Population,
}

/// The standard deviation: the correctly rounded square root of the *exact*
/// variance (one rounding, not two), with the null and NaN rules of
/// [`Variance`] (those of `pyarrow.compute.stddev`).
///
/// # Example
///
/// ```
/// use mapmean::datafusion::{Statistic, Stddev};
/// use mapmean::MomentsState;
///
/// let mut state = MomentsState::default();
/// state.update_values(&[1.0, 2.0], None)?;
/// assert_eq!(Stddev::Sample.finish(&state), Some(0.5f64.sqrt()));
/// assert_eq!(Stddev::Population.finish(&state), Some(0.5));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stddev {
    /// The sample standard deviation (`ddof = 1`): `exact_stddev`, alias
    /// `exact_stddev_samp`.
    Sample,
    /// The population standard deviation (`ddof = 0`): `exact_stddev_pop`.
    Population,
}

impl Statistic for Mean {
    type State = MeanState;

    fn name(&self) -> &'static str {
        "exact_mean"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn finish(&self, state: &MeanState) -> Option<f64> {
        state.finish()
    }

    fn registry(&self) -> (crate::kernel::Statistic, crate::kernel::StatisticOptions) {
        let s = crate::kernel::Statistic::Mean;
        (s, sql_options(s, 0))
    }
}

impl Statistic for Sum {
    type State = MeanState;

    fn name(&self) -> &'static str {
        "exact_sum"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn finish(&self, state: &MeanState) -> Option<f64> {
        state.sum()
    }

    fn registry(&self) -> (crate::kernel::Statistic, crate::kernel::StatisticOptions) {
        let s = crate::kernel::Statistic::Sum;
        (s, sql_options(s, 0))
    }
}

/// `VarianceOptions` with SQL's rules: nulls skipped, no `min_count`.
fn options(sample: bool) -> VarianceOptions {
    VarianceOptions::new(i32::from(sample))
}

impl Statistic for Variance {
    type State = MomentsState;

    fn name(&self) -> &'static str {
        match self {
            Variance::Sample => "exact_var",
            Variance::Population => "exact_var_pop",
        }
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Variance::Sample => &["exact_var_samp"],
            Variance::Population => &[],
        }
    }

    fn finish(&self, state: &MomentsState) -> Option<f64> {
        state.variance_with(&options(*self == Variance::Sample))
    }

    fn registry(&self) -> (crate::kernel::Statistic, crate::kernel::StatisticOptions) {
        let s = crate::kernel::Statistic::Variance;
        (s, sql_options(s, i64::from(*self == Variance::Sample)))
    }
}

impl Statistic for Stddev {
    type State = MomentsState;

    fn name(&self) -> &'static str {
        match self {
            Stddev::Sample => "exact_stddev",
            Stddev::Population => "exact_stddev_pop",
        }
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Stddev::Sample => &["exact_stddev_samp"],
            Stddev::Population => &[],
        }
    }

    fn finish(&self, state: &MomentsState) -> Option<f64> {
        state.stddev_with(&options(*self == Stddev::Sample))
    }

    fn registry(&self) -> (crate::kernel::Statistic, crate::kernel::StatisticOptions) {
        let s = crate::kernel::Statistic::Stddev;
        (s, sql_options(s, i64::from(*self == Stddev::Sample)))
    }
}

/// What the accumulators need of a state and a statistic, kept out of the
/// public API.
pub(crate) mod sealed {
    use super::*;

    /// Seals [`Statistic`](super::Statistic).
    pub trait Sealed {}
    impl Sealed for super::Mean {}
    impl Sealed for super::Sum {}
    impl Sealed for super::Variance {}
    impl Sealed for super::Stddev {}

    /// A per-group state: rows in, bytes out and back.
    pub trait State: Debug + Default + Clone + Copy + PartialEq + Send + Sync + 'static {
        /// The byte form, `to_bytes`.
        type Bytes: AsRef<[u8]>;

        /// The type's name, for messages about a partial state.
        const NAME: &'static str;

        /// Adds a whole array through the block kernel.
        fn update(&mut self, values: &Float32Array) -> crate::Result<()>;

        /// The state's byte form (the partial state).
        fn to_bytes(&self) -> Self::Bytes;

        /// Reads a state from bytes (validated) and merges it exactly.
        fn merge_bytes(&mut self, bytes: &[u8]) -> crate::Result<()>;
    }

    impl State for MeanState {
        type Bytes = [u8; MeanState::BYTES];
        const NAME: &'static str = "MeanState";

        fn update(&mut self, values: &Float32Array) -> crate::Result<()> {
            MeanState::update(self, values)
        }

        fn to_bytes(&self) -> Self::Bytes {
            MeanState::to_bytes(self)
        }

        fn merge_bytes(&mut self, bytes: &[u8]) -> crate::Result<()> {
            self.merge(&MeanState::from_bytes(bytes)?)
        }
    }

    impl State for MomentsState {
        type Bytes = [u8; MomentsState::BYTES];
        const NAME: &'static str = "MomentsState";

        fn update(&mut self, values: &Float32Array) -> crate::Result<()> {
            MomentsState::update(self, values)
        }

        fn to_bytes(&self) -> Self::Bytes {
            MomentsState::to_bytes(self)
        }

        fn merge_bytes(&mut self, bytes: &[u8]) -> crate::Result<()> {
            self.merge(&MomentsState::from_bytes(bytes)?)
        }
    }
}
