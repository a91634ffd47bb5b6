//! The registry of statistics: each [`Statistic`] says what it needs from an
//! [`ExactState`] ([`Statistic::needs`]), what type its result has for an
//! input type ([`Statistic::output_type`]), and how it finishes
//! ([`Statistic::finish`]). Front ends (results, CLI, Python, DataFusion)
//! loop over [`Statistic::ALL`] or look statistics up by name; adding a
//! statistic means adding it here.
//!
//! Semantics follow `pyarrow.compute` (`mean`, `sum`, `variance`,
//! `stddev`, `min_max`): nulls skipped unless `skip_nulls` is false, null
//! below `min_count` valid values, NaN and infinities as IEEE arithmetic on
//! the exact values gives them; see `docs/semantics.md`.

use arrow_schema::DataType;
use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{ToPrimitive, Zero};

use super::native::{Domain, Extremes};
use super::rounding;
use super::state::{Core, Counts, ExactState, Parts};
use crate::error::{Error, Result};

/// A statistic mapmean computes exactly.
///
/// # Example
///
/// ```
/// use mapmean::kernel::Statistic;
/// let names: Vec<_> = Statistic::ALL.iter().map(|s| s.name()).collect();
/// assert_eq!(names, ["mean", "sum", "variance", "stddev", "min", "max"]);
/// assert_eq!(Statistic::from_name("stddev"), Some(Statistic::Stddev));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// The mean, correctly rounded to Float64.
    Mean,
    /// The sum: correctly rounded Float64 for floats, exact Int64 / UInt64
    /// for integers (an error where it does not fit).
    Sum,
    /// The variance (`ddof` as in pyarrow), correctly rounded.
    Variance,
    /// The standard deviation: the correctly rounded square root of the
    /// exact variance.
    Stddev,
    /// The smallest valid value, of the input type.
    Min,
    /// The largest valid value, of the input type.
    Max,
}

/// How a statistic is finished, as the options of `pyarrow.compute`.
///
/// # Example
///
/// ```
/// use mapmean::kernel::{Statistic, StatisticOptions};
/// let options = StatisticOptions::for_statistic(Statistic::Variance);
/// assert_eq!((options.min_count, options.ddof), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatisticOptions {
    /// Ignore nulls (`true`) or give null when any value is null.
    pub skip_nulls: bool,
    /// Null when fewer valid values than this.
    pub min_count: u64,
    /// Delta degrees of freedom of the variance and standard deviation.
    pub ddof: i64,
}

impl Default for StatisticOptions {
    fn default() -> Self {
        StatisticOptions {
            skip_nulls: true,
            min_count: 1,
            ddof: 0,
        }
    }
}

impl StatisticOptions {
    /// pyarrow's defaults for `statistic`: `min_count` 1, except 0 for the
    /// variance and standard deviation.
    pub fn for_statistic(statistic: Statistic) -> Self {
        StatisticOptions {
            min_count: statistic.default_min_count(),
            ..StatisticOptions::default()
        }
    }
}

/// A finished statistic: null, or a value of the statistic's output type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Null (no value, or excluded by the options).
    Null,
    /// A Float16/Float32/Float64 result (exact as `f64`).
    Float(f64),
    /// A signed integer result.
    Signed(i64),
    /// An unsigned integer result.
    Unsigned(u64),
}

impl Value {
    /// The value as `f64` (`None` for null; integers may round).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Null => None,
            Value::Float(x) => Some(x),
            Value::Signed(x) => Some(x as f64),
            Value::Unsigned(x) => Some(x as f64),
        }
    }
}

impl Statistic {
    /// Every statistic, in the order front ends list them.
    pub const ALL: [Statistic; 6] = [
        Statistic::Mean,
        Statistic::Sum,
        Statistic::Variance,
        Statistic::Stddev,
        Statistic::Min,
        Statistic::Max,
    ];

