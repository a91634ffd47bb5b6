//! [`ExactState`]: the one mergeable state of a column of any numeric Arrow
//! type, and what every statistic of the registry
//! ([`Statistic`](super::Statistic)) finishes from.
//!
//! A state holds the [`Counts`], the exact sum of the valid finite values
//! and, when its [`Parts`] ask for them, the exact sum of squares and the
//! extremes. Each input domain keeps its sums in the integer that fits it
//! (see `kernel::native` for the bit budgets): the Float32 block kernel's
//! [`MeanState`] / [`MomentsState`] for Float16 and Float32, wide
//! fixed-point integers for Float64, 192- and 256-bit integers for integers.
//! Every field is exact, so states merge in any order into bitwise the same
//! state, and Float16 and Float32 states widen exactly into Float64 ones.

use arrow_schema::DataType;
use num_bigint::{BigInt, BigUint};

use super::arch::Isa;
use super::blocks::update_f64;
use super::native::{
    add_f64_to_wide, add_integer_squares, with_f64_bins, Domain, Extremes, Native, Tally,
    F64_SQUARE_LIMBS, F64_SUM_LIMBS, F64_UNIT_EXP, INT_SQUARE_LIMBS, INT_SUM_LIMBS,
};
use super::wide::Wide;
use super::{ExactSquareSum, MeanState, MomentsState, Validity};
use crate::error::{Error, Result};

/// Counts of a state: rows seen, and what the valid ones were.
///
/// # Example
///
/// ```
/// use mapmean::kernel::{Counts, ExactState, Parts};
/// let mut state = ExactState::new(&arrow_schema::DataType::Float64, Parts::default())?;
/// state.update_values(&[1.0, f64::NAN, f64::INFINITY], None)?;
/// let c = state.counts();
/// assert_eq!((c.count, c.nan_count, c.pos_inf_count, c.finite_count()), (3, 1, 1, 1));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Valid (non-null) values, NaN and infinities included.
    pub count: u64,
    /// Null values.
    pub null_count: u64,
    /// Valid NaN values.
    pub nan_count: u64,
    /// Valid `+inf` values.
    pub pos_inf_count: u64,
    /// Valid `-inf` values.
    pub neg_inf_count: u64,
}

impl Counts {
    /// Valid values that are finite (0 for contradictory counts).
    pub fn finite_count(&self) -> u64 {
        self.count
            .saturating_sub(self.nan_count)
            .saturating_sub(self.pos_inf_count)
            .saturating_sub(self.neg_inf_count)
    }

    /// Checks the rules every state's counts keep: the special counts fit in
    /// `count`, and the rows in all (`count + null_count`) in a `u64`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] naming the rule that fails.
    pub(crate) fn check(&self) -> Result<()> {
        let specials = self
            .nan_count
            .checked_add(self.pos_inf_count)
            .and_then(|s| s.checked_add(self.neg_inf_count));
        if specials.is_none_or(|s| s > self.count) {
            return Err(Error::InvalidState {
                reason: format!(
                    "nan_count {} + pos_inf_count {} + neg_inf_count {} exceed count {}",
                    self.nan_count, self.pos_inf_count, self.neg_inf_count, self.count
                ),
            });
        }
        if self.count.checked_add(self.null_count).is_none() {
            return Err(Error::InvalidState {
                reason: format!(
                    "count {} + null_count {} exceed 2^64 - 1 rows",
                    self.count, self.null_count
                ),
            });
        }
        Ok(())
    }

    /// The counts of both, checked: [`Error::StateOverflow`] past `u64::MAX`
    /// rows.
    pub(crate) fn merged(&self, other: &Counts) -> Result<Counts> {
        let add = |a: u64, b: u64, field: &'static str| {
            a.checked_add(b).ok_or(Error::StateOverflow { field })
        };
        let merged = Counts {
            count: add(self.count, other.count, "count")?,
            null_count: add(self.null_count, other.null_count, "null_count")?,
            nan_count: add(self.nan_count, other.nan_count, "nan_count")?,
            pos_inf_count: add(self.pos_inf_count, other.pos_inf_count, "pos_inf_count")?,
            neg_inf_count: add(self.neg_inf_count, other.neg_inf_count, "neg_inf_count")?,
        };
        add(merged.count, merged.null_count, "count + null_count")?;
        Ok(merged)
    }

    fn add_tally(&mut self, tally: &Tally, rows: usize) {
        self.count += tally.valid;
        self.null_count += rows as u64 - tally.valid;
        self.nan_count += tally.nan;
        self.pos_inf_count += tally.pos_inf;
        self.neg_inf_count += tally.neg_inf;
    }

    pub(crate) fn of_mean(m: &MeanState) -> Counts {
        Counts {
            count: m.count,
            null_count: m.null_count,
            nan_count: m.nan_count,
            pos_inf_count: m.pos_inf_count,
            neg_inf_count: m.neg_inf_count,
        }
    }
}

