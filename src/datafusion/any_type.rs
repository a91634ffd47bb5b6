//! The one-group accumulator of every numeric input type but Float32: one
//! [`ExactState`] fed whole arrays through the engine's type dispatch, and
//! finished by the registry ([`Statistic::finish`]). DataFusion uses it
//! without `GROUP BY` (and wherever no `GroupsAccumulator` is used, such as
//! window frames); Float32 input there keeps the block kernel's
//! [`ExactAccumulator`](super::ExactAccumulator). `GROUP BY` of every type
//! goes through [`ExactGroupsAccumulator`](super::ExactGroupsAccumulator),
//! whose groups finish to the same bits as one of these per group would.

use ::datafusion::common::{exec_err, Result, ScalarValue};
use ::datafusion::logical_expr::Accumulator;
use arrow_array::{Array, ArrayRef, BinaryArray};
use arrow_schema::DataType;

use super::external;
use crate::engine::accumulate_dyn;
use crate::kernel::{ExactState, Statistic, StatisticOptions, Value};

/// An exact aggregate over one numeric column of any type.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array};
/// use arrow_schema::DataType;
/// use datafusion::logical_expr::Accumulator;
/// use mapmean::datafusion::ExactStateAccumulator;
/// use mapmean::kernel::{Statistic, StatisticOptions};
///
/// let options = StatisticOptions::for_statistic(Statistic::Mean);
/// let mut acc = ExactStateAccumulator::new(&DataType::Int64, Statistic::Mean, options)?;
/// acc.update_batch(&[Arc::new(Int64Array::from(vec![1 << 62, 1 << 62])) as ArrayRef])?;
/// assert_eq!(acc.evaluate()?, datafusion::common::ScalarValue::Float64(Some(2f64.powi(62))));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExactStateAccumulator {
    statistic: Statistic,
    options: StatisticOptions,
    state: ExactState,
}

impl ExactStateAccumulator {
    /// An empty accumulator of `statistic` over values of `input`.
    ///
    /// # Errors
    ///
    /// A planning error if `input` is not numeric.
    pub fn new(input: &DataType, statistic: Statistic, options: StatisticOptions) -> Result<Self> {
        let parts = statistic.needs();
        Ok(ExactStateAccumulator {
            statistic,
            options,
            state: ExactState::new(input, parts).map_err(external)?,
        })
    }

    /// The state so far.
    pub fn state_so_far(&self) -> &ExactState {
        &self.state
    }
}

/// A finished value as DataFusion's scalar of `data_type`.
pub(crate) fn scalar(value: Value, data_type: &DataType) -> ScalarValue {
    match (value, data_type) {
        (Value::Float(x), _) => ScalarValue::Float64(Some(x)),
        (Value::Signed(x), _) => ScalarValue::Int64(Some(x)),
        (Value::Unsigned(x), _) => ScalarValue::UInt64(Some(x)),
        (Value::Null, DataType::Int64) => ScalarValue::Int64(None),
        (Value::Null, DataType::UInt64) => ScalarValue::UInt64(None),
        (Value::Null, _) => ScalarValue::Float64(None),
    }
}

impl Accumulator for ExactStateAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [array] = values else {
            return exec_err!(
                "{} takes one argument, got {}",
                self.statistic.name(),
                values.len()
            );
        };
        let part = accumulate_dyn(&self.state.empty_like(), &[array.as_ref()], Some(1))
            .map_err(external)?;
        self.state.merge(&part).map_err(external)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let value = self
            .statistic
            .finish(&self.state, &self.options)
            .map_err(external)?;
        Ok(scalar(
            value,
            &self.statistic.output_type(self.state.input_type()),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.state.to_bytes().len()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.state.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [array] = states else {
            return exec_err!(
                "{}: the partial state is one column, got {}",
                self.statistic.name(),
                states.len()
            );
        };
        let Some(states) = array.as_any().downcast_ref::<BinaryArray>() else {
            return exec_err!(
                "{}: the partial state must be Binary, got {}",
                self.statistic.name(),
                array.data_type()
            );
        };
        for bytes in states.iter().flatten() {
            let other = ExactState::from_bytes(bytes).map_err(external)?;
            self.state.merge(&other).map_err(external)?;
        }
        Ok(())
    }
}