    /// The name, as in `pyarrow.compute` and in result columns.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Sum => "sum",
            Statistic::Variance => "variance",
            Statistic::Stddev => "stddev",
            Statistic::Min => "min",
            Statistic::Max => "max",
        }
    }

    /// The statistic called `name` (also `"var"` and `"std"`).
    pub fn from_name(name: &str) -> Option<Statistic> {
        Some(match name {
            "mean" => Statistic::Mean,
            "sum" => Statistic::Sum,
            "variance" | "var" => Statistic::Variance,
            "stddev" | "std" => Statistic::Stddev,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            _ => return None,
        })
    }

    /// What a state must compute for this statistic.
    pub fn needs(self) -> Parts {
        match self {
            Statistic::Mean | Statistic::Sum => Parts::default(),
            Statistic::Variance | Statistic::Stddev => Parts {
                squares: true,
                extremes: false,
            },
            Statistic::Min | Statistic::Max => Parts {
                squares: false,
                extremes: true,
            },
        }
    }

    /// pyarrow's default `min_count`: 0 for the variance and standard
    /// deviation, 1 for the others.
    pub fn default_min_count(self) -> u64 {
        match self {
            Statistic::Variance | Statistic::Stddev => 0,
            _ => 1,
        }
    }

    /// The result type for values of `input`: Float64 for the mean,
    /// variance and standard deviation; Float64, Int64 or UInt64 for the
    /// sum; the input type for the extremes.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use mapmean::kernel::Statistic;
    /// assert_eq!(Statistic::Sum.output_type(&DataType::UInt8), DataType::UInt64);
    /// assert_eq!(Statistic::Max.output_type(&DataType::Float16), DataType::Float16);
    /// ```
    pub fn output_type(self, input: &DataType) -> DataType {
        match self {
            Statistic::Mean | Statistic::Variance | Statistic::Stddev => DataType::Float64,
            Statistic::Sum => match input {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    DataType::Int64
                }
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                    DataType::UInt64
                }
                _ => DataType::Float64,
            },
            Statistic::Min | Statistic::Max => input.clone(),
        }
    }

    /// The statistic of `state` under `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the state does not compute what the
    /// statistic needs (a mean-only state asked for a variance);
    /// [`Error::SumOverflow`] for an integer sum outside Int64 / UInt64.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use mapmean::kernel::{ExactState, Parts, Statistic, StatisticOptions, Value};
    /// let mut state = ExactState::new(&DataType::Int64, Parts::ALL)?;
    /// state.update_values(&[1i64 << 62, 1 << 62], None)?;
    /// let options = StatisticOptions::default();
    /// assert_eq!(Statistic::Mean.finish(&state, &options)?, Value::Float(2f64.powi(62)));
    /// assert!(Statistic::Sum.finish(&state, &options).is_err()); // 2^63 is no Int64
    /// assert_eq!(Statistic::Min.finish(&state, &options)?, Value::Signed(1 << 62));
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn finish(self, state: &ExactState, options: &StatisticOptions) -> Result<Value> {
        if !state.parts().covers(self.needs()) {
            return Err(Error::InvalidArgument(format!(
                "this state was computed without what the {} needs ({})",
                self.name(),
                if self.needs().squares {
                    "the sum of squares: use a moments state"
                } else {
                    "the extremes"
                }
            )));
        }
        let c = state.counts();
        if (!options.skip_nulls && c.null_count > 0) || c.count < options.min_count {
            return Ok(Value::Null);
        }
        match self {
            Statistic::Mean => Ok(mean(state, &c)),
            Statistic::Sum => sum(state, &c),
            Statistic::Variance | Statistic::Stddev => {
                let root = self == Statistic::Stddev;
                Ok(variance(state, &c, options.ddof, root))
            }
            Statistic::Min | Statistic::Max => Ok(extreme(state, &c, self == Statistic::Max)),
        }
    }
}

/// NaN or `±inf` when the special values decide a sum or a mean, as IEEE
/// arithmetic does: NaN if a valid value is NaN or both infinities occur.
fn special(c: &Counts) -> Option<f64> {
    if c.nan_count > 0 || (c.pos_inf_count > 0 && c.neg_inf_count > 0) {
        Some(f64::NAN)
    } else if c.pos_inf_count > 0 {
        Some(f64::INFINITY)
    } else if c.neg_inf_count > 0 {
        Some(f64::NEG_INFINITY)
    } else {
        None
    }
}

/// `num · 2^exp / den` correctly rounded, for a signed numerator.
fn signed_quotient(num: &BigInt, den: &BigUint, exp: i64) -> f64 {
    let magnitude = rounding::quotient(num.magnitude(), den, exp);
    if num.sign() == Sign::Minus {
        -magnitude
    } else {
        magnitude
    }
}

fn mean(state: &ExactState, c: &Counts) -> Value {
    if let Some(x) = special(c) {
        return Value::Float(x);
    }
    if let Some(m) = state.as_mean_state() {
        // The Float32 kernel's own rounding: the fast path of small calls.
        return Value::Float(m.exact_sum.mean(m.count));
    }
    if c.count == 0 {
        return Value::Float(f64::NAN);
    }
    let sums = state.exact_sums();
    Value::Float(signed_quotient(
        &sums.sum,
        &BigUint::from(c.count),
        sums.unit_exp,
    ))
}

