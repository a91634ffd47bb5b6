//! Exact aggregates of mapmean for DataFusion SQL (cargo feature
//! `datafusion`): `exact_mean`, `exact_sum`, `exact_var`, `exact_var_pop`,
//! `exact_stddev` and `exact_stddev_pop`.
//!
//! Each takes a numeric column of any type (REAL, DOUBLE, TINYINT ...
//! BIGINT, their unsigned forms, Float16; dictionary-encoded ones are decoded
//! first) and returns a Float64 correctly rounded from the exact value —
//! `exact_sum` of an integer column returns its exact BIGINT (or BIGINT
//! UNSIGNED) sum, and an error where it does not fit — with the null, NaN and
//! infinity rules of `pyarrow.compute` (see [`statistic`]):
//!
//! | SQL                                          | result                                 | NULL when                  | NaN when                                   | `±inf` when |
//! |----------------------------------------------|----------------------------------------|----------------------------|--------------------------------------------|-------------|
//! | `exact_mean(x)`                              | the mean                               | no valid value             | a NaN, or both infinities                  | infinities of one sign |
//! | `exact_sum(x)`                               | the sum (never `-0.0`)                 | no valid value             | a NaN, or both infinities                  | infinities of one sign |
//! | `exact_var(x)`, alias `exact_var_samp(x)`    | the sample variance (divisor `n - 1`)  | fewer than 2 valid values  | any NaN or infinity                        | never |
//! | `exact_var_pop(x)`                           | the population variance (divisor `n`)  | no valid value             | any NaN or infinity                        | never |
//! | `exact_stddev(x)`, alias `exact_stddev_samp(x)` | the sample standard deviation       | fewer than 2 valid values  | any NaN or infinity                        | never |
//! | `exact_stddev_pop(x)`                        | the population standard deviation      | no valid value             | any NaN or infinity                        | never |
//!
//! NULL values are skipped; the NULL cases are those of DataFusion's own
//! `sum`, `var_samp`, `var_pop`, `stddev` and `stddev_pop`. The variance is
//! `(n·Σx² - (Σx)²) / (n·(n - ddof))` in exact integers, rounded once
//! (exactly `0.0` for constant data); the standard deviation is the
//! correctly rounded square root of that exact variance, not the root of a
//! rounded one.
//!
//! Every input type keeps exact integer states: for Float16 and Float32
//! the block kernel's [`MeanState`](crate::MeanState) (the mean and the sum)
//! or [`MomentsState`](crate::MomentsState) (which adds the exact `Σx²`, for
//! the variance and the standard deviation), for Float64 and the integer
//! types the kernel's [`ExactState`](crate::kernel::ExactState) with its wide
//! integer sums. The partial state that crosses partitions (DataFusion's
//! multi-phase aggregation) is one Binary column holding the state's byte
//! form ([`ExactState::to_bytes`](crate::kernel::ExactState::to_bytes):
//! for Float32 the 96- or 176-byte version-1 form of
//! [`MeanState::to_bytes`](crate::MeanState::to_bytes) and
//! [`MomentsState::to_bytes`](crate::MomentsState::to_bytes), version 2 for
//! every other type), validated when it is merged; states are exact
//! integers, so the result is bitwise the same for any `target_partitions`,
//! batch size or row order.
//!
//! - [`statistic`]: what each aggregate computes ([`Statistic`]) and the
//!   Float32 state of the one-group accumulator ([`GroupState`]);
//! - [`accumulator`]: the one-group [`Accumulator`] of Float32 input, whole
//!   arrays through the block kernel;
//! - [`any_type`]: the one-group [`ExactStateAccumulator`] of every other
//!   numeric type, through the kernel's
//!   [`ExactState`](crate::kernel::ExactState) and the registry's
//!   [`Statistic::finish`](crate::kernel::Statistic::finish);
//! - [`groups`]: the [`GroupsAccumulator`] that `GROUP BY` uses for every
//!   numeric type: flat per-group states in the crate's grouped-state core
//!   ([`crate::grouped`], the one
//!   [`GroupedStates`](crate::grouped::GroupedStates) uses), each group
//!   finished by the registry to the bits one [`ExactStateAccumulator`]
//!   would give.
//!
//! Non-numeric input (strings, booleans, decimals, ...) is an error at
//! planning time.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use arrow_array::Float64Array;
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! mapmean::datafusion::register(&ctx);
//! let batches = ctx
//!     .sql("SELECT exact_mean(x), exact_sum(x), exact_var(x) \
//!           FROM (SELECT CAST(x AS REAL) AS x FROM (VALUES (3e37), (0.75), (-3e37)) AS t(x))")
//!     .await?
//!     .collect()
//!     .await?;
//! let column = |i: usize| batches[0].column(i).as_any().downcast_ref::<Float64Array>().map(|c| c.value(0));
//! assert_eq!(column(0), Some(0.25)); // a float sum says 0.0
//! assert_eq!(column(1), Some(0.75));
//! // The exact sample variance is x² + 0.1875 (x the Float32 nearest 3e37),
//! // whose nearest f64 is x² (exact in f64: 48 significant bits).
//! let x = f64::from(3e37_f32);
//! assert_eq!(column(2), Some(x * x));
//! # Ok(())
//! # }
//! ```