/// Which parts a state computes besides the counts and the sum: the sum of
/// squares (variance, standard deviation) and the extremes (min, max). Each
/// statistic says what it needs ([`Statistic::needs`](super::Statistic::needs));
/// the mean alone never pays for the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Parts {
    /// The exact sum of squares.
    pub squares: bool,
    /// The minimum and maximum.
    pub extremes: bool,
}

impl Parts {
    /// Both parts.
    pub const ALL: Parts = Parts {
        squares: true,
        extremes: true,
    };

    /// What both need.
    pub fn union(self, other: Parts) -> Parts {
        Parts {
            squares: self.squares | other.squares,
            extremes: self.extremes | other.extremes,
        }
    }

    /// What both have.
    pub fn intersection(self, other: Parts) -> Parts {
        Parts {
            squares: self.squares & other.squares,
            extremes: self.extremes & other.extremes,
        }
    }

    /// Whether `self` has everything `needed` asks for.
    pub fn covers(self, needed: Parts) -> bool {
        self.intersection(needed) == needed
    }
}

/// The sums of one domain.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Core {
    /// Float16 and Float32 values, mean only: the block kernel's state.
    Float32(MeanState),
    /// Float16 and Float32 values with squares.
    Float32Moments(MomentsState),
    /// Float64 values.
    Float64(Box<Float64Sums>),
    /// Signed (`Domain::Signed`) or unsigned integers.
    Integer(IntegerSums),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Float64Sums {
    pub counts: Counts,
    pub sum: Wide<F64_SUM_LIMBS>,
    pub squares: Option<Box<Wide<F64_SQUARE_LIMBS>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IntegerSums {
    pub counts: Counts,
    pub sum: Wide<INT_SUM_LIMBS>,
    pub squares: Option<Wide<INT_SQUARE_LIMBS>>,
}

/// The exact sums of a state as integers: `sum · 2^unit_exp` is the exact
/// sum, `squares · 2^(2·unit_exp)` the exact sum of squares.
pub(crate) struct ExactSums {
    pub sum: BigInt,
    pub squares: Option<BigUint>,
    pub unit_exp: i64,
}

/// The exact, mergeable state of a column of any numeric Arrow type.
///
/// Made for an input type and a set of [`Parts`]; it reads values of that
/// type (or a narrower one of the same kind), merges with states of the same
/// kind of number (floats widen: a Float32 state merges into a Float64 one
/// exactly), and finishes into every statistic its parts allow
/// ([`Statistic::finish`](super::Statistic::finish)).
///
/// # Example
///
/// ```
/// use arrow_schema::DataType;
/// use mapmean::kernel::{ExactState, Parts, Statistic, StatisticOptions, Value};
///
/// let mut a = ExactState::new(&DataType::Float64, Parts::ALL)?;
/// a.update_values(&[1e308, 1.0], None)?;
/// let mut b = ExactState::new(&DataType::Float32, Parts::ALL)?;
/// b.update_values(&[2.0_f32], None)?;
/// let mut c = ExactState::new(&DataType::Float64, Parts::ALL)?;
/// c.update_values(&[-1e308], None)?;
/// a.merge(&b)?;
/// a.merge(&c)?;
/// let options = StatisticOptions::default();
/// assert_eq!(Statistic::Mean.finish(&a, &options)?, Value::Float(0.75)); // (1 + 2) / 4
/// assert_eq!(Statistic::Max.finish(&a, &options)?, Value::Float(1e308));
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExactState {
    input: DataType,
    parts: Parts,
    core: Core,
    extremes: Option<Extremes>,
}

/// Whether mapmean computes on `data_type`: Float16/32/64, Int8/16/32/64,
/// UInt8/16/32/64.
///
/// # Example
///
/// ```
/// use arrow_schema::DataType;
/// use mapmean::kernel::is_numeric;
/// assert!(is_numeric(&DataType::UInt16) && !is_numeric(&DataType::Utf8));
/// ```
pub fn is_numeric(data_type: &DataType) -> bool {
    domain_of(data_type).is_some()
}

/// The domain of a numeric type.
pub(crate) fn domain_of(data_type: &DataType) -> Option<Domain> {
    use DataType::*;
    Some(match data_type {
        Float16 | Float32 => Domain::Float32,
        Float64 => Domain::Float64,
        Int8 | Int16 | Int32 | Int64 => Domain::Signed,
        UInt8 | UInt16 | UInt32 | UInt64 => Domain::Unsigned,
        _ => return None,
    })
}

/// Bits of a numeric type's values (for the widest-input rule).
fn width(data_type: &DataType) -> u32 {
    data_type.primitive_width().unwrap_or(0) as u32
}

impl ExactState {
    /// An empty state for values of `input` that computes `parts`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedType`] if `input` is not numeric.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::kernel::{ExactState, Parts};
    /// let state = ExactState::new(&arrow_schema::DataType::Int8, Parts::default())?;
    /// assert_eq!(state.counts().count, 0);
    /// assert!(ExactState::new(&arrow_schema::DataType::Utf8, Parts::default()).is_err());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn new(input: &DataType, parts: Parts) -> Result<Self> {
        let domain = domain_of(input).ok_or_else(|| Error::UnsupportedType {
            data_type: input.to_string(),
        })?;
        let core = match domain {
            Domain::Float32 if parts.squares => Core::Float32Moments(MomentsState::default()),
            Domain::Float32 => Core::Float32(MeanState::default()),
            Domain::Float64 => Core::Float64(Box::new(Float64Sums {
                counts: Counts::default(),
                sum: Wide::ZERO,
                squares: parts.squares.then(|| Box::new(Wide::ZERO)),
            })),
            Domain::Signed | Domain::Unsigned => Core::Integer(IntegerSums {
                counts: Counts::default(),
                sum: Wide::ZERO,
                squares: parts.squares.then_some(Wide::ZERO),
            }),
        };
        Ok(ExactState {
            input: input.clone(),
            parts,
            core,
            extremes: parts.extremes.then(|| Extremes::empty(domain)),
        })
    }

    /// The state of a Float32 [`MeanState`] (counts and sum).
    pub fn from_mean(state: MeanState) -> Self {
        ExactState {
            input: DataType::Float32,
            parts: Parts::default(),
            core: Core::Float32(state),
            extremes: None,
        }
    }

    /// The state of a Float32 [`MomentsState`] (counts, sum and squares).
    pub fn from_moments(state: MomentsState) -> Self {
        ExactState {
            input: DataType::Float32,
            parts: Parts {
                squares: true,
                extremes: false,
            },
            core: Core::Float32Moments(state),
            extremes: None,
        }
    }

    /// An empty state like this one: same input type, same parts.
    pub fn empty_like(&self) -> Self {
        ExactState::new(&self.input, self.parts)
            .unwrap_or_else(|_| unreachable!("a state's input type is numeric"))
    }

    /// The widest input type read or merged so far.
    pub fn input_type(&self) -> &DataType {
        &self.input
    }

    /// The parts this state computes.
    pub fn parts(&self) -> Parts {
        self.parts
    }

    /// The kind of number the state sums.
    pub fn domain(&self) -> Domain {
        match &self.core {
            Core::Float32(_) | Core::Float32Moments(_) => Domain::Float32,
            Core::Float64(_) => Domain::Float64,
            Core::Integer(_) => domain_of(&self.input).unwrap_or(Domain::Signed),
        }
    }

    /// The counts.
    pub fn counts(&self) -> Counts {
        match &self.core {
            Core::Float32(m) => Counts::of_mean(m),
            Core::Float32Moments(m) => Counts::of_mean(&m.mean),
            Core::Float64(f) => f.counts,
            Core::Integer(i) => i.counts,
        }
    }

    /// The extremes, when the state computes them.
    pub fn extremes(&self) -> Option<&Extremes> {
        self.extremes.as_ref()
    }

    /// The Float32 mean state inside, for a Float16/Float32 state.
    pub fn as_mean_state(&self) -> Option<MeanState> {
        match &self.core {
            Core::Float32(m) => Some(*m),
            Core::Float32Moments(m) => Some(m.mean),
            _ => None,
        }
    }

    /// The Float32 moments state inside, for a Float16/Float32 state with
    /// squares.
    pub fn as_moments_state(&self) -> Option<MomentsState> {
        match &self.core {
            Core::Float32Moments(m) => Some(*m),
            _ => None,
        }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Adds `values`, where `validity` (if any) covers exactly these values.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the values are of another kind than the
    /// state's (integers into a float state, say; narrower floats widen);
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX`. The state
    /// is unchanged on error.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::kernel::{ExactState, Parts, Validity};
    /// let mut state = ExactState::new(&arrow_schema::DataType::Int64, Parts::default())?;
    /// state.update_values(&[i64::MAX, i64::MAX, 7], Some(Validity { bits: &[0b011], offset: 0 }))?;
    /// assert_eq!((state.counts().count, state.counts().null_count), (2, 1));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn update_values<T: Native>(
        &mut self,
        values: &[T],
        validity: Option<Validity<'_>>,
    ) -> Result<()> {
        // A fresh part: its counts are bounded by `values.len()`, and the one
        // checked merge covers a `self` that is nearly full.
        let mut part = self.empty_like();
        part.add::<T>(values, validity)?;
        self.merge(&part)
    }

    fn add<T: Native>(&mut self, values: &[T], validity: Option<Validity<'_>>) -> Result<()> {
        let mismatch = || Error::TypeMismatch {
            left: self.input.to_string(),
            right: T::DATA_TYPE.to_string(),
        };
        match (&mut self.core, T::DOMAIN) {
            (Core::Float32(m), Domain::Float32) => match (T::as_f32s(values), T::as_f16s(values)) {
                (Some(v), _) => m.update_values(v, validity)?,
                (None, Some(halves)) => m.update_f16_values(halves, validity)?,
                (None, None) => converted(
                    values,
                    validity,
                    |x| x.to_f64() as f32,
                    |v, val| m.update_values(v, val),
                )?,
            },
            (Core::Float32Moments(m), Domain::Float32) => match T::as_f32s(values) {
                Some(v) => m.update_values(v, validity)?,
                None => converted(
                    values,
                    validity,
                    |x| x.to_f64() as f32,
                    |v, val| m.update_values(v, val),
                )?,
            },
            (Core::Float64(f), Domain::Float32 | Domain::Float64) => {
                let mut tally = Tally::default();
                with_f64_bins(f.squares.is_some(), |bins| match T::as_f64s(values) {
                    Some(v) => {
                        let squares = f.squares.as_deref_mut();
                        update_f64(
                            Isa::detect(),
                            v,
                            validity,
                            &mut tally,
                            &mut f.sum,
                            squares,
                            bins,
                        );
                        Ok(())
                    }
                    None => converted(
                        values,
                        validity,
                        |x| x.to_f64(),
                        |v, val| {
                            bins.add(
                                Isa::detect(),
                                v,
                                val,
                                &mut tally,
                                &mut f.sum,
                                f.squares.as_deref_mut(),
                            );
                            Ok(())
                        },
                    ),
                })?;
                f.counts.add_tally(&tally, values.len());
            }
            (Core::Integer(s), Domain::Signed | Domain::Unsigned)
                if domain_of(&self.input) == Some(T::DOMAIN) =>
            {
                let (total, valid) = Isa::detect().integer_sum(values, validity);
                s.sum.add_i128(total);
                if let Some(squares) = s.squares.as_mut() {
                    add_integer_squares(values, validity, squares);
                }
                let tally = Tally {
                    valid,
                    ..Tally::default()
                };
                s.counts.add_tally(&tally, values.len());
            }
            _ => return Err(mismatch()),
        }
        if let Some(e) = &mut self.extremes {
            e.add(values, validity);
        }
        if width(&T::DATA_TYPE) > width(&self.input) {
            self.input = T::DATA_TYPE;
        }
        Ok(())
    }

    /// Merges another state exactly. Floats widen (a Float32 state merged
    /// into a Float64 one, or the other way round, gives a Float64 state);
    /// parts that only one of the two computes are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] naming both types if the states hold
    /// different kinds of number (integers and floats, signed and unsigned);
    /// [`Error::StateOverflow`] if a count would pass `u64::MAX`. `self` is
    /// then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use mapmean::kernel::{ExactState, Parts};
    /// let mut a = ExactState::new(&DataType::Float32, Parts::default())?;
    /// a.update_values(&[0.5_f32], None)?;
    /// let mut b = ExactState::new(&DataType::Float64, Parts::default())?;
    /// b.update_values(&[0.1_f64], None)?;
    /// a.merge(&b)?;
    /// assert_eq!(a.input_type(), &DataType::Float64);
    /// let mut ints = ExactState::new(&DataType::Int32, Parts::default())?;
    /// ints.update_values(&[7i32], None)?;
    /// assert!(a.merge(&ints).is_err());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn merge(&mut self, other: &ExactState) -> Result<()> {
        let mismatch = || Error::TypeMismatch {
            left: self.input.to_string(),
            right: other.input.to_string(),
        };
        let (da, db) = (self.domain(), other.domain());
        let incompatible = da != db && !(da <= Domain::Float64 && db <= Domain::Float64);
        if incompatible && self.is_pristine() {
            // An empty state (`MeanState()` in Python, say) takes the other's
            // type, keeping the parts both have.
            let mut adopted = ExactState::new(&other.input, self.parts.intersection(other.parts))?;
            adopted.merge(other)?;
            *self = adopted;
            return Ok(());
        }
        if incompatible && other.is_pristine() {
            self.parts = self.parts.intersection(other.parts);
            let mut kept = ExactState::new(&self.input, self.parts)?;
            kept.merge(self)?;
            *self = kept;
            return Ok(());
        }
        let widened;
        let (left, right): (&ExactState, &ExactState) = if da == db {
            (self, other)
        } else if da == Domain::Float32 && db == Domain::Float64 {
            widened = self.widened();
            (&widened, other)
        } else if da == Domain::Float64 && db == Domain::Float32 {
            widened = other.widened();
            (self, &widened)
        } else {
            return Err(mismatch());
        };
        let parts = left.parts.intersection(right.parts);
        let counts = left.counts().merged(&right.counts())?;
        let core = match (&left.core, &right.core) {
            (Core::Float32(a), Core::Float32(b)) => {
                let mut m = *a;
                m.merge(b)?;
                Core::Float32(m)
            }
            // Only one of the two has squares: the merged state has none.
            (Core::Float32(a), Core::Float32Moments(b))
            | (Core::Float32Moments(b), Core::Float32(a)) => {
                let mut m = *a;
                m.merge(&b.mean)?;
                Core::Float32(m)
            }
            (Core::Float32Moments(a), Core::Float32Moments(b)) => {
                let mut m = *a;
                m.merge(b)?;
                Core::Float32Moments(m)
            }
            (Core::Float64(a), Core::Float64(b)) => {
                let mut sum = a.sum;
                sum.merge(&b.sum);
                let squares = match (&a.squares, &b.squares) {
                    (Some(x), Some(y)) if parts.squares => {
                        let mut s = **x;
                        s.merge(y);
                        Some(Box::new(s))
                    }
                    _ => None,
                };
                Core::Float64(Box::new(Float64Sums {
                    counts,
                    sum,
                    squares,
                }))
            }
            (Core::Integer(a), Core::Integer(b)) => {
                let mut sum = a.sum;
                sum.merge(&b.sum);
                let squares = match (&a.squares, &b.squares) {
                    (Some(x), Some(y)) if parts.squares => {
                        let mut s = *x;
                        s.merge(y);
                        Some(s)
                    }
                    _ => None,
                };
                Core::Integer(IntegerSums {
                    counts,
                    sum,
                    squares,
                })
            }
            _ => return Err(mismatch()),
        };
        let extremes = match (&left.extremes, &right.extremes) {
            (Some(a), Some(b)) if parts.extremes => {
                let mut e = *a;
                if !e.merge(b) {
                    return Err(mismatch());
                }
                Some(e)
            }
            _ => None,
        };
        let input = if width(&right.input) > width(&left.input) {
            right.input.clone()
        } else {
            left.input.clone()
        };
        *self = ExactState {
            input,
            parts,
            core,
            extremes,
        };
        Ok(())
    }

    /// Adds one valid value, for a grouped computation that feeds each
    /// group's state row by row (`crate::grouped`): the scalar reference path
    /// of every part, exact like the block passes. The caller checked that
    /// `T`'s domain is the state's (or Float32 values into a Float64 state)
    /// and counts rows far below `2^64`, so the counts are not checked; the
    /// state's input type is the caller's to widen ([`ExactState::set_input`]).
    #[inline]
    pub(crate) fn add_one<T: Native>(&mut self, x: T) {
        match &mut self.core {
            Core::Float32(m) => super::reference::add_valid(m, x.to_f64() as f32),
            Core::Float32Moments(m) => {
                let x = x.to_f64() as f32;
                super::reference::add_valid(&mut m.mean, x);
                if x.is_finite() {
                    m.squares.add_f32(x);
                }
            }
            Core::Float64(f) => {
                let x = x.to_f64();
                let c = &mut f.counts;
                c.count += 1;
                if x.is_nan() {
                    c.nan_count += 1;
                } else if x == f64::INFINITY {
                    c.pos_inf_count += 1;
                } else if x == f64::NEG_INFINITY {
                    c.neg_inf_count += 1;
                } else {
                    add_f64_to_wide(&mut f.sum, x);
                    if let Some(squares) = f.squares.as_deref_mut() {
                        let bits = x.to_bits();
                        let e = ((bits >> 52) & 0x7ff) as u32;
                        let m = u128::from((bits & ((1 << 52) - 1)) | (u64::from(e != 0) << 52));
                        squares.add_shifted(m * m, 2 * (e.max(1) - 1), false);
                    }
                }
            }
            Core::Integer(s) => {
                let x = x.to_i128();
                s.counts.count += 1;
                s.sum.add_i128(x);
                if let Some(squares) = s.squares.as_mut() {
                    let m = x.unsigned_abs();
                    squares.add_shifted(m * m, 0, false);
                }
            }
        }
        if let Some(e) = &mut self.extremes {
            e.add_one(x);
        }
    }

    /// Counts `n` null rows (see [`ExactState::add_one`]).
    #[inline]
    pub(crate) fn add_nulls(&mut self, n: u64) {
        match &mut self.core {
            Core::Float32(m) => m.null_count += n,
            Core::Float32Moments(m) => m.mean.null_count += n,
            Core::Float64(f) => f.counts.null_count += n,
            Core::Integer(s) => s.counts.null_count += n,
        }
    }

    /// Sets the input type a grouped computation read (the widest of its
    /// batches; of the state's kind of number).
    pub(crate) fn set_input(&mut self, input: &DataType) {
        debug_assert!(domain_of(input).is_some());
        self.input = input.clone();
    }

    /// Bytes the state keeps on the heap beyond its own `size_of`: a
    /// Float64 state's boxed sums (and squares); nothing for other domains.
    /// For memory accounting (DataFusion's `GroupsAccumulator::size`).
    #[cfg(feature = "datafusion")]
    pub(crate) fn heap_size(&self) -> usize {
        match &self.core {
            Core::Float64(f) => {
                std::mem::size_of::<Float64Sums>()
                    + f.squares
                        .as_ref()
                        .map_or(0, |_| std::mem::size_of::<Wide<F64_SQUARE_LIMBS>>())
            }
            _ => 0,
        }
    }

    /// Whether nothing was ever added: no rows at all.
    fn is_pristine(&self) -> bool {
        let c = self.counts();
        c.count == 0 && c.null_count == 0
    }

    /// A Float16/Float32 state as a Float64 one, exactly: the sum moves from
    /// units of `2^-149` to units of `2^-1074`, the squares from `2^-298` to
    /// `2^-2148`.
    pub(crate) fn widened(&self) -> ExactState {
        let (mean, squares) = match &self.core {
            Core::Float32(m) => (m, None),
            Core::Float32Moments(m) => (&m.mean, Some(&m.squares)),
            _ => return self.clone(),
        };
        let sum =
            Wide::<6>::from_limbs(mean.exact_sum.to_limbs()).widen::<F64_SUM_LIMBS>(1074 - 149);
        let squares = squares.map(|s: &ExactSquareSum| {
            Box::new(Wide::from_limbs(s.to_limbs()).widen::<F64_SQUARE_LIMBS>(2148 - 298))
        });
        ExactState {
            input: DataType::Float64,
            parts: self.parts,
            core: Core::Float64(Box::new(Float64Sums {
                counts: Counts::of_mean(mean),
                sum,
                squares,
            })),
            extremes: self.extremes,
        }
    }

    /// The exact sums as integers with their unit.
    pub(crate) fn exact_sums(&self) -> ExactSums {
        match &self.core {
            Core::Float32(m) => ExactSums {
                sum: limbs_to_bigint(&m.exact_sum.to_limbs()),
                squares: None,
                unit_exp: -149,
            },
            Core::Float32Moments(m) => ExactSums {
                sum: limbs_to_bigint(&m.mean.exact_sum.to_limbs()),
                squares: Some(BigUint::from_bytes_le(
                    &m.squares
                        .to_limbs()
                        .iter()
                        .flat_map(|l| l.to_le_bytes())
                        .collect::<Vec<_>>(),
                )),
                unit_exp: -149,
            },
            Core::Float64(f) => ExactSums {
                sum: f.sum.to_bigint(),
                squares: f.squares.as_ref().and_then(|s| s.to_bigint().to_biguint()),
                unit_exp: F64_UNIT_EXP,
            },
            Core::Integer(i) => ExactSums {
                sum: i.sum.to_bigint(),
                squares: i.squares.as_ref().and_then(|s| s.to_bigint().to_biguint()),
                unit_exp: 0,
            },
        }
    }

    pub(crate) fn from_parts(
        input: DataType,
        parts: Parts,
        core: Core,
        extremes: Option<Extremes>,
    ) -> Self {
        ExactState {
            input,
            parts,
            core,
            extremes,
        }
    }
}

/// Values converted at a time from Float16 (to Float32) or from Float16 and
/// Float32 (to Float64): 16 KiB of `f32`.
const CONVERT_LEN: usize = 4096;

/// Runs `f` over `values` converted by `convert` (Float16 to Float32, or
/// Float16/32 to Float64: exact) in pieces of [`CONVERT_LEN`], each with its
/// validity.
fn converted<T: Native, U>(
    values: &[T],
    validity: Option<Validity<'_>>,
    convert: impl Fn(T) -> U,
    mut f: impl FnMut(&[U], Option<Validity<'_>>) -> Result<()>,
) -> Result<()> {
    let mut buffer = Vec::with_capacity(values.len().min(CONVERT_LEN));
    for (i, chunk) in values.chunks(CONVERT_LEN).enumerate() {
        buffer.clear();
        buffer.extend(chunk.iter().map(|&x| convert(x)));
        f(&buffer, validity.map(|v| v.shifted(i * CONVERT_LEN)))?;
    }
    Ok(())
}

fn limbs_to_bigint(limbs: &[u64]) -> BigInt {
    let bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    BigInt::from_signed_bytes_le(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_states_widen_exactly_into_float64_ones() {
        let mut a = ExactState::new(&DataType::Float32, Parts::ALL).unwrap();
        a.update_values(&[3e37_f32, 0.75, f32::MIN_POSITIVE / 8.0], None)
            .unwrap();
        let mut b = ExactState::new(&DataType::Float64, Parts::ALL).unwrap();
        b.update_values(&[-3e37_f32 as f64], None).unwrap();
        let mut direct = ExactState::new(&DataType::Float64, Parts::ALL).unwrap();
        direct
            .update_values(
                &[
                    3e37_f32 as f64,
                    0.75,
                    (f32::MIN_POSITIVE / 8.0) as f64,
                    -3e37_f32 as f64,
                ],
                None,
            )
            .unwrap();
        let mut ab = a.clone();
        ab.merge(&b).unwrap();
        let mut ba = b.clone();
        ba.merge(&a).unwrap();
        assert_eq!(ab.exact_sums().sum, direct.exact_sums().sum);
        assert_eq!(ab.exact_sums().squares, direct.exact_sums().squares);
        assert_eq!(ab, ba);
    }

    #[test]
    fn integers_and_floats_do_not_merge() {
        let mut a = ExactState::new(&DataType::Int64, Parts::default()).unwrap();
        a.update_values(&[5i64], None).unwrap();
        let mut b = ExactState::new(&DataType::UInt64, Parts::default()).unwrap();
        b.update_values(&[5u64], None).unwrap();
        let err = a.merge(&b).unwrap_err().to_string();
        assert!(err.contains("Int64") && err.contains("UInt64"), "{err}");
        assert!(a.update_values(&[1.0_f64], None).is_err());
        // An empty state of another kind takes the other's type.
        let mut empty = ExactState::new(&DataType::Float32, Parts::ALL).unwrap();
        empty.merge(&a).unwrap();
        assert_eq!(
            (empty.input_type(), empty.parts()),
            (&DataType::Int64, Parts::default())
        );
        a.merge(&ExactState::new(&DataType::Float32, Parts::ALL).unwrap())
            .unwrap();
        assert_eq!(a.counts().count, 1);
    }
}