fn sum(state: &ExactState, c: &Counts) -> Result<Value> {
    match state.domain() {
        Domain::Float32 | Domain::Float64 => {
            if let Some(x) = special(c) {
                return Ok(Value::Float(x));
            }
            if let Some(m) = state.as_mean_state() {
                return Ok(Value::Float(m.exact_sum.to_f64()));
            }
            let sums = state.exact_sums();
            Ok(Value::Float(signed_quotient(
                &sums.sum,
                &BigUint::from(1u8),
                sums.unit_exp,
            )))
        }
        Domain::Signed => {
            let s = state.exact_sums().sum;
            s.to_i64().map(Value::Signed).ok_or(Error::SumOverflow {
                sum: s.to_string(),
                result_type: "Int64",
            })
        }
        Domain::Unsigned => {
            let s = state.exact_sums().sum;
            s.to_u64().map(Value::Unsigned).ok_or(Error::SumOverflow {
                sum: s.to_string(),
                result_type: "UInt64",
            })
        }
    }
}

fn variance(state: &ExactState, c: &Counts, ddof: i64, root: bool) -> Value {
    if i128::from(c.count) <= i128::from(ddof) {
        return Value::Null;
    }
    if c.nan_count > 0 || c.pos_inf_count > 0 || c.neg_inf_count > 0 {
        return Value::Float(f64::NAN);
    }
    if c.count == 0 {
        // Only reachable with a negative `ddof`: pyarrow gives 0.0.
        return Value::Float(0.0);
    }
    if let (Some(m), Core::Float32Moments(_)) = (state.as_moments_state(), state.core()) {
        // The Float32 state's own finish (the same exact arithmetic).
        let options = super::VarianceOptions {
            ddof: ddof.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            skip_nulls: true,
            min_count: 0,
        };
        let v = if root {
            m.stddev_with(&options)
        } else {
            m.variance_with(&options)
        };
        return v.map_or(Value::Null, Value::Float);
    }
    let sums = state.exact_sums();
    let Some(q) = sums.squares else {
        return Value::Null;
    };
    let n = BigInt::from(c.count);
    let num = &n * BigInt::from(q) - &sums.sum * &sums.sum;
    // n·Q - S² >= 0 (Cauchy–Schwarz) for every state built from data.
    let num = num.to_biguint().unwrap_or_default();
    let Some(den) = (&n * (n.clone() - BigInt::from(ddof))).to_biguint() else {
        return Value::Null;
    };
    if den.is_zero() {
        return Value::Null;
    }
    let exp = 2 * sums.unit_exp;
    Value::Float(if root {
        rounding::sqrt_quotient(&num, &den, exp)
    } else {
        rounding::quotient(&num, &den, exp)
    })
}