pub mod accumulator;
pub mod any_type;
pub mod groups;
pub mod statistic;

use std::sync::Arc;

use ::datafusion::common::{not_impl_err, plan_datafusion_err, plan_err, DataFusionError, Result};
use ::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use ::datafusion::logical_expr::utils::format_state_name;
use ::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, ReversedUDAF, Signature,
    Volatility,
};
use ::datafusion::prelude::SessionContext;
use arrow_schema::{DataType, Field, FieldRef};
use datafusion_ffi::udaf::FFI_AggregateUDF;

pub use accumulator::{ExactAccumulator, ExactMeanAccumulator};
pub use any_type::ExactStateAccumulator;
pub use groups::{ExactGroupsAccumulator, ExactMeanGroupsAccumulator};
pub use statistic::{GroupState, Mean, Statistic, Stddev, Sum, Variance};

/// The SQL name of `exact_mean` (see [`Statistic::name`] for the others).
pub const NAME: &str = "exact_mean";

/// The `exact_mean` aggregate function, ready to register on any
/// DataFusion `SessionContext` (or to call from the DataFrame API).
///
/// # Example
///
/// ```
/// use datafusion::execution::FunctionRegistry; // for `udaf`
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// ctx.register_udaf(mapmean::datafusion::exact_mean());
/// assert!(ctx.udaf("exact_mean").is_ok());
/// ```
pub fn exact_mean() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Mean))
}

/// The `exact_sum` aggregate function: the correctly rounded exact sum
/// ([`Sum`]), NULL for a group without valid values, as SQL `SUM`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> datafusion::error::Result<()> {
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// ctx.register_udaf(mapmean::datafusion::exact_sum());
/// let sql = "SELECT exact_sum(CAST(x AS REAL)) FROM (VALUES (1e8), (1.0), (-1e8)) AS t(x)";
/// let batches = ctx.sql(sql).await?.collect().await?;
/// assert_eq!(batches[0].column(0).as_any().downcast_ref::<arrow_array::Float64Array>().map(|s| s.value(0)), Some(1.0));
/// # Ok(())
/// # }
/// ```
pub fn exact_sum() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Sum))
}

/// The `exact_var` aggregate function (alias `exact_var_samp`): the sample
/// variance ([`Variance::Sample`]), NULL for fewer than two valid values, as
/// SQL `var_samp`.
///
/// # Example
///
/// ```
/// use datafusion::execution::FunctionRegistry; // for `udaf`
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// ctx.register_udaf(mapmean::datafusion::exact_var());
/// assert!(ctx.udaf("exact_var").is_ok() && ctx.udaf("exact_var_samp").is_ok());
/// ```
pub fn exact_var() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Variance::Sample))
}

/// The `exact_var_pop` aggregate function: the population variance
/// ([`Variance::Population`]), NULL without valid values, as SQL `var_pop`.
///
/// # Example
///
/// ```
/// assert_eq!(mapmean::datafusion::exact_var_pop().name(), "exact_var_pop");
/// ```
pub fn exact_var_pop() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Variance::Population))
}

/// The `exact_stddev` aggregate function (alias `exact_stddev_samp`): the
/// sample standard deviation ([`Stddev::Sample`]), NULL for fewer than two
/// valid values, as SQL `stddev`.
///
/// # Example
///
/// ```
/// let stddev = mapmean::datafusion::exact_stddev();
/// assert_eq!((stddev.name(), stddev.aliases()), ("exact_stddev", &["exact_stddev_samp".to_string()][..]));
/// ```
pub fn exact_stddev() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Stddev::Sample))
}

