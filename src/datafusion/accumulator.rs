//! The one-group accumulator: one [`GroupState`] fed whole arrays through
//! the block kernel.
//!
//! DataFusion uses it for aggregates without `GROUP BY` (and wherever a
//! [`GroupsAccumulator`](::datafusion::logical_expr::GroupsAccumulator) is not
//! used, such as window frames).

use std::mem::size_of_val;

use ::datafusion::common::{exec_err, Result, ScalarValue};
use ::datafusion::logical_expr::Accumulator;
use arrow_array::{Array, ArrayRef, BinaryArray, Float32Array};

use super::external;
use super::statistic::sealed::State;
use super::statistic::{GroupState, Mean, Statistic};

/// The [`Accumulator`] of an exact aggregate: one state of the
/// [`Statistic`] `T` ([`MeanState`](crate::MeanState) or
/// [`MomentsState`](crate::MomentsState)).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array};
/// use datafusion::common::ScalarValue;
/// use datafusion::logical_expr::Accumulator;
/// use mapmean::datafusion::{ExactAccumulator, Variance};
///
/// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(3e7 + 2.0), None, Some(3e7 + 4.0)]));
/// let mut acc = ExactAccumulator::new(Variance::Sample);
/// acc.update_batch(&[values])?;
/// assert_eq!(acc.evaluate()?, ScalarValue::Float64(Some(2.0)));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExactAccumulator<T: Statistic> {
    statistic: T,
    state: T::State,
}

/// The [`Accumulator`] of `exact_mean`: one [`MeanState`](crate::MeanState).
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
pub type ExactMeanAccumulator = ExactAccumulator<Mean>;

impl<T: Statistic> ExactAccumulator<T> {
    /// An accumulator of `statistic` with an empty state.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::datafusion::{ExactAccumulator, Sum};
    /// use mapmean::MeanState;
    /// assert_eq!(ExactAccumulator::new(Sum).group_state(), &MeanState::default());
    /// ```
    pub fn new(statistic: T) -> Self {
        ExactAccumulator {
            statistic,
            state: T::State::default(),
        }
    }

    /// The state accumulated so far.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Float32Array};
    /// use datafusion::logical_expr::Accumulator;
    /// use mapmean::datafusion::{ExactAccumulator, Stddev};
    ///
    /// let mut acc = ExactAccumulator::new(Stddev::Sample);
    /// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(1.0), None]));
    /// acc.update_batch(&[values])?;
    /// assert_eq!((acc.group_state().mean.count, acc.group_state().mean.null_count), (1, 1));
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn group_state(&self) -> &T::State {
        &self.state
    }
}

/// The Float32 argument of an update, or an error naming the type found
/// (planning admits only Float32, so this is a guard, not a path).
pub(crate) fn float32_argument<'a>(name: &str, values: &'a [ArrayRef]) -> Result<&'a Float32Array> {
    match values {
        [array] => match array.as_any().downcast_ref::<Float32Array>() {
            Some(values) => Ok(values),
            None => exec_err!("{name} takes a Float32 column, got {}", array.data_type()),
        },
        _ => exec_err!("{name} takes one argument, got {}", values.len()),
    }
}

/// The Binary state column of a merge, or an error naming the type found.
pub(crate) fn state_argument<'a, S: GroupState>(
    name: &str,
    states: &'a [ArrayRef],
) -> Result<&'a BinaryArray> {
    match states {
        [array] => match array.as_any().downcast_ref::<BinaryArray>() {
            Some(states) => Ok(states),
            None => exec_err!(
                "{name}: the partial state must be a Binary column of {} bytes, got {}",
                S::NAME,
                array.data_type()
            ),
        },
        _ => exec_err!(
            "{name}: the partial state is one column, got {}",
            states.len()
        ),
    }
}

