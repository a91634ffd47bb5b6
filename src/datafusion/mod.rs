//! `exact_mean`: mapmean's exact mean as a DataFusion aggregate function
//! (cargo feature `datafusion`).
//!
//! SQL `exact_mean(x)` over a Float32 column returns a Float64: the mean of
//! the valid values, correctly rounded, with the null, NaN and infinity rules
//! of [`MeanState::finish`](crate::MeanState::finish) (those of
//! `pyarrow.compute.mean`): null when a group has no valid value, NaN when a
//! value is NaN or both infinities occur, `±inf` for infinities of one sign.
//!
//! Every accumulator keeps one [`MeanState`](crate::MeanState) per group. The
//! partial state that crosses partitions (DataFusion's multi-phase
//! aggregation) is one Binary column holding the state's byte form
//! ([`MeanState::to_bytes`](crate::MeanState::to_bytes)); states are exact
//! integers, so the result is bitwise the same for any `target_partitions`,
//! batch size or row order.
//!
//! - [`accumulator`]: the one-group [`Accumulator`];
//! - [`groups`]: the [`GroupsAccumulator`]
//!   that `GROUP BY` uses, with per-group states in one flat vector.
//!
//! Only Float32 input is accepted: any other type (Float64, Float16,
//! integers) is an error at planning time. The exactness is that of the
//! Float32 values; cast explicitly (`CAST(x AS REAL)`) if rounding another
//! type to Float32 first is what you want.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! mapmean::datafusion::register(&ctx);
//! let batches = ctx
//!     .sql("SELECT exact_mean(CAST(x AS REAL)) FROM (VALUES (3e37), (0.75), (-3e37)) AS t(x)")
//!     .await?
//!     .collect()
//!     .await?;
//! let means = batches[0].column(0).as_any().downcast_ref::<arrow_array::Float64Array>();
//! assert_eq!(means.map(|m| m.value(0)), Some(0.25)); // a float sum says 0.0
//! # Ok(())
//! # }
//! ```

pub mod accumulator;
pub mod groups;

use std::sync::Arc;

use ::datafusion::common::{not_impl_err, plan_err, DataFusionError, Result};
use ::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use ::datafusion::logical_expr::utils::format_state_name;
use ::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, ReversedUDAF, Signature,
    Volatility,
};
use ::datafusion::prelude::SessionContext;
use arrow_schema::{DataType, Field, FieldRef};
use datafusion_ffi::udaf::FFI_AggregateUDF;

pub use accumulator::ExactMeanAccumulator;
pub use groups::ExactMeanGroupsAccumulator;

/// The SQL name of the aggregate.
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
    AggregateUDF::from(ExactMean::new())
}

/// Registers [`exact_mean`] on `ctx`, so SQL can call `exact_mean(x)`.
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
/// ```
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(exact_mean());
}

/// [`exact_mean`] in the ABI-stable form of `datafusion-ffi` 55, for a
/// DataFusion built apart from this crate: another shared library, or
/// datafusion-python, whose `AggregateUDF.from_pycapsule` imports it from a
/// PyCapsule named `datafusion_aggregate_udf` (what the `mapmean-datafusion`
/// Python wheel hands over).
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

/// The implementation behind [`exact_mean`]: signature, types and
/// accumulators.
///
/// # Example
///
/// ```
/// use datafusion::logical_expr::AggregateUDFImpl;
/// use mapmean::datafusion::ExactMean;
///
/// assert_eq!(ExactMean::new().name(), "exact_mean");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExactMean {
    signature: Signature,
}

impl ExactMean {
    /// A new `exact_mean` implementation.
    pub fn new() -> Self {
        ExactMean {
            // User-defined, so that `coerce_types` can reject every type but
            // Float32 with a message that says what to do.
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ExactMean {
    fn default() -> Self {
        Self::new()
    }
}

/// Converts a mapmean error (such as corrupt state bytes) for DataFusion.
pub(crate) fn external(error: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl AggregateUDFImpl for ExactMean {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Float32] => Ok(vec![DataType::Float32]),
            [other] => plan_err!(
                "{NAME} takes a Float32 (REAL) column, got {other}; \
                 mapmean computes exact means of Float32 values only \
                 (CAST(x AS REAL) first if rounding to Float32 is intended)"
            ),
            _ => plan_err!(
                "{NAME} takes exactly one Float32 argument, got {}",
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Float32] => Ok(DataType::Float64),
            _ => plan_err!("{NAME} takes one Float32 argument, got {arg_types:?}"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // DataFusion leaves DISTINCT to the aggregate; a mean over all values
        // returned for `exact_mean(DISTINCT x)` would be a wrong answer.
        if args.is_distinct {
            return not_impl_err!("{NAME}(DISTINCT ...) is not supported");
        }
        Ok(Box::new(ExactMeanAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "mean_state"),
            DataType::Binary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ExactMeanGroupsAccumulator::default()))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}