/// The `exact_stddev_pop` aggregate function: the population standard
/// deviation ([`Stddev::Population`]), NULL without valid values, as SQL
/// `stddev_pop`.
///
/// # Example
///
/// ```
/// assert_eq!(mapmean::datafusion::exact_stddev_pop().name(), "exact_stddev_pop");
/// ```
pub fn exact_stddev_pop() -> AggregateUDF {
    AggregateUDF::from(ExactAggregate::new(Stddev::Population))
}

/// Every aggregate of this module: [`exact_mean`], [`exact_sum`],
/// [`exact_var`], [`exact_var_pop`], [`exact_stddev`], [`exact_stddev_pop`].
///
/// # Example
///
/// ```
/// let names: Vec<String> = mapmean::datafusion::aggregates().iter().map(|a| a.name().to_string()).collect();
/// assert_eq!(names, ["exact_mean", "exact_sum", "exact_var", "exact_var_pop", "exact_stddev", "exact_stddev_pop"]);
/// ```
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![
        exact_mean(),
        exact_sum(),
        exact_var(),
        exact_var_pop(),
        exact_stddev(),
        exact_stddev_pop(),
    ]
}

/// Registers every aggregate of [`aggregates`] on `ctx` (with its aliases),
/// so SQL can call `exact_mean(x)`, `exact_sum(x)`, `exact_var(x)`, ….
///
/// # Example
///
/// ```
/// use datafusion::execution::FunctionRegistry; // for `udaf`
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// mapmean::datafusion::register(&ctx);
/// assert!(ctx.udaf("exact_mean").is_ok());
/// assert!(ctx.udaf("exact_stddev_samp").is_ok());
/// ```
pub fn register(ctx: &SessionContext) {
    for aggregate in aggregates() {
        ctx.register_udaf(aggregate);
    }
}

/// [`exact_mean`] in the ABI-stable form of `datafusion-ffi` 55 (the same as
/// `ffi("exact_mean")`, see [`ffi`]).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use datafusion::logical_expr::{AggregateUDF, AggregateUDFImpl};
///
/// let ffi = mapmean::datafusion::exact_mean_ffi();
/// // The receiving side turns it back into an aggregate it can register.
/// let imported: Arc<dyn AggregateUDFImpl> = (&ffi).into();
/// assert_eq!(AggregateUDF::new_from_shared_impl(imported).name(), "exact_mean");
/// ```
pub fn exact_mean_ffi() -> FFI_AggregateUDF {
    FFI_AggregateUDF::from(Arc::new(exact_mean()))
}

/// The aggregate called `name` (or one of its aliases) among
/// [`aggregates`], in the ABI-stable form of `datafusion-ffi` 55, for a
/// DataFusion built apart from this crate: another shared library, or
/// datafusion-python, whose `AggregateUDF.from_pycapsule` imports it from a
/// PyCapsule named `datafusion_aggregate_udf` (what the `mapmean-datafusion`
/// Python wheel hands over). The imported aggregate keeps its name and
/// aliases.
///
/// # Errors
///
/// A DataFusion plan error naming the known aggregates if `name` is none of
/// them.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use datafusion::logical_expr::{AggregateUDF, AggregateUDFImpl};
///
/// let ffi = mapmean::datafusion::ffi("exact_var_samp")?;
/// let imported: Arc<dyn AggregateUDFImpl> = (&ffi).into();
/// assert_eq!(AggregateUDF::new_from_shared_impl(imported).name(), "exact_var");
/// assert!(mapmean::datafusion::ffi("exact_median").is_err());
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
pub fn ffi(name: &str) -> Result<FFI_AggregateUDF> {
    let all = aggregates();
    let known: Vec<String> = all.iter().map(|a| a.name().to_string()).collect();
    let aggregate = all
        .into_iter()
        .find(|a| a.name() == name || a.aliases().iter().any(|alias| alias == name))
        .ok_or_else(|| {
            plan_datafusion_err!(
                "mapmean has no aggregate {name:?}; its aggregates are {}",
                known.join(", ")
            )
        })?;
    Ok(FFI_AggregateUDF::from(Arc::new(aggregate)))
}

