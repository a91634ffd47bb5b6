//! The one-group accumulator of `exact_mean`: a [`MeanState`] fed whole
//! arrays through the block kernel.
//!
//! DataFusion uses it for aggregates without `GROUP BY` (and wherever a
//! [`GroupsAccumulator`](::datafusion::logical_expr::GroupsAccumulator) is not
//! used, such as window frames).

use std::mem::size_of_val;

use ::datafusion::common::{exec_err, Result, ScalarValue};
use ::datafusion::logical_expr::Accumulator;
use arrow_array::{Array, ArrayRef, BinaryArray, Float32Array};

use super::{external, NAME};
use crate::MeanState;

/// The [`Accumulator`] of `exact_mean`: one [`MeanState`].
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array};
/// use datafusion::common::ScalarValue;
/// use datafusion::logical_expr::Accumulator;
/// use mapmean::datafusion::ExactMeanAccumulator;
///
/// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(3e37), None, Some(0.75), Some(-3e37)]));
/// let mut acc = ExactMeanAccumulator::default();
/// acc.update_batch(&[values])?;
/// assert_eq!(acc.evaluate()?, ScalarValue::Float64(Some(0.25)));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExactMeanAccumulator {
    state: MeanState,
}

impl ExactMeanAccumulator {
    /// The state accumulated so far.
    pub fn mean_state(&self) -> &MeanState {
        &self.state
    }
}

/// The Float32 argument of an update, or an error naming the type found
/// (planning admits only Float32, so this is a guard, not a path).
pub(crate) fn float32_argument(values: &[ArrayRef]) -> Result<&Float32Array> {
    match values {
        [array] => match array.as_any().downcast_ref::<Float32Array>() {
            Some(values) => Ok(values),
            None => exec_err!("{NAME} takes a Float32 column, got {}", array.data_type()),
        },
        _ => exec_err!("{NAME} takes one argument, got {}", values.len()),
    }
}

/// The Binary state column of a merge, or an error naming the type found.
pub(crate) fn state_argument(states: &[ArrayRef]) -> Result<&BinaryArray> {
    match states {
        [array] => match array.as_any().downcast_ref::<BinaryArray>() {
            Some(states) => Ok(states),
            None => exec_err!(
                "{NAME}: the partial state must be a Binary column of MeanState bytes, got {}",
                array.data_type()
            ),
        },
        _ => exec_err!(
            "{NAME}: the partial state is one column, got {}",
            states.len()
        ),
    }
}

/// Merges the state in `bytes` into `state`.
pub(crate) fn merge_bytes(state: &mut MeanState, bytes: &[u8]) -> Result<()> {
    let other = MeanState::from_bytes(bytes).map_err(external)?;
    state.merge(&other).map_err(external)
}

impl Accumulator for ExactMeanAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.state
            .update(float32_argument(values)?)
            .map_err(external)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.state.finish()))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(
            self.state.to_bytes().to_vec(),
        ))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = state_argument(states)?;
        for bytes in states.iter().flatten() {
            merge_bytes(&mut self.state, bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn array(values: Vec<Option<f32>>) -> ArrayRef {
        Arc::new(Float32Array::from(values))
    }

    #[test]
    fn merging_partial_states_equals_one_pass() -> Result<()> {
        let data = vec![Some(3e37), Some(0.75), None, Some(-3e37), Some(1e-45)];
        let mut whole = ExactMeanAccumulator::default();
        whole.update_batch(&[array(data.clone())])?;

        let mut merged = ExactMeanAccumulator::default();
        for part in data.chunks(2) {
            let mut partial = ExactMeanAccumulator::default();
            partial.update_batch(&[array(part.to_vec())])?;
            let state = partial.state()?.remove(0).to_array()?;
            merged.merge_batch(&[state])?;
        }
        assert_eq!(merged, whole);
        assert_eq!(merged.evaluate()?, whole.evaluate()?);
        Ok(())
    }

    #[test]
    fn all_null_input_gives_null() -> Result<()> {
        let mut acc = ExactMeanAccumulator::default();
        acc.update_batch(&[array(vec![None, None])])?;
        assert_eq!(acc.evaluate()?, ScalarValue::Float64(None));
        Ok(())
    }

    #[test]
    fn wrong_argument_type_is_an_error_not_a_panic() {
        let mut acc = ExactMeanAccumulator::default();
        let values: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0]));
        let err = acc.update_batch(&[values]).unwrap_err().to_string();
        assert!(err.contains("Float32") && err.contains("Float64"), "{err}");
    }

    #[test]
    fn corrupt_state_bytes_are_an_error() {
        let mut acc = ExactMeanAccumulator::default();
        let states: ArrayRef = Arc::new(BinaryArray::from(vec![&b"not a state"[..]]));
        assert!(acc.merge_batch(&[states]).is_err());
    }
}