impl<T: Statistic> Accumulator for ExactAccumulator<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = float32_argument(self.statistic.name(), values)?;
        self.state.update(values).map_err(external)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.statistic.finish(&self.state)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let bytes = State::to_bytes(&self.state);
        Ok(vec![ScalarValue::Binary(Some(bytes.as_ref().to_vec()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = state_argument::<T::State>(self.statistic.name(), states)?;
        for bytes in states.iter().flatten() {
            self.state.merge_bytes(bytes).map_err(external)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::datafusion::{Stddev, Sum, Variance};

    fn array(values: Vec<Option<f32>>) -> ArrayRef {
        Arc::new(Float32Array::from(values))
    }

    fn merged_equals_one_pass<T: Statistic>(statistic: T) -> Result<()> {
        let data = vec![Some(3e37), Some(0.75), None, Some(-3e37), Some(1e-45)];
        let mut whole = ExactAccumulator::new(statistic);
        whole.update_batch(&[array(data.clone())])?;

        let mut merged = ExactAccumulator::new(statistic);
        for part in data.chunks(2) {
            let mut partial = ExactAccumulator::new(statistic);
            partial.update_batch(&[array(part.to_vec())])?;
            let state = partial.state()?.remove(0).to_array()?;
            merged.merge_batch(&[state])?;
        }
        assert_eq!(merged.group_state(), whole.group_state());
        assert_eq!(merged.evaluate()?, whole.evaluate()?);
        Ok(())
    }

    #[test]
    fn merging_partial_states_equals_one_pass() -> Result<()> {
        merged_equals_one_pass(Mean)?;
        merged_equals_one_pass(Sum)?;
        merged_equals_one_pass(Variance::Sample)?;
        merged_equals_one_pass(Stddev::Population)
    }

    #[test]
    fn the_partial_state_is_the_byte_form_of_the_statistic_s_state() -> Result<()> {
        let mut acc = ExactAccumulator::new(Variance::Population);
        acc.update_batch(&[array(vec![Some(1.0), Some(3.0)])])?;
        let state = acc.state()?;
        assert_eq!(
            state,
            vec![ScalarValue::Binary(Some(
                acc.group_state().to_bytes().to_vec()
            ))]
        );
        match &state[0] {
            ScalarValue::Binary(Some(bytes)) => assert_eq!(bytes.len(), crate::MomentsState::BYTES),
            other => panic!("not a binary state: {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn all_null_input_gives_null() -> Result<()> {
        for mut acc in [
            Box::new(ExactMeanAccumulator::default()) as Box<dyn Accumulator>,
            Box::new(ExactAccumulator::new(Sum)),
            Box::new(ExactAccumulator::new(Variance::Population)),
            Box::new(ExactAccumulator::new(Stddev::Sample)),
        ] {
            acc.update_batch(&[array(vec![None, None])])?;
            assert_eq!(acc.evaluate()?, ScalarValue::Float64(None));
        }
        Ok(())
    }

    #[test]
    fn one_value_has_a_population_variance_but_no_sample_variance() -> Result<()> {
        let mut sample = ExactAccumulator::new(Variance::Sample);
        let mut population = ExactAccumulator::new(Variance::Population);
        sample.update_batch(&[array(vec![Some(5.0), None])])?;
        population.update_batch(&[array(vec![Some(5.0), None])])?;
        assert_eq!(sample.evaluate()?, ScalarValue::Float64(None));
        assert_eq!(population.evaluate()?, ScalarValue::Float64(Some(0.0)));
        Ok(())
    }

    #[test]
    fn wrong_argument_type_is_an_error_not_a_panic() {
        let mut acc = ExactAccumulator::new(Stddev::Sample);
        let values: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0]));
        let err = acc.update_batch(&[values]).unwrap_err().to_string();
        assert!(
            err.contains("exact_stddev") && err.contains("Float32") && err.contains("Float64"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_or_foreign_state_bytes_are_an_error() -> Result<()> {
        let mut acc = ExactAccumulator::new(Variance::Sample);
        let states: ArrayRef = Arc::new(BinaryArray::from(vec![&b"not a state"[..]]));
        assert!(acc.merge_batch(&[states]).is_err());

        // A mean state's bytes lack the sum of squares: refused, not misread.
        let mut mean = ExactMeanAccumulator::default();
        mean.update_batch(&[array(vec![Some(1.0)])])?;
        let mean_state = mean.state()?.remove(0).to_array()?;
        let err = acc.merge_batch(&[mean_state]).unwrap_err().to_string();
        assert!(err.contains("mean state"), "{err}");

        // A moments state with a sum but no squares breaks Cauchy–Schwarz.
        let mut forged = crate::MomentsState::default();
        forged.update_values(&[1.0, 3.0], None).map_err(external)?;
        forged.squares = Default::default();
        let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![&forged.to_bytes()[..]]));
        assert!(acc.merge_batch(&[bytes]).is_err());
        assert_eq!(acc.group_state(), &crate::MomentsState::default());
        Ok(())
    }
}