/// The implementation behind every aggregate of this module, generic over
/// the [`Statistic`]: signature, types and accumulators.
///
/// # Example
///
/// ```
/// use datafusion::logical_expr::AggregateUDFImpl;
/// use mapmean::datafusion::{ExactAggregate, Stddev};
///
/// let stddev = ExactAggregate::new(Stddev::Sample);
/// assert_eq!((stddev.name(), stddev.aliases()), ("exact_stddev", &["exact_stddev_samp".to_string()][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExactAggregate<T: Statistic> {
    statistic: T,
    signature: Signature,
    aliases: Vec<String>,
}

/// The implementation behind [`exact_mean`].
///
/// # Example
///
/// ```
/// use datafusion::logical_expr::AggregateUDFImpl;
/// use mapmean::datafusion::{ExactMean, Mean};
///
/// assert_eq!(ExactMean::new(Mean).name(), "exact_mean");
/// ```
pub type ExactMean = ExactAggregate<Mean>;

impl<T: Statistic> ExactAggregate<T> {
    /// The aggregate computing `statistic`, named and aliased as the
    /// statistic says ([`Statistic::name`], [`Statistic::aliases`]).
    ///
    /// # Example
    ///
    /// ```
    /// use datafusion::logical_expr::AggregateUDF;
    /// use mapmean::datafusion::{ExactAggregate, Variance};
    ///
    /// let var_pop = AggregateUDF::from(ExactAggregate::new(Variance::Population));
    /// assert_eq!(var_pop.name(), "exact_var_pop");
    /// ```
    pub fn new(statistic: T) -> Self {
        ExactAggregate {
            statistic,
            // User-defined, so that `coerce_types` can reject every
            // non-numeric type with a message that says what to do.
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: statistic.aliases().iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The statistic this aggregate computes.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::datafusion::{ExactAggregate, Sum};
    /// assert_eq!(ExactAggregate::new(Sum).statistic(), Sum);
    /// ```
    pub fn statistic(&self) -> T {
        self.statistic
    }
}

impl<T: Statistic + Default> Default for ExactAggregate<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// Converts a mapmean error (such as corrupt state bytes) for DataFusion.
/// The type of the aggregate's one argument (after `coerce_types`).
fn input_type(args: &AccumulatorArgs) -> DataType {
    args.expr_fields
        .first()
        .map_or(DataType::Float32, |f| f.data_type().clone())
}

pub(crate) fn external(error: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl<T: Statistic> AggregateUDFImpl for ExactAggregate<T> {
    fn name(&self) -> &str {
        self.statistic.name()
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        match arg_types {
            [t] if crate::kernel::is_numeric(t) => Ok(vec![t.clone()]),
            [DataType::Dictionary(_, value)] if crate::kernel::is_numeric(value) => {
                Ok(vec![value.as_ref().clone()])
            }
            [other] => plan_err!(
                "{name} takes a numeric column (REAL, DOUBLE, TINYINT ... BIGINT, \
                 their UNSIGNED forms, or Float16), got {other}; CAST it to one of those first"
            ),
            _ => plan_err!(
                "{name} takes exactly one numeric argument, got {}",
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if crate::kernel::is_numeric(t) => Ok(self.statistic.registry().0.output_type(t)),
            _ => plan_err!(
                "{} takes one numeric argument, got {arg_types:?}",
                self.name()
            ),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // DataFusion leaves DISTINCT to the aggregate; a result over all
        // values returned for `exact_mean(DISTINCT x)` would be a wrong answer.
        if args.is_distinct {
            return not_impl_err!("{}(DISTINCT ...) is not supported", self.name());
        }
        match input_type(&args) {
            DataType::Float32 => Ok(Box::new(ExactAccumulator::new(self.statistic))),
            other => {
                let (statistic, options) = self.statistic.registry();
                Ok(Box::new(ExactStateAccumulator::new(
                    &other, statistic, options,
                )?))
            }
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // Every accumulator, of every input type, writes one state per row:
        // its `ExactState::to_bytes` (the 96- or 176-byte version-1 form for
        // Float32, version 2 otherwise).
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "exact_state"),
            DataType::Binary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        // Every numeric type keeps flat per-group states in the grouped core.
        !args.is_distinct && crate::kernel::is_numeric(&input_type(&args))
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ExactGroupsAccumulator::for_input(
            self.statistic,
            &input_type(&args),
        )?))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}