fn extreme(state: &ExactState, c: &Counts, max: bool) -> Value {
    let Some(e) = state.extremes() else {
        return Value::Null;
    };
    if c.count == 0 {
        return Value::Null;
    }
    match *e {
        Extremes::Float { min: lo, max: hi } => {
            if c.count == c.nan_count {
                Value::Float(f64::NAN)
            } else {
                Value::Float(if max { hi } else { lo })
            }
        }
        Extremes::Signed { min: lo, max: hi } => Value::Signed(if max { hi } else { lo }),
        Extremes::Unsigned { min: lo, max: hi } => Value::Unsigned(if max { hi } else { lo }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_traits::One;

    fn state<T: super::super::native::Native>(values: &[T]) -> ExactState {
        let mut s = ExactState::new(&T::DATA_TYPE, Parts::ALL).unwrap();
        s.update_values(values, None).unwrap();
        s
    }

    fn finish(s: &ExactState, stat: Statistic) -> Value {
        stat.finish(s, &StatisticOptions::for_statistic(stat))
            .unwrap()
    }

    /// The exact rational `x` (an f64) as num / 2^1074.
    fn units(x: f64) -> BigInt {
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as u32;
        let m = (bits & ((1 << 52) - 1)) | (u64::from(e != 0) << 52);
        let v = BigInt::from(m) << (e.max(1) - 1);
        if bits >> 63 == 1 {
            -v
        } else {
            v
        }
    }

    #[test]
    fn float64_sums_cancel_exactly() {
        let values: Vec<f64> = [1e308, 1.0, -1e308].repeat(1000);
        let s = state(&values);
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(1.0 / 3.0));
        assert_eq!(finish(&s, Statistic::Sum), Value::Float(1000.0));
        // Four copies of the largest double: the sum overflows, the mean not.
        let s = state(&[f64::MAX; 4]);
        assert_eq!(finish(&s, Statistic::Sum), Value::Float(f64::INFINITY));
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(f64::MAX));
        assert_eq!(finish(&s, Statistic::Variance), Value::Float(0.0));
    }

    #[test]
    fn one_bin_of_full_significands_across_many_carries_stays_exact() {
        // 2 - 2^-52: the largest significand, every value in one exponent bin;
        // 5000 of them cross several carries of the bins, with and without
        // nulls shifting the chunks.
        let x = 2.0 - f64::EPSILON;
        let s = state(&vec![x; 5000]);
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(x));
        assert_eq!(finish(&s, Statistic::Variance), Value::Float(0.0));
        let bits = vec![0b1111_1110u8; 700];
        let mut s = ExactState::new(&DataType::Float64, Parts::ALL).unwrap();
        s.update_values(
            &vec![x; 4999],
            Some(super::super::Validity {
                bits: &bits,
                offset: 3,
            }),
        )
        .unwrap();
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(x));
        assert_eq!(finish(&s, Statistic::Min), Value::Float(x));
    }

    #[test]
    fn subnormal_means_round_correctly() {
        let tiny = f64::from_bits(1); // 2^-1074
        let s = state(&[tiny, tiny, tiny, 0.0]);
        // 3/4 of the smallest subnormal rounds to it.
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(tiny));
        let s = state(&[tiny, 0.0, 0.0, 0.0]);
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(0.0)); // 1/4 rounds down
        let s = state(&[tiny, 0.0]);
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(0.0)); // a tie: to even
        let s = state(&[f64::from_bits(3), 0.0]);
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(f64::from_bits(2)));
        // 1.5 ulp: to even
    }

    #[test]
    fn integer_sums_never_wrap() {
        let s = state(&[i64::MAX, i64::MAX]);
        assert!(matches!(
            Statistic::Sum.finish(&s, &StatisticOptions::default()),
            Err(Error::SumOverflow { .. })
        ));
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(i64::MAX as f64));
        assert_eq!(finish(&s, Statistic::Variance), Value::Float(0.0));
        let s = state(&[u64::MAX, 1]);
        assert!(Statistic::Sum
            .finish(&s, &StatisticOptions::default())
            .is_err());
        let s = state(&[i64::MIN, i64::MAX]);
        assert_eq!(finish(&s, Statistic::Sum), Value::Signed(-1));
        assert_eq!(finish(&s, Statistic::Min), Value::Signed(i64::MIN));
        let s = state(&[u64::MAX, 0]);
        // variance = (2^64 - 1)^2 / 4
        let expected = rounding::quotient(
            &(BigUint::from(u64::MAX) * BigUint::from(u64::MAX)),
            &BigUint::from(4u8),
            0,
        );
        assert_eq!(finish(&s, Statistic::Variance), Value::Float(expected));
        assert_eq!(finish(&s, Statistic::Max), Value::Unsigned(u64::MAX));
    }

    #[test]
    fn float64_variance_matches_the_exact_formula() {
        let values = [1e16 + 2.0, 1e16 + 4.0, 1e16 + 6.0, 1e16];
        let s = state(&values);
        let n = BigInt::from(values.len());
        let sum: BigInt = values.iter().map(|&x| units(x)).sum();
        let sq: BigInt = values.iter().map(|&x| units(x) * units(x)).sum();
        let num = (&n * sq - &sum * &sum).to_biguint().unwrap();
        let den = (&n * &n).to_biguint().unwrap();
        let expected = rounding::quotient(&num, &den, -2148);
        assert_eq!(finish(&s, Statistic::Variance), Value::Float(expected));
        assert_eq!(expected, 5.0);
        let _ = BigUint::one();
    }

    #[test]
    fn float16_values_are_exact() {
        use half::f16;
        let values = [f16::MAX, f16::MAX, f16::from_bits(1), f16::from_f32(-0.5)];
        let s = state(&values);
        let exact = (65504.0 * 2.0 + 2f64.powi(-24) - 0.5) / 4.0;
        assert_eq!(finish(&s, Statistic::Mean), Value::Float(exact));
        assert_eq!(finish(&s, Statistic::Max), Value::Float(65504.0));
        assert_eq!(finish(&s, Statistic::Min), Value::Float(-0.5));
    }

    #[test]
    fn extremes_of_nan_only_data_are_nan() {
        let s = state(&[f64::NAN]);
        assert!(matches!(finish(&s, Statistic::Min), Value::Float(x) if x.is_nan()));
        let s = state::<f64>(&[]);
        assert_eq!(finish(&s, Statistic::Max), Value::Null);
    }
}
